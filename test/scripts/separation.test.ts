/**
 * scripts/lib/separation.ts, which the demo uses to show that the gateway's folder holds no
 * institution key: keystores in a folder, named by what the registry says their keys are.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { writeOperatorKeystore } from "../../core/keys.js";
import { keyHolding } from "../../scripts/lib/separation.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../helpers/chain.js";

describe("key holding (scripts/lib/separation.ts)", function () {
  this.timeout(120_000);

  let chain: LocalChain;
  let s: Scenario;
  let dir: string;

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { payers: 1 });
  });
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-keys-"));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });
  after(async function () {
    await chain?.close();
  });

  const holding = () => keyHolding(dir, chain.provider, s.deployment, s.institutions[0]!.address);

  it("flags an institution's operator key, a custodian key or the reserve attestor's key in the folder, and key sections of its config", async function () {
    const custodianKey = Wallet.createRandom();
    await (await s.contracts.registry.connect(s.admin).setCustodianKey(s.institutions[0]!.address, custodianKey.address)).wait();
    await writeOperatorKeystore(join(dir, "operator.json"), s.institutions[1]!.privateKey, "pw", true);
    await writeOperatorKeystore(join(dir, "custodian.json"), custodianKey.privateKey, "pw", true);
    await writeOperatorKeystore(join(dir, "statements.json"), s.reserveAttestor.privateKey, "pw", true);
    await writeFile(join(dir, "gateway.json"), JSON.stringify({ port: 1, custodian: { keyFile: "custodian.json" }, permitRelayer: { keyFile: "relayer.json" } }));
    const held = await holding();
    expect(held.forbidden.map((k) => [k.file, k.role])).to.have.deep.members([
      ["operator.json", "institution operator key"],
      ["custodian.json", `custodian key of ${s.institutions[0]!.address}`],
      ["statements.json", "reserve attestor"],
    ]);
    expect(held.configuredKeys).to.deep.equal(["custodian"]);
  });

  it("accepts keys with no role (the permit relayer's) and a config naming only those and a TLS certificate", async function () {
    await writeOperatorKeystore(join(dir, "relayer.json"), Wallet.createRandom().privateKey, "pw", true);
    await writeFile(join(dir, "gateway.json"), JSON.stringify({ port: 1, permitRelayer: { keyFile: "relayer.json" }, tls: { certFile: "tls/cert.pem", keyFile: "tls/key.pem" } }));
    const held = await holding();
    expect(held.forbidden).to.deep.equal([]);
    expect(held.configuredKeys).to.deep.equal([]);
    expect(held.gatewayKeys.map((k) => [k.file, k.role])).to.deep.equal([["relayer.json", "no role"]]);
    // The opening reserves were stated by the attestor, not by an institution.
    expect(held.reserves).to.deep.include({ attestor: s.reserveAttestor.address, attestorIsInstitution: false, attestedBy: s.reserveAttestor.address });
  });
});

/**
 * The operator commands (`settlenet keys|deploy|fund|institution|regulator|arbiter|custodian|merchant|
 * customer|reserves|node id …`) run as an operator runs them, each in its own process against a chain
 * served over JSON-RPC: bad input is refused naming the option, a change prints its transaction and
 * outcome, and running a command again changes nothing. Then the start-up checks of a node and the
 * gateway: a deployment for another chain id, a contract missing, an unregistered key — one coded line
 * on stderr and a non-zero exit each.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Contract, Wallet, keccak256, toUtf8Bytes } from "ethers";

import { writeOperatorKeystore } from "../../core/keys.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { GatewayConfigInput } from "../../gateway/config.js";
import type { NodeConfigInput } from "../../node/config.js";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { startChain, devWallet, type LocalChain } from "../helpers/chain.js";
import { runCli, type CliRun } from "../helpers/cli.js";
import { freePort } from "../helpers/network.js";

const PASSWORD = "operator-test-password";
/** "<summary>: tx 0x… mined in block N (success, gas G)" */
const MINED = /: tx 0x[0-9a-f]{64} mined in block \d+ \(success, gas \d+\)$/;
const UNCHANGED = /: already done, nothing changed$/;

/** The last line a failed command wrote to stderr, and that it is the only one. */
function oneLineError(run: CliRun): string {
  expect(run.code, `exit code; stdout ${run.stdout}`).to.not.equal(0);
  const lines = run.stderr.trim().split("\n");
  expect(lines, run.stderr).to.have.length(1);
  return lines[0] ?? "";
}

describe("operator commands against a JSON-RPC chain", function () {
  // Each command is a process of its own (tsx start-up included), as an operator runs it.
  this.timeout(600_000);
  let chain: LocalChain;
  let dir: string;
  let chainArgs: string[];
  const env = { SETTLENET_KEY_PASSWORD: PASSWORD, GOVERNANCE_PRIVATE_KEY: devWallet(0).privateKey, BANK_PRIVATE_KEY: devWallet(1).privateKey };
  const bank = devWallet(1).address;
  const newcomer = Wallet.createRandom();
  let bankPeerId: string;

  /** Runs a command that must succeed; returns its single stdout line. */
  async function ok(args: string[]): Promise<string> {
    const run = await runCli(args, env);
    expect(run.code, `settlenet ${args.join(" ")}: ${run.stderr}`).to.equal(0);
    return run.stdout.trim();
  }

  /** Runs a changing command twice: a transaction mined the first time, nothing the second. */
  async function twice(args: string[]): Promise<string> {
    const first = await ok(args);
    expect(first, `settlenet ${args.join(" ")}`).to.match(MINED);
    expect(await ok(args), `settlenet ${args.join(" ")} again`).to.match(UNCHANGED);
    return first;
  }

  /** A node's configuration on ports it binds itself (port 0). */
  function nodeConfig(keyFile: string, deploymentFile: string): NodeConfigInput {
    return {
      role: "institution",
      keyFile,
      peerKeyFile: `${keyFile}.peer`,
      listen: ["/ip4/127.0.0.1/tcp/0"],
      rpcUrl: chain.url,
      deploymentFile,
      dataDir: `${keyFile}.data`,
      api: { host: "127.0.0.1", port: 0 },
      logLevel: "warn",
    };
  }

  before(async function () {
    chain = await startChain();
    dir = await mkdtemp(join(tmpdir(), "settlenet-operator-"));
    chainArgs = ["--rpc", chain.url, "--deployment", join(dir, "deployment.json")];
  });
  after(async function () {
    await chain?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("creates keystores from an imported key, and keeps an existing one", async function () {
    expect(await ok(["keys", "create", "--out", join(dir, "governance.json"), "--import-env", "GOVERNANCE_PRIVATE_KEY"])).to.equal(`wrote ${join(dir, "governance.json")}: the encrypted key of ${devWallet(0).address}`);
    expect(await ok(["keys", "create", "--out", join(dir, "governance.json"), "--import-env", "GOVERNANCE_PRIVATE_KEY"])).to.match(/already exists, nothing changed$/);
    await ok(["keys", "create", "--out", join(dir, "bank.json"), "--import-env", "BANK_PRIVATE_KEY"]);
    await ok(["keys", "create", "--out", join(dir, "newcomer.json")]);
    expect(await ok(["keys", "address", "--key", join(dir, "bank.json")])).to.equal(bank);
    const refused = oneLineError(await runCli(["keys", "create", "--out", join(dir, "x.json"), "--import-env", "NOT_A_KEY"], { NOT_A_KEY: "0x1234" }));
    expect(refused).to.match(/^settlenet: INVALID_ARGUMENT: environment variable NOT_A_KEY must hold a private key/);
  });

  it("deploys once and recognises its deployment afterwards", async function () {
    const args = ["deploy", "--rpc", chain.url, "--key", join(dir, "governance.json"), "--out", join(dir, "deployment.json")];
    expect(await ok(args)).to.match(/^deployed Settlenet on chain 31337 in blocks \d+-\d+ \(registry 0x/);
    expect(await ok(args)).to.match(/^Settlenet is deployed on chain 31337 .*: already done, nothing changed$/);
    // The commands from here on read the same keys at the tests' scrypt cost: each command decrypts its
    // key, about half a second of CPU at the cost `keys create` uses (read above: keys and deploy).
    await writeOperatorKeystore(join(dir, "governance-test.json"), devWallet(0).privateKey, PASSWORD, true);
    await writeOperatorKeystore(join(dir, "bank-test.json"), devWallet(1).privateKey, PASSWORD, true);
  });

  it("prints an unregistered node's address and peer id, which it keeps", async function () {
    await writeFile(join(dir, "bank-node.json"), JSON.stringify(nodeConfig("bank.json", "deployment.json")));
    const first = JSON.parse(await ok(["node", "id", "--config", join(dir, "bank-node.json"), "--json"])) as { address: string; peerId: string; peerKeyCreated: boolean };
    expect(first.address).to.equal(bank);
    expect(first.peerId).to.match(/^12D3KooW/);
    expect(first.peerKeyCreated).to.equal(true);
    const again = JSON.parse(await ok(["node", "id", "--config", join(dir, "bank-node.json"), "--json"])) as typeof first;
    expect(again).to.deep.include({ peerId: first.peerId, peerKeyCreated: false });
    bankPeerId = first.peerId;
  });

  it("refuses bad input naming each bad option, before sending anything", async function () {
    const before = await chain.provider.getBlockNumber();
    const line = oneLineError(await runCli(["institution", "register", ...chainArgs, "--key", join(dir, "governance.json"), "--address", "0x12", "--peer-id", "nope", "--name", "Bank"], env));
    expect(line).to.match(/^settlenet: INVALID_ARGUMENT: /);
    expect(line).to.contain("--address: expected a 0x-prefixed 20-byte address");
    expect(line).to.contain("--peer-id: expected a libp2p peer id");
    expect(oneLineError(await runCli(["merchant", "register", ...chainArgs, "--key", join(dir, "bank.json"), "--address", newcomer.address, "--kyc-level", "300", "--fee-bps=-1", "--payout-account", "X"], env))).to.match(
      /INVALID_ARGUMENT: --kyc-level: .*; --fee-bps: /,
    );
    expect(oneLineError(await runCli(["institution", "register", "--key", join(dir, "governance.json"), "--address", bank, "--peer-id", peerIdFromPrivateKey(await generateKeyPair("Ed25519")).toString(), "--name", "Bank"], env))).to.match(/^settlenet: USAGE: missing --rpc, --deployment; usage: settlenet institution register/);
    expect(await chain.provider.getBlockNumber()).to.equal(before);
  });

  it("onboards an institution and its accounts, each command safe to run again", async function () {
    const gov = [...chainArgs, "--key", join(dir, "governance-test.json")];
    const asBank = [...chainArgs, "--key", join(dir, "bank-test.json")];
    expect(await twice(["fund", ...gov, "--to", newcomer.address, "--minimum", "1.5"])).to.match(/^sent 1.5 to /);
    await twice(["institution", "register", ...gov, "--address", bank, "--peer-id", bankPeerId, "--name", "Bank One"]);
    const regulator = Wallet.createRandom();
    await twice(["regulator", "register", ...gov, "--address", regulator.address, "--peer-id", peerIdFromPrivateKey(await generateKeyPair("Ed25519")).toString(), "--name", "Regulator"]);
    await twice(["arbiter", "add", ...gov, "--address", devWallet(11).address]);
    await twice(["custodian", "set", ...gov, "--institution", bank]);
    const merchant = Wallet.createRandom();
    await twice(["merchant", "register", ...asBank, "--address", merchant.address, "--kyc-level", "2", "--fee-bps", "100", "--payout-account", "ICBC 0001"]);
    await twice(["customer", "register", ...asBank, "--address", newcomer.address, "--kyc-level", "1"]);
    // The custodian's reserves are stated by an independent attestor that governance names, never by the custodian.
    await ok(["keys", "create", "--out", join(dir, "auditor.json")]);
    const auditor = await ok(["keys", "address", "--key", join(dir, "auditor.json")]);
    await twice(["fund", ...gov, "--to", auditor, "--minimum", "1"]);
    await twice(["reserves", "attestor", ...gov, "--institution", bank, "--attestor", auditor]);
    const statement = ["--institution", bank, "--amount", "500000", "--statement-hash", keccak256(toUtf8Bytes("statement 1"))];
    expect(oneLineError(await runCli(["reserves", "attest", ...asBank, ...statement], env))).to.match(/^settlenet: NOT_RESERVE_ATTESTOR: /);
    await twice(["reserves", "attest", ...chainArgs, "--key", join(dir, "auditor.json"), ...statement]);
    // A custodian key of its own, then the operator key again.
    const custodianKey = Wallet.createRandom().address;
    await twice(["custodian", "key", ...gov, "--institution", bank, "--custodian-key", custodianKey]);
    await twice(["custodian", "key", ...gov, "--institution", bank, "--custodian-key", "none"]);
    await twice(["institution", "suspend", ...gov, "--address", bank]);
    await twice(["institution", "reactivate", ...gov, "--address", bank]);

    const deployment = JSON.parse(await readFile(join(dir, "deployment.json"), "utf8")) as { contracts: { registry: string } };
    const registry = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, chain.provider);
    expect(await registry.getFunction("operatorOfPeer")(bankPeerId)).to.equal(bank);
    expect(await registry.getFunction("isActiveInstitution")(bank)).to.equal(true);
    expect(await registry.getFunction("payoutAccountOf")(merchant.address)).to.equal(keccak256(toUtf8Bytes("ICBC 0001")));
    const shown = JSON.parse(await ok(["reserves", "show", ...chainArgs, "--json"])) as { custodians: { institution: string; reserves: string; covered: boolean }[] };
    expect(shown.custodians).to.deep.include.members([{ ...shown.custodians[0], institution: bank, reserves: "500000", covered: true }]);
  });

  it("a node refuses a deployment for another chain id, in one line", async function () {
    const deployment = JSON.parse(await readFile(join(dir, "deployment.json"), "utf8")) as { chainId: string };
    await writeFile(join(dir, "other-chain.json"), JSON.stringify({ ...deployment, chainId: "4242" }));
    await writeFile(join(dir, "node-other-chain.json"), JSON.stringify(nodeConfig("bank-test.json", "other-chain.json")));
    const line = oneLineError(await runCli(["node", "start", "--config", join(dir, "node-other-chain.json")], env));
    expect(line).to.equal(`settlenet: CHAIN_ID_MISMATCH: the JSON-RPC at ${chain.url} serves chain 31337 but the deployment file ${join(dir, "other-chain.json")} is for chain 4242`);
  });

  it("a node refuses a chain it cannot reach, in one line", async function () {
    // A port nothing listens on: the chain it names is unreachable.
    const closed = await freePort();
    await writeFile(join(dir, "node-unreachable.json"), JSON.stringify({ ...nodeConfig("bank-test.json", "deployment.json"), rpcUrl: `http://127.0.0.1:${closed}` }));
    expect(oneLineError(await runCli(["node", "start", "--config", join(dir, "node-unreachable.json")], env))).to.match(new RegExp(`^settlenet: CHAIN_UNREACHABLE: cannot reach the chain's JSON-RPC at http://127\\.0\\.0\\.1:${closed}: `));
  });

  it("a node and the gateway refuse a deployment whose contract has no code, in one line", async function () {
    const deployment = JSON.parse(await readFile(join(dir, "deployment.json"), "utf8")) as { contracts: { ledger: string } };
    const nowhere = Wallet.createRandom().address;
    await writeFile(join(dir, "missing.json"), JSON.stringify({ ...deployment, contracts: { ...deployment.contracts, ledger: nowhere } }));
    await writeFile(join(dir, "node-missing.json"), JSON.stringify(nodeConfig("bank-test.json", "missing.json")));
    expect(oneLineError(await runCli(["node", "start", "--config", join(dir, "node-missing.json")], env))).to.equal(
      `settlenet: CONTRACT_MISSING: chain 31337 has no code at ${nowhere} (SettlementLedger in ${join(dir, "missing.json")}): the deployment file is not for this chain, or the chain was reset`,
    );
    const gateway: GatewayConfigInput = { port: 0, dataDir: "gateway-data", nodeUrl: "http://127.0.0.1:9", rpcUrl: chain.url, deploymentFile: "missing.json", masterKeyEnv: "GATEWAY_MASTER_KEY", logLevel: "warn" };
    await writeFile(join(dir, "gateway.json"), JSON.stringify(gateway));
    expect(oneLineError(await runCli(["gateway", "start", "--config", join(dir, "gateway.json")], { ...env, GATEWAY_MASTER_KEY: "11".repeat(32) }))).to.match(/^settlenet: CONTRACT_MISSING: chain 31337 has no code at /);
  });

  it("a node with an unregistered key names its address and peer id to register, in one line", async function () {
    await writeFile(join(dir, "newcomer-node.json"), JSON.stringify(nodeConfig("newcomer.json", "deployment.json")));
    const run = await runCli(["node", "start", "--config", join(dir, "newcomer-node.json")], env);
    const line = oneLineError(run);
    const id = JSON.parse(await ok(["node", "id", "--config", join(dir, "newcomer-node.json"), "--json"])) as { address: string; peerId: string; peerKeyCreated: boolean };
    expect(id.peerKeyCreated, "the refused start created the peer key").to.equal(false);
    expect(line).to.equal(
      `settlenet: NOT_REGISTERED: key ${id.address} is not the signing key of any registered institution: register address ${id.address} with peer id ${id.peerId} (settlenet institution register)`,
    );
  });
});

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { network } from "hardhat";
import { ZodError } from "zod";

import { deploymentSchema, readDeployment, writeDeployment, type Deployment } from "../../core/protocol/deployment.js";
import { deploySettlenet } from "../../scripts/lib/deploy.js";

const { ethers, networkHelpers } = await network.create();

const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;
const AccountKind = { Protocol: 4 } as const;
const AccountStatus = { Active: 1 } as const;

/** The error `promise` rejects with (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail("expected a rejection");
}

/** The issues of a ZodError, as code and path (and unknown keys, if any). */
function zodIssues(error: unknown) {
  expect(error).to.be.instanceOf(ZodError);
  return (error as ZodError).issues.map((issue) => ({
    code: issue.code,
    path: issue.path,
    ...("keys" in issue ? { keys: issue.keys } : {}),
  }));
}

async function deployedByDeployer() {
  const [deployer] = await ethers.getSigners();
  if (!deployer) throw new Error("no test account");
  return { deployer, ...(await deploySettlenet(deployer)) };
}

async function deployedWithSeparateAdmin() {
  const [deployer, admin] = await ethers.getSigners();
  if (!deployer || !admin) throw new Error("no test accounts");
  return { deployer, admin, ...(await deploySettlenet(deployer, { admin: admin.address, maxFeeBps: 250 })) };
}

describe("deploySettlenet", function () {
  let dir: string;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-deploy-"));
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("returns a deployment that satisfies the deployment schema and describes the chain", async function () {
    const { deployer, deployment, contracts } = await networkHelpers.loadFixture(deployedByDeployer);
    expect(deploymentSchema.parse(deployment)).to.deep.equal(deployment);
    const { chainId } = await ethers.provider.getNetwork();
    expect(deployment.chainId).to.equal(chainId.toString());
    expect(deployment.deployer).to.equal(deployer.address);
    expect(deployment.contracts).to.deep.equal({
      registry: await contracts.registry.getAddress(),
      escrow: await contracts.escrow.getAddress(),
      ledger: await contracts.ledger.getAddress(),
    });
    for (const address of Object.values(deployment.contracts)) {
      expect(await ethers.provider.getCode(address)).to.not.equal("0x");
    }
    // deployment starts at or before the registry's creation block
    const registryTx = contracts.registry.deploymentTransaction();
    const receipt = await registryTx?.wait();
    expect(receipt?.blockNumber).to.be.greaterThan(deployment.deploymentBlock);
  });

  it("deploys a 2-decimal CNY settlement token by default and describes it", async function () {
    const { deployment, contracts } = await networkHelpers.loadFixture(deployedByDeployer);
    const cny = contracts.tokens["CNY"];
    if (!cny) throw new Error("CNY token not deployed");
    expect(Object.keys(deployment.tokens)).to.deep.equal(["CNY"]);
    expect(deployment.tokens["CNY"]).to.deep.equal({ address: await cny.getAddress(), symbol: "CNY", name: "Settlenet CNY", decimals: 2 });
    expect(await cny.symbol()).to.equal("CNY");
    expect(await cny.name()).to.equal("Settlenet CNY");
    expect(await cny.decimals()).to.equal(2n);
  });

  it("registers the escrow, the ledger and the fee receiver as active protocol accounts", async function () {
    const { deployer, deployment, contracts } = await networkHelpers.loadFixture(deployedByDeployer);
    const { registry, escrow, ledger } = contracts;
    expect(deployment.feeReceiver).to.equal(deployer.address);
    expect(await escrow.feeReceiver()).to.equal(deployer.address);
    for (const account of [deployment.contracts.escrow, deployment.contracts.ledger, deployment.feeReceiver]) {
      const record = await registry.accountOf(account);
      expect([record.kind, record.status]).to.deep.equal([BigInt(AccountKind.Protocol), BigInt(AccountStatus.Active)]);
    }
    expect(await escrow.registry()).to.equal(deployment.contracts.registry);
    expect(await ledger.registry()).to.equal(deployment.contracts.registry);
  });

  it("registers every deployed token as a settlement token bound to the registry", async function () {
    const [deployer] = await ethers.getSigners();
    const { deployment, contracts } = await deploySettlenet(deployer!, {
      tokens: [
        { symbol: "CNY", name: "Settlenet CNY" },
        { symbol: "HKD", name: "Settlenet HKD" },
      ],
    });
    expect(Object.keys(deployment.tokens)).to.deep.equal(["CNY", "HKD"]);
    for (const [symbol, entry] of Object.entries(deployment.tokens)) {
      expect(await contracts.registry.isSettlementToken(entry.address)).to.equal(true);
      expect(await contracts.tokens[symbol]!.registry()).to.equal(deployment.contracts.registry);
    }
    expect(deployment.tokens["CNY"]!.address).to.not.equal(deployment.tokens["HKD"]!.address);
    expect(await contracts.registry.isSettlementToken(deployment.contracts.escrow)).to.equal(false);
  });

  it("keeps the deployer as admin when no other admin is given", async function () {
    const { deployer, contracts } = await networkHelpers.loadFixture(deployedByDeployer);
    expect(await contracts.registry.hasRole(DEFAULT_ADMIN_ROLE, deployer.address)).to.equal(true);
    expect(await contracts.registry.maxFeeBps()).to.equal(300n);
  });

  it("hands the admin role over to a separate admin, which also receives the fees", async function () {
    const { deployer, admin, deployment, contracts } = await networkHelpers.loadFixture(deployedWithSeparateAdmin);
    const { registry, escrow } = contracts;
    expect(await registry.hasRole(DEFAULT_ADMIN_ROLE, deployer.address)).to.equal(false);
    expect(await registry.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).to.equal(true);
    expect(await registry.maxFeeBps()).to.equal(250n);
    expect(deployment.deployer).to.equal(deployer.address);
    expect(deployment.feeReceiver).to.equal(admin.address);
    expect(await escrow.feeReceiver()).to.equal(admin.address);
    expect((await registry.accountOf(admin.address)).kind).to.equal(BigInt(AccountKind.Protocol));
    await expect(registry.connect(deployer).registerProtocolAccount(ethers.Wallet.createRandom().address))
      .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
      .withArgs(deployer.address, DEFAULT_ADMIN_ROLE);
  });

  describe("deployment file", function () {
    it("round-trips through writeDeployment and readDeployment", async function () {
      const { deployment } = await networkHelpers.loadFixture(deployedByDeployer);
      const path = join(dir, "nested", "deployments", "local.json");
      await writeDeployment(path, deployment);
      expect(await readDeployment(path)).to.deep.equal(deployment);
      expect(JSON.parse(await readFile(path, "utf8"))).to.deep.equal(deployment);
    });

    it("rejects an unknown top-level field, naming it", async function () {
      const { deployment } = await networkHelpers.loadFixture(deployedByDeployer);
      const path = join(dir, "deployment.json");
      await writeFile(path, JSON.stringify({ ...deployment, operator: deployment.deployer }));
      expect(zodIssues(await rejectionOf(readDeployment(path)))).to.deep.equal([
        { code: "unrecognized_keys", path: [], keys: ["operator"] },
      ]);
    });

    it("rejects an unknown contract entry, naming its path", async function () {
      const { deployment } = await networkHelpers.loadFixture(deployedByDeployer);
      const path = join(dir, "deployment.json");
      await writeFile(path, JSON.stringify({ ...deployment, contracts: { ...deployment.contracts, oracle: deployment.deployer } }));
      expect(zodIssues(await rejectionOf(readDeployment(path)))).to.deep.equal([
        { code: "unrecognized_keys", path: ["contracts"], keys: ["oracle"] },
      ]);
    });

    it("rejects a bad address, naming the field path", async function () {
      const { deployment } = await networkHelpers.loadFixture(deployedByDeployer);
      const path = join(dir, "deployment.json");
      const badEscrow = { ...deployment, contracts: { ...deployment.contracts, escrow: "0x1234" } };
      await writeFile(path, JSON.stringify(badEscrow));
      expect(zodIssues(await rejectionOf(readDeployment(path)))).to.deep.equal([
        { code: "invalid_format", path: ["contracts", "escrow"] },
      ]);
      const cny = deployment.tokens["CNY"]!;
      const badToken = { ...deployment, tokens: { CNY: { ...cny, address: cny.address.slice(2) } } };
      await writeFile(path, JSON.stringify(badToken));
      expect(zodIssues(await rejectionOf(readDeployment(path)))).to.deep.equal([
        { code: "invalid_format", path: ["tokens", "CNY", "address"] },
      ]);
    });

    it("refuses to write an invalid deployment and leaves no file", async function () {
      const { deployment } = await networkHelpers.loadFixture(deployedByDeployer);
      const path = join(dir, "deployment.json");
      const invalid = { ...deployment, feeReceiver: "not an address" } as Deployment;
      expect(zodIssues(await rejectionOf(writeDeployment(path, invalid)))).to.deep.equal([
        { code: "invalid_format", path: ["feeReceiver"] },
      ]);
      expect(await rejectionOf(readFile(path, "utf8"))).to.have.property("code", "ENOENT");
    });
  });
});

/**
 * `npm start` end to end: the launcher (scripts/start.ts, the same code path as `npm start`) brings
 * the whole network up as child processes in a temp folder, the demo scenario (scripts/lib/scenario.ts,
 * what `npm run demo` runs) runs at its small size, moving chain time on to the deadlines it waits
 * for (the auto-release period, the fulfilment deadline, the end of a cycle) instead of waiting a
 * minute of wall-clock time for them, and its summary is asserted — payments by state,
 * volumes, refunds, the arbiter's split, the payout, the AML alert and freeze, the finalized cycle and
 * its verified proof, no reconciliation break — then Ctrl-C (SIGINT) stops everything with no process
 * left behind, a second start resumes the same chain and data, and a port in use is reported in one line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { GatewayClient } from "../../gateway/client/client.js";
import { totpCode } from "../../core/auth/totp.js";
import { PROJECT_ROOT, consoleUserFile, dashboardOwnerFile, defaultPorts, endpointsOf, operatorUserFile, readNetworkState, trustNetworkCa, type NetworkState } from "../../scripts/lib/network.js";
import { DISPUTED_INDEX, LARGE_VALUE_AMOUNT, PAYOUT_AMOUNT, SCENARIO_SIZES, amountOf, planOf, runScenario, type Plan, type ScenarioSummary } from "../../scripts/lib/scenario.js";
import { freePortRange } from "../../scripts/lib/launch/ports.js";
import { httpGet } from "../helpers/tls.js";

const START = join(PROJECT_ROOT, "scripts", "start.ts");

interface Launcher {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function launch(args: string[]): Launcher {
  const child = spawn(process.execPath, ["--import", "tsx", START, ...args], { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function waitForBanner(launcher: Launcher, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!launcher.out().includes("Settlenet is running")) {
    if (launcher.child.exitCode !== null) throw new Error(`the launcher exited ${launcher.child.exitCode}: ${launcher.err()}`);
    if (Date.now() > deadline) throw new Error(`no banner after ${timeoutMs} ms: ${launcher.out()} ${launcher.err()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Pids of live processes whose command line mentions `dir` (the parts run with configs inside it). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function listenOn(port: number): Promise<Server> {
  return new Promise((resolveListen, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolveListen(server));
  });
}

/** What a payment's status must be after the scenario. */
const EXPECTED_STATUS: Record<Plan, string> = {
  confirm: "released",
  autoRelease: "released",
  direct: "released",
  refundHeld: "held",
  refundFulfilled: "fulfilled",
  dispute: "resolved",
  reclaim: "reclaimed",
  largeValue: "held",
};

describe("npm start: the whole network as child processes, a demo scenario, Ctrl-C, resume", function () {
  this.timeout(300_000);
  let dir: string;
  let base: number;
  let launcher: Launcher | undefined;
  let state: NetworkState | undefined;
  let summary: ScenarioSummary | undefined;
  let gatewayCertificate = "";

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-start-"));
    base = await freePortRange(22); // start.ts --base-port uses base .. base+21
  });

  after(async function () {
    if (launcher && launcher.child.exitCode === null) {
      launcher.child.kill("SIGINT");
      await launcher.exited;
    }
    for (const pid of processesUsing(dir)) process.kill(pid, "SIGKILL");
    if (!process.env["SETTLENET_KEEP_E2E"]) await rm(dir, { recursive: true, force: true });
  });

  it("starts every part, runs a small scenario through the gateway and every check holds", async function () {
    launcher = launch(["--dir", dir, "--base-port", String(base), "--payers", String(SCENARIO_SIZES.test.payers)]);
    await waitForBanner(launcher, 240_000);
    expect(launcher.out()).to.include(`gateway             https://127.0.0.1:${base + 20}`);
    expect(launcher.out()).to.include(`--cacert ${join(dir, "tls", "ca.pem")}`);
    // Every API answers HTTPS only, under the network's development CA, which this process now trusts.
    await trustNetworkCa(dir);
    for (const port of [base + 20, base + 21, base + 1]) expect(await httpGet(`http://127.0.0.1:${port}/health`), String(port)).to.have.property("error");
    state = await readNetworkState(dir);
    if (!state) throw new Error("no network.json");
    expect(state.nodes.map((n) => n.role)).to.deep.equal(["institution", "institution", "institution", "regulator"]);
    expect(state.merchants).to.have.length(2);
    expect(state.payers).to.have.length(SCENARIO_SIZES.test.payers);
    // 7 processes: chain, 4 nodes, bank, gateway (the launcher's own command line names the folder too).
    expect(processesUsing(dir).length).to.equal(8);

    // Secrets: every file holding one is the owner's only, the banner prints none, and each process
    // has only its own (no master key outside the gateway; the bank, each node and the gateway a password of its own).
    for (const file of ["network.json", "gateway/gateway.json", "gateway/admin-token", "gateway/admin-credentials.json", "institution-1/custodian.json", "gateway/permit-relayer.json", "bank/bank.json", "bank/attestor.json", "institution-1/node.json", "institution-1/operator.json", "regulator/node.json", "regulator/operator.json", "tls/ca.key", "gateway/tls/key.pem", "bank/tls/key.pem", "institution-1/tls/key.pem"]) {
      expect(statSync(join(dir, file)).mode & 0o777, file).to.equal(0o600);
    }
    for (const merchant of state.merchants) expect(launcher.out()).to.not.include(merchant.secret);
    expect(launcher.out()).to.not.include(readFileSync(join(dir, "gateway", "admin-token"), "utf8").trim());
    const environOf = (config: string) => {
      const pid = processesUsing(dir).find((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").includes(config));
      if (pid === undefined) throw new Error(`no process runs ${config}`);
      return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    };
    const passwordOf = (environ: string[]) => environ.find((v) => v.startsWith("SETTLENET_KEY_PASSWORD="));
    const regulator = environOf(join("regulator", "node.json"));
    expect(regulator.join("\n")).to.not.include(state.masterKey);
    const bankEnv = environOf(join("bank", "bank.json"));
    expect(bankEnv.join("\n")).to.not.include(state.masterKey);
    const nodePasswords = ["institution-1", "institution-2", "institution-3", "regulator"].map((name) => passwordOf(environOf(join(name, "node.json"))));
    // The bank's opens only its reserve attestor keystore.
    const passwords = [...nodePasswords, passwordOf(bankEnv), passwordOf(environOf(join("gateway", "gateway.json")))];
    expect(passwords).to.not.include(undefined);
    expect(new Set(passwords).size).to.equal(6);
    expect(nodePasswords).to.not.include(`SETTLENET_KEY_PASSWORD=${state.keyPassword}`);
    expect(environOf(join("gateway", "gateway.json")).join("\n")).to.include(state.masterKey);
    // The custodian key is the custodian service's, beside institution 1's node: the gateway's folder and
    // config hold none, and only that node is given its password.
    expect(existsSync(join(dir, "gateway", "custodian.json"))).to.equal(false);
    expect(JSON.parse(readFileSync(join(dir, "gateway", "gateway.json"), "utf8"))).to.not.have.property("custodian");
    const custodianPasswords = ["institution-1", "institution-2", "institution-3", "regulator", "bank", "gateway"].map((name) =>
      environOf(join(name, name === "bank" ? "bank.json" : name === "gateway" ? "gateway.json" : "node.json")).some((v) => v.startsWith("SETTLENET_CUSTODIAN_KEY_PASSWORD=")),
    );
    expect(custodianPasswords).to.deep.equal([true, false, false, false, false, false]);
    // Each serving process has its own certificate's key and trusts the CA; no process is given the CA's key.
    expect(environOf(join("bank", "bank.json"))).to.include(`NODE_EXTRA_CA_CERTS=${join(dir, "tls", "ca.pem")}`);

    // Each merchant's dashboard owner: its sign-in in a 0600 file that the banner names with the
    // e-mail, never printing the password or TOTP secret, which no process has in its environment.
    for (const merchant of state.merchants) {
      const file = dashboardOwnerFile(dir, merchant.id);
      expect(statSync(file).mode & 0o777, file).to.equal(0o600);
      const owner = JSON.parse(readFileSync(file, "utf8")) as { email: string; password: string; totpSecret: string };
      expect(launcher.out()).to.include(owner.email).and.include(file);
      expect(launcher.out()).to.not.include(owner.password);
      expect(launcher.out()).to.not.include(owner.totpSecret);
      for (const pid of processesUsing(dir)) expect(readFileSync(`/proc/${pid}/environ`, "utf8")).to.not.include(owner.password);
    }
    const firstOwner = JSON.parse(readFileSync(dashboardOwnerFile(dir, state.merchants[0]?.id ?? ""), "utf8")) as { email: string; password: string; totpSecret: string };
    const signIn = await fetch(`https://127.0.0.1:${base + 20}/dashboard/api/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: firstOwner.email, password: firstOwner.password, totp: totpCode(firstOwner.totpSecret, Date.now()) }),
    });
    expect(signIn.status).to.equal(201);

    // The regulator's and the arbiter's console users likewise, each on its node; the regulator signs in there.
    const nodeApis = endpointsOf(defaultPorts(base), state).nodes;
    for (const [role, node] of [
      ["regulator", "regulator"],
      ["arbiter", "institution-1"],
    ] as const) {
      const file = consoleUserFile(dir, role);
      expect(statSync(file).mode & 0o777, file).to.equal(0o600);
      const person = JSON.parse(readFileSync(file, "utf8")) as { email: string; password: string; totpSecret: string; keystoreFile: string; keystorePassword: string };
      expect(statSync(person.keystoreFile).mode & 0o777, person.keystoreFile).to.equal(0o600);
      const api = nodeApis.find((n) => n.name === node)?.api ?? "";
      expect(launcher.out()).to.include(`${api}/console/`).and.include(person.email).and.include(file);
      for (const secret of [person.password, person.totpSecret, person.keystorePassword]) expect(launcher.out()).to.not.include(secret);
      if (role !== "regulator") continue;
      const consoleSignIn = await fetch(`${api}/v1/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: person.email, password: person.password, totp: totpCode(person.totpSecret, Date.now()) }),
      });
      expect(consoleSignIn.status).to.equal(201);
      expect((await fetch(`${api}/console/`)).status).to.equal(200);
    }

    // Each institution node's console operator: the same, signing in to its node.
    for (const node of endpointsOf(defaultPorts(base), state).nodes.filter((n) => n.role === "institution")) {
      const file = operatorUserFile(dir, node.name);
      expect(statSync(file).mode & 0o777, file).to.equal(0o600);
      const operator = JSON.parse(readFileSync(file, "utf8")) as { email: string; password: string; totpSecret: string };
      expect(launcher.out()).to.include(`${node.api}/console/`).and.include(operator.email).and.include(file);
      expect(launcher.out()).to.not.include(operator.password);
      expect(launcher.out()).to.not.include(operator.totpSecret);
      const session = await fetch(`${node.api}/v1/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: operator.email, password: operator.password, totp: totpCode(operator.totpSecret, Date.now()) }),
      });
      expect([session.status, ((await session.json()) as { user: { role: string } }).user.role], node.name).to.deep.equal([201, "operator"]);
    }

    summary = await runScenario({ root: dir, endpoints: endpointsOf(defaultPorts(base), state), state, size: SCENARIO_SIZES.test, timeoutMs: 120_000, advanceChainTime: true });
    const failed = summary.checks.filter((c) => !c.ok);
    expect(failed, JSON.stringify(failed)).to.deep.equal([]);
    expect(summary.ok).to.equal(true);
    expect(new Set(summary.checks.map((c) => c.step))).to.deep.equal(
      new Set([
        "payments held",
        "fulfilment",
        "partial refunds",
        "payer confirmation",
        "dispute resolved by the arbiter",
        "payout through the bank simulator",
        "separation of powers",
        "auto-release",
        "payer reclaim",
        "AML alert and regulator freeze",
        "settlement cycle finalized, Merkle proof verified",
        "reconciliation breaks = 0",
      ]),
    );

    // Ten payments and the large-value one, each where its plan leads.
    const n = SCENARIO_SIZES.test.payments;
    expect(summary.payments).to.equal(n + 1);
    const expected: Record<string, number> = { held: 1 };
    for (let i = 0; i < n; i++) expected[EXPECTED_STATUS[planOf(i)]] = (expected[EXPECTED_STATUS[planOf(i)]] ?? 0) + 1;
    expect(summary.byStatus).to.deep.equal(expected);
    expect(summary.byStatus).to.deep.equal({ released: 6, held: 2, fulfilled: 1, resolved: 1, reclaimed: 1 });
    const amounts = Array.from({ length: n }, (_, i) => amountOf(i));
    expect(summary.volume).to.equal((amounts.reduce((a, b) => a + b, 0n) + LARGE_VALUE_AMOUNT).toString());
    // #7 (held) and #8 (fulfilled) refunded a quarter each; the arbiter gave the payer of #1 half back.
    const payerShare = amountOf(DISPUTED_INDEX) / 2n;
    expect(summary.refunded).to.equal((amountOf(7) / 4n + amountOf(8) / 4n + payerShare).toString());
    expect(summary.findings.dispute?.payerAmount).to.equal(payerShare.toString());
    // Fees: 1 % of the released payments (#0, #2, #4, #5 confirmed, #6 auto-released, #9 direct) and of the merchant's share of #1.
    const feeOf = (x: bigint) => (x * 100n) / 10_000n;
    const merchantShare = amountOf(DISPUTED_INDEX) - payerShare;
    expect(summary.findings.dispute?.merchantAmount).to.equal((merchantShare - feeOf(merchantShare)).toString());
    const released = [0, 2, 4, 5, 6, 9].map((i) => feeOf(amountOf(i))).reduce((a, b) => a + b, 0n);
    expect(summary.fees).to.equal((released + feeOf(merchantShare)).toString());

    const { payout, cycle, amlAlerts, freeze, reconciliation } = summary.findings;
    expect(payout).to.include({ amount: PAYOUT_AMOUNT.toString(), stage: "paid", bankStatus: "confirmed" });
    expect(cycle?.root).to.match(/^0x[0-9a-f]{64}$/);
    expect(cycle?.attestations).to.be.at.least(3);
    expect(cycle).to.include({ proofVerified: true, verifiedOnChain: true });
    expect(amlAlerts).to.include({ ours: 1, rule: "LARGE_VALUE" });
    expect(freeze).to.include({ refusedWith: "ACCOUNT_FROZEN", lifted: true });
    expect(reconciliation?.breaks).to.equal(0);
    expect(reconciliation?.compared).to.be.at.least(n + 2);

    // A merchant's development receiver on loopback may be registered on a local network; private targets may not.
    const merchant = state.merchants[0];
    if (!merchant) throw new Error("no merchant");
    const client = new GatewayClient(`https://127.0.0.1:${base + 20}`, merchant);
    const local = await client.post<{ id: string }>("/v1/webhook-endpoints", { url: "http://127.0.0.1:9/hooks" });
    expect(local.status, JSON.stringify(local.body)).to.equal(201);
    expect((await client.request("DELETE", `/v1/webhook-endpoints/${local.body.id}`)).status).to.equal(200);
    const internal = await client.post<{ code: string }>("/v1/webhook-endpoints", { url: "http://10.0.0.1/hooks" });
    expect([internal.status, internal.body.code]).to.deep.equal([400, "WEBHOOK_URL_FORBIDDEN"]);
  });

  it("stops every part on Ctrl-C and leaves no process behind", async function () {
    if (!launcher) this.skip();
    gatewayCertificate = readFileSync(join(dir, "gateway", "tls", "cert.pem"), "utf8");
    launcher.child.kill("SIGINT");
    expect(await launcher.exited).to.equal(0);
    expect(launcher.out()).to.include("stopped.");
    expect(processesUsing(dir)).to.deep.equal([]);
  });

  it("resumes on the second start: same deployment, the first run's payments still there", async function () {
    if (!state) this.skip();
    launcher = launch(["--dir", dir, "--base-port", String(base)]);
    await waitForBanner(launcher, 240_000);
    expect(launcher.out()).to.include("(resumed;");
    expect(launcher.out()).to.include("(journal replayed)");
    // The certificates of the first start are kept.
    expect(readFileSync(join(dir, "gateway", "tls", "cert.pem"), "utf8")).to.equal(gatewayCertificate);
    const again = await readNetworkState(dir);
    expect(again?.deploymentFile).to.equal(state.deploymentFile);
    expect(again?.merchants).to.deep.equal(state.merchants);
    const [merchant] = state.merchants;
    if (!merchant) throw new Error("no merchant");
    const client = new GatewayClient(`https://127.0.0.1:${base + 20}`, merchant);
    const list = await client.get<{ items: { id: string; status: string }[] }>("/v1/payments?limit=100");
    expect(list.status).to.equal(200);
    // Half the scenario's payments, the large-value one and the frozen payer's refused (cancelled) order.
    expect(list.body.items.length).to.equal(SCENARIO_SIZES.test.payments / 2 + 2);
    // The chain state came back too: the gateway's merged read finds each payment on-chain.
    const paid = list.body.items.filter((item) => item.status !== "cancelled");
    expect(paid.length).to.equal(list.body.items.length - 1);
    for (const item of paid.slice(0, 2)) {
      const one = await client.get<{ status: string; onChain: { status: string } | null }>(`/v1/payments/${item.id}`);
      expect(one.body.onChain, item.id).to.not.equal(null);
    }
    launcher.child.kill("SIGINT");
    expect(await launcher.exited).to.equal(0);
    expect(processesUsing(dir)).to.deep.equal([]);
  });

  it("reports a port in use in one line and starts nothing", async function () {
    if (launcher && launcher.child.exitCode === null) {
      launcher.child.kill("SIGINT");
      await launcher.exited;
    }
    const blocker = await listenOn(base + 20);
    try {
      const refused = launch(["--dir", dir, "--base-port", String(base)]);
      expect(await refused.exited).to.equal(1);
      const lines = refused.err().trim().split("\n");
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^settlenet: PORT_IN_USE: port \d+ \(gateway\) is in use/);
      expect(processesUsing(dir)).to.deep.equal([]);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

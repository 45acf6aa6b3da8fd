/**
 * Compliance end to end, with real node processes: an AML alert raised by the institutions reaches the
 * regulator node over gossip (its own AML monitor is off), is acknowledged there and shows in the
 * reports (API and CLI); a node is backed up while it runs, wiped, restored and catches up with what
 * happened meanwhile; corrupted backups and non-empty targets are refused with codes.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { expect } from "chai";

import { parseToken } from "../../core/api/auth.js";
import { NodeApiClient, type NodeApiError } from "../../core/api/client.js";
import type { AlertRecord } from "../../node/compliance/alert.js";
import type { ReservesReport } from "../../node/compliance/reserves.js";
import { openStorage } from "../../node/storage/db.js";
import { runCli } from "../helpers/cli.js";
import { refusalOf } from "../helpers/errors.js";
import { launchNetwork, metricTotal, nodeApi, nodeFetch, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";

describe("e2e: compliance alerts, reports, backup and restore", function () {
  this.timeout(180_000);

  let net: TestNetwork;
  let institution0: NodeHandle;
  let institution1: NodeHandle;
  let regulator: NodeHandle;

  before(async function () {
    net = await launchNetwork({
      institutions: 2,
      payers: 2,
      config: { compliance: { aml: { pollIntervalMs: 200, largeValue: { threshold: "10000" } }, reserves: { checkIntervalMs: 1_000 } } },
      // The regulator evaluates nothing itself: every alert it holds came over gossip.
      nodeConfig: { regulator: { compliance: { aml: { enabled: false }, reserves: { enabled: false } } } },
    });
    [institution0, institution1, regulator] = net.nodes as [NodeHandle, NodeHandle, NodeHandle];
  });
  after(async function () {
    await net?.stop();
  });

  async function payThrough(node: NodeHandle, amount: bigint, payerIndex = 0): Promise<string> {
    const { op, paymentId } = await signedPay(net.scenario, await termsFor(net.scenario, payerIndex, 0, { amount }));
    const submitted = await nodeApi(node).submit(op);
    if (!submitted.accepted) throw new Error(`refused: ${submitted.problem.code}`);
    await waitForOperation([node], submitted.id, "executed");
    return paymentId.toLowerCase();
  }

  it("pushes an AML alert to the regulator over gossip, where it is acknowledged once and reported", async function () {
    const below = await payThrough(institution0, 9_999n);
    const large = await payThrough(institution0, 10_000n);
    const operators = net.scenario.institutions.map((w) => w.address);
    const alert = await waitFor("the alert at the regulator, reported by both institutions", async () => {
      const { items } = await nodeApi(regulator).alerts({ rule: "LARGE_VALUE" });
      const found = items.find((a) => a.paymentIds.includes(large));
      return found && found.reportedBy.length === 2 ? found : undefined;
    });
    expect(alert).to.include({ origin: "gossip", amount: "10000", threshold: "10000", account: net.scenario.payers[0]!.address });
    expect(alert.reportedBy).to.have.members(operators);
    const all = await nodeApi(regulator).alerts();
    expect(all.items.filter((a) => a.paymentIds.includes(below))).to.deep.equal([]);
    // Each institution raised it itself, with the same id.
    const own = await nodeApi(institution1).alert(alert.id);
    expect(own).to.include({ origin: "local", id: alert.id });

    // The regulator triages its alerts: its own credential acknowledges them (a gateway's may not).
    const gatewayOnly = new NodeApiClient({ baseUrl: regulator.apiUrl, credentials: regulator.credentials.gateway });
    expect(((await refusalOf(gatewayOnly.acknowledgeAlert(alert.id, { note: "x" }))) as NodeApiError).code).to.equal("FORBIDDEN");
    const regulatorOnly = new NodeApiClient({ baseUrl: regulator.apiUrl, credentials: regulator.credentials.regulator });
    const ack = await regulatorOnly.acknowledgeAlert(alert.id, { by: "inspector-7", note: "reviewed" });
    // Recorded under the authenticated credential; the body's `by` is only the caller's statement.
    const regulatorId = parseToken(regulator.credentials.regulator)!.id;
    expect(ack.ack).to.include({ by: `credential:${regulatorId}:launcher-regulator`, statedBy: "inspector-7", note: "reviewed" });
    const logged = (await nodeApi(regulator).auditLog()).entries.filter((e) => e.action === "alert.acknowledge");
    expect(logged).to.have.length(1);
    expect(logged[0]).to.deep.include({ actor: `credential:${regulatorId}:launcher-regulator`, role: "regulator", target: alert.id });
    const refusedWith = async (request: Promise<unknown>) => {
      const error = (await refusalOf(request)) as NodeApiError;
      return [error.status, error.code];
    };
    expect(await refusedWith(nodeApi(regulator).acknowledgeAlert(alert.id, { by: "inspector-8" }))).to.deep.equal([409, "ALERT_ALREADY_ACKNOWLEDGED"]);
    expect(await refusedWith(nodeApi(regulator).acknowledgeAlert(`0x${"12".repeat(32)}`, { by: "x" }))).to.deep.equal([404, "ALERT_NOT_FOUND"]);
    expect(await refusedWith(nodeApi(regulator).acknowledgeAlert(alert.id, { by: "" }))).to.deep.equal([400, "MALFORMED"]);

    const csv = await nodeFetch(`${regulator.apiUrl}/v1/reports/aml?format=csv&status=acknowledged`);
    expect(csv.headers.get("content-type")).to.match(/^text\/csv/);
    const lines = (await csv.text()).trim().split("\r\n");
    expect(lines[0]!.split(",").slice(0, 3)).to.deep.equal(["id", "rule", "category"]);
    expect(lines).to.have.length(2);
    expect(lines[1]).to.contain(alert.id).and.contain(regulatorId);

    const asRegulator = { SETTLENET_NODE_TOKEN: regulator.credentials.regulator };
    const report = await runCli(["report", "aml", "--node", regulator.apiUrl, "--format", "json", "--rule", "LARGE_VALUE"], asRegulator);
    expect(report.code, report.stderr).to.equal(0);
    expect((JSON.parse(report.stdout) as { alerts: AlertRecord[] }).alerts.map((a) => a.id)).to.include(alert.id);
    const refused = await runCli(["report", "aml", "--node", regulator.apiUrl, "--status", "closed"], asRegulator);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain("MALFORMED");

    const metrics = await nodeApi(regulator).metrics();
    expect(metrics).to.match(/settlenet_alerts_raised_total\{rule="LARGE_VALUE",origin="gossip"\} [1-9]/);
    expect(metrics).to.contain('settlenet_alerts_open{rule="LARGE_VALUE"}');
  });

  it("reports reserves per custodian from the chain through the API and the CLI, in JSON and CSV", async function () {
    const custodian = net.scenario.institutions[0]!.address;
    const outstanding = await net.scenario.token.outstandingOf(custodian);
    const reserves = (await net.scenario.token.reservesOf(custodian)).amount;
    const json = await runCli(["report", "reserves", "--config", institution0.configFile, "--format", "json"], { SETTLENET_NODE_TOKEN: institution0.credentials.regulator });
    expect(json.code, json.stderr).to.equal(0);
    const report = JSON.parse(json.stdout) as ReservesReport;
    const entry = report.tokens[0]!.custodians.find((c) => c.custodian === custodian)!;
    expect(entry).to.deep.include({ outstanding: outstanding.toString(), reserves: reserves.toString(), stale: false, belowMinRatio: false });
    const csv = await runCli(["report", "reserves", "--node", institution0.apiUrl, "--format", "csv"], { SETTLENET_NODE_TOKEN: institution0.credentials.regulator });
    const [header, row] = csv.stdout.trim().split("\r\n");
    expect(header).to.equal("asOfBlock,asOfTime,symbol,token,custodian,active,outstanding,reserves,ratio,attestedAt,ageSeconds,stale,belowMinRatio");
    expect(row!.split(",").slice(2, 8)).to.deep.equal(["CNY", await net.scenario.token.getAddress(), custodian, "true", outstanding.toString(), reserves.toString()]);
  });

  it("backs up a running node, restores it into a wiped directory and catches up with what happened meanwhile", async function () {
    const before = await payThrough(institution0, 500n, 1);
    await waitFor("institution-1 to index it", async () => (await nodeApi(institution1).payment(before)) !== undefined);
    // Its balance mirror steps once a second: the snapshot is taken once that holds the chain's head too.
    const head = await net.scenario.chain.provider.getBlockNumber();
    await waitFor("institution-1's balance mirror to reach the head", async () => (await metricTotal(institution1, "settlenet_balance_mirror_block")) >= head);
    const backupFile = join(net.dir, "institution-1.backup");
    const asOperator = { SETTLENET_NODE_TOKEN: institution1.credentials.operator };
    const backup = await runCli(["node", "backup", "--config", institution1.configFile, "--out", backupFile], asOperator);
    expect(backup.code, backup.stderr).to.equal(0);
    const summary = JSON.parse(backup.stdout) as { source: string; records: number; contentSha256: string };
    expect(summary.source).to.equal("api");
    expect((await runCli(["node", "backup", "--config", institution1.configFile, "--out", backupFile], asOperator)).stderr).to.contain("BACKUP_EXISTS");
    const downloads = (await nodeApi(institution1).auditLog()).entries.filter((e) => e.action === "backup.download");
    expect(downloads.map((e) => e.actor)).to.deep.equal([`credential:${parseToken(institution1.credentials.operator)!.id}:launcher-operator`]);

    // Nothing happened since the snapshot: the stopped node's database is exactly what was backed up.
    await institution1.stop();
    const original = await openStorage(join(institution1.dataDir, "db"));
    const originalChecksum = await original.checksum();
    await original.close();
    expect(summary.contentSha256).to.equal(originalChecksum);
    // A stopped node is backed up from its database directly.
    const offline = await runCli(["node", "backup", "--config", institution1.configFile, "--out", join(net.dir, "institution-1-stopped.backup")]);
    expect(offline.code, offline.stderr).to.equal(0);
    expect(JSON.parse(offline.stdout)).to.include({ source: "database", contentSha256: originalChecksum });

    // Refusals: a corrupted copy, a truncated copy, a non-empty target. Nothing is written.
    const text = await readFile(backupFile, "utf8");
    const corrupted = join(net.dir, "corrupted.backup");
    await writeFile(corrupted, text.replace('"s":"payments"', '"s":"paymentz"'));
    const scratch = join(net.dir, "scratch");
    const corrupt = await runCli(["node", "restore", "--from", corrupted, "--data", scratch]);
    expect(corrupt.code).to.equal(1);
    expect(corrupt.stderr).to.contain("BACKUP_CORRUPT");
    const truncated = join(net.dir, "truncated.backup");
    await writeFile(truncated, text.split("\n").slice(0, -2).join("\n") + "\n");
    expect((await runCli(["node", "restore", "--from", truncated, "--data", scratch])).stderr).to.contain("BACKUP_CORRUPT");
    const flipped = join(net.dir, "flipped.backup");
    const lines = text.split("\n");
    lines[3] = lines[3]!.replace(/"c":"([0-9a-f])/, (_m, d: string) => `"c":"${d === "a" ? "b" : "a"}`);
    await writeFile(flipped, lines.join("\n"));
    expect((await runCli(["node", "restore", "--from", flipped, "--data", scratch])).stderr).to.contain("BACKUP_CORRUPT");
    expect(await readFile(join(scratch, "db", "CURRENT")).then(() => true, () => false)).to.equal(false);
    expect((await runCli(["node", "restore", "--from", backupFile, "--data", institution1.dataDir])).stderr).to.contain("RESTORE_TARGET_NOT_EMPTY");

    // Wipe, and let the network go on meanwhile.
    await rm(institution1.dataDir, { recursive: true, force: true });
    const meanwhile = [await payThrough(institution0, 700n, 1), await payThrough(institution0, 10_500n, 1)];

    const restored = await runCli(["node", "restore", "--from", backupFile, "--data", institution1.dataDir]);
    expect(restored.code, restored.stderr).to.equal(0);
    const result = JSON.parse(restored.stdout) as { records: number; contentSha256: string };
    expect(result).to.include({ records: summary.records, contentSha256: originalChecksum });
    const check = await openStorage(join(institution1.dataDir, "db"));
    expect(await check.checksum()).to.equal(originalChecksum);
    await check.close();

    await mkdir(institution1.dataDir, { recursive: true });
    await institution1.start();
    for (const id of [before, ...meanwhile]) expect((await nodeApi(institution1).payment(id))?.payment?.status).to.equal("held");
    // The restored node's AML monitor went on from its cursor: the large payment made while it was away is flagged.
    const flagged = await waitFor("the restored node's alert on the payment made meanwhile", async () => {
      const { items } = await nodeApi(institution1).alerts({ rule: "LARGE_VALUE" });
      return items.find((a) => a.paymentIds.includes(meanwhile[1]!));
    });
    expect(flagged).to.include({ origin: "local", amount: "10500" });
    // And it takes operations again.
    await payThrough(institution1, 600n, 1);
  });
});

/**
 * Overdue alerts on a real node (in this process) and chain, with thresholds of a second: a payment
 * whose relay is held back (the chain's JSON-RPC holds the fee data every transaction is priced with)
 * raises an `operation_not_relayed` alert; one whose relay transaction the chain holds unmined raises
 * an `operation_no_outcome` alert. Each is listed to operators only, counted once, and clears once
 * the operation executes.
 */
import { expect } from "chai";

import { bearer } from "../../../core/api/auth.js";
import { startJsonRpcProxy, type JsonRpcProxy } from "../../helpers/json-rpc-proxy.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { waitFor } from "../../helpers/network.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

describe("node overdue alerts: a relayed operation the chain does not execute", function () {
  this.timeout(300_000);
  let api: ApiNode;
  let proxy: JsonRpcProxy | undefined;

  before(async function () {
    api = await startApiNode({
      overdue: { checkIntervalMs: 100, notRelayedSeconds: 1, noOutcomeSeconds: 1 },
      rpcUrl: async (chainUrl) => (proxy = await startJsonRpcProxy(chainUrl)).url,
    });
  });
  after(async function () {
    await api?.chain.provider.send("evm_setAutomine", [true]).catch(() => undefined);
    await api?.stop();
    await proxy?.close();
  });

  /** The count of raised alerts of `kind` in the node's metrics. */
  const raisedCount = async (kind: string) => {
    const text = await api.client.metrics();
    const line = text.split("\n").find((l) => l.startsWith(`settlenet_overdue_alerts_raised_total{kind="${kind}"}`));
    return Number(line?.split(" ").at(-1));
  };

  it("raises a not-relayed alert while the relay cannot price its transaction, and clears it once the operation executes", async function () {
    const pay = await signedPay(api.scenario, await termsFor(api.scenario, 1, 0));
    const raisedBefore = await raisedCount("operation_not_relayed");
    const release = proxy!.hold("eth_maxPriorityFeePerGas");
    let released = false;
    try {
      const submitted = await api.client.submit(pay.op);
      if (!submitted.accepted) throw new Error(`refused: ${submitted.problem.code}`);
      const id = submitted.id.toLowerCase();
      const alert = await waitFor("the not-relayed alert", async () => (await api.client.overdue()).alerts.find((a) => a.id === id && a.kind === "operation_not_relayed"), 60_000, 100);
      expect(alert.operationKind).to.equal("pay");
      expect((await api.client.operation(id))?.status).to.equal("accepted");
      expect((await raisedCount("operation_not_relayed")) - raisedBefore).to.equal(1);

      release();
      released = true;
      await waitFor("the operation executed", async () => (await api.client.operation(id))?.status === "executed", 60_000, 100);
      await waitFor("the alert cleared", async () => (await api.client.overdue()).alerts.every((a) => a.id !== id), 30_000, 100);
      expect((await raisedCount("operation_not_relayed")) - raisedBefore).to.equal(1);
    } finally {
      if (!released) release();
    }
  });

  it("raises the alert after the threshold while the transaction waits unmined, counts it once, and clears it once the operation executes", async function () {
    const pay = await signedPay(api.scenario, await termsFor(api.scenario, 0, 0));
    const raisedBefore = await raisedCount("operation_no_outcome");
    // The chain takes transactions into its pool but mines none until told.
    await api.chain.provider.send("evm_setAutomine", [false]);
    const submitted = await api.client.submit(pay.op);
    if (!submitted.accepted) throw new Error(`refused: ${submitted.problem.code}`);
    const id = submitted.id.toLowerCase();

    const alert = await waitFor("the no-outcome alert", async () => (await api.client.overdue()).alerts.find((a) => a.id === id && a.kind === "operation_no_outcome"), 60_000, 100);
    expect(alert).to.deep.include({ operationKind: "pay" });
    expect(alert.raisedAtMs - alert.sinceMs).to.be.at.least(1_000);
    expect((await api.client.operation(id))?.status).to.equal("submitted");
    const report = await api.client.overdue();
    expect(report.kinds.find((k) => k.kind === "operation_no_outcome")).to.deep.include({ thresholdSeconds: 1, count: 1, truncated: false });
    // The monitor checks every 100 ms: let several checks pass while it stays overdue; still raised once.
    const checked = report.checkedAtMs;
    await waitFor("three more checks", async () => (await api.client.overdue()).checkedAtMs >= checked + 300, 30_000, 100);
    expect((await raisedCount("operation_no_outcome")) - raisedBefore).to.equal(1);

    // The chain mines again: the operation executes and the alert clears.
    await api.chain.provider.send("evm_setAutomine", [true]);
    await api.chain.provider.send("evm_mine", []);
    await waitFor("the operation executed", async () => (await api.client.operation(id))?.status === "executed", 60_000, 100);
    const cleared = await waitFor("the alert cleared", async () => {
      const now = await api.client.overdue();
      return now.alerts.every((a) => a.id !== id) && now;
    }, 30_000, 100);
    expect(cleared.kinds.find((k) => k.kind === "operation_no_outcome")).to.deep.include({ count: 0, oldestAgeSeconds: 0 });
    expect((await raisedCount("operation_no_outcome")) - raisedBefore).to.equal(1);
  });

  it("lists the alerts to operators only", async function () {
    for (const role of ["regulator", "gateway"] as const) {
      const answer = await fetch(`${api.node.apiUrl}/v1/admin/overdue`, { headers: { authorization: bearer(api.credentials[role]!) } });
      expect([answer.status, ((await answer.json()) as { code: string }).code], role).to.deep.equal([403, "FORBIDDEN"]);
    }
  });
});

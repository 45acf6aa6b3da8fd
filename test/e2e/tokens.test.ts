/**
 * Token operations end to end: 3 institution nodes and a regulator node as real processes on a real
 * chain. A custodian's mint submitted to one node is stored on all four, executed once on-chain and
 * reported executed everywhere; the token endpoints show the result. A regulator's freeze submitted
 * to a node makes a pay from the frozen payer refused (ACCOUNT_FROZEN) with the chain balance
 * unchanged; the unfreeze restores it. A token operation signed by a non-custodian is refused and
 * leaves no trace.
 */
import { expect } from "chai";
import type { Contract } from "ethers";

import { NodeApiClient } from "../../core/api/client.js";
import type { TokenRecord } from "../../node/storage/tokens.js";
import type { StoredOperation } from "../../core/records.js";
import { getJson, launchNetwork, postJson, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";
import { randomRef, signedTokenOp, tokenOperationIdOf } from "../helpers/tokens.js";

describe("token operations across a network of 3 institution nodes and a regulator node (real processes)", function () {
  this.timeout(180_000);
  let net: TestNetwork;
  let tokenAddress: string;

  before(async function () {
    net = await launchNetwork({ institutions: 3, regulator: true, payers: 3 });
    tokenAddress = await net.scenario.token.getAddress();
    for (const node of net.nodes) {
      await waitFor(`${node.name} to see 3 peers`, async () => {
        const { body } = await getJson<{ peers: unknown[] }>(`${node.apiUrl}/v1/peers`);
        return body.peers.length === net.nodes.length - 1;
      });
    }
  });
  after(async function () {
    await net?.stop();
  });

  const node = (i: number): NodeHandle => {
    const found = net.nodes[i];
    if (!found) throw new Error(`no node ${i}`);
    return found;
  };
  const submit = <T = unknown>(target: NodeHandle, op: unknown) => postJson<T>(`${target.apiUrl}/v1/operations`, op);
  const balanceOf = (account: string) => net.scenario.token.balanceOf(account);

  it("executes a custodian's mint submitted to one node exactly once, and every node reports it executed", async function () {
    const s = net.scenario;
    const custodian = s.institutions[0];
    const to = s.payers[1]?.address;
    if (!custodian || !to) throw new Error("scenario incomplete");
    const before = await balanceOf(to);
    const bankRef = randomRef();
    const mint = await signedTokenOp(s, custodian, { kind: "mint", to, amount: "4200", bankRef });
    const id = tokenOperationIdOf(s, mint);
    // Submitted to a node other than the custodian's own: any institution relays a signed operation.
    const entry = node(1);
    const answer = await submit<{ id: string; status: string }>(entry, mint);
    expect(answer.status).to.equal(202);
    expect(answer.body.id).to.equal(id);

    const records = await waitForOperation(net.nodes, id, "executed", 60_000);
    expect(records.map((r) => r.origin)).to.deep.equal(net.nodes.map((n) => (n === entry ? "api" : "gossip")));
    expect(await balanceOf(to)).to.equal(before + 4200n);
    const minted = await (s.token as unknown as Contract).queryFilter(s.token.filters.Minted(undefined, to, undefined));
    expect(minted.filter((log) => (log as unknown as { args: { bankRef: string } }).args.bankRef === bankRef)).to.have.length(1);

    // Every node's token endpoints agree with the chain.
    const supply = (await s.token.totalSupply()).toString();
    const outstanding = (await s.token.outstandingOf(custodian.address)).toString();
    for (const n of net.nodes) {
      const state = await waitFor(`${n.name} to index the mint`, async () => {
        const { status, body } = await getJson<{ totalSupply: string; onChain: { totalSupply: string }; custodians: TokenRecord["custodians"][string][] }>(
          `${n.apiUrl}/v1/tokens/${tokenAddress}`,
        );
        return status === 200 && body.totalSupply === supply ? body : undefined;
      });
      expect(state.onChain.totalSupply).to.equal(supply);
      expect(state.custodians.find((c) => c.institution === custodian.address)?.outstanding).to.equal(outstanding);
      const account = await getJson<{ balance: string; frozen: boolean }>(`${n.apiUrl}/v1/tokens/${tokenAddress}/accounts/${to}`);
      expect(account.body).to.include({ balance: (before + 4200n).toString(), frozen: false });
    }
    const stored = await getJson<StoredOperation>(`${node(3).apiUrl}/v1/operations/${id}`);
    expect(stored.body.kind).to.equal("mint");
    expect(stored.body.execution?.txHash).to.be.a("string");
  });

  it("refuses a mint signed by an institution that is no custodian (NOT_CUSTODIAN) and stores it nowhere", async function () {
    const s = net.scenario;
    const notCustodian = s.institutions[2];
    const to = s.payers[0]?.address;
    if (!notCustodian || !to) throw new Error("scenario incomplete");
    const mint = await signedTokenOp(s, notCustodian, { kind: "mint", to, amount: "1", bankRef: randomRef() });
    const refused = await submit<{ code: string }>(node(0), mint);
    expect(refused.status).to.equal(403);
    expect(refused.body.code).to.equal("NOT_CUSTODIAN");
    for (const n of net.nodes) expect((await getJson(`${n.apiUrl}/v1/operations/${tokenOperationIdOf(s, mint)}`)).status).to.equal(404);
  });

  it("executes a holder's own redemption exactly once on every node; refuses it signed by anyone else or drawn on a non-custodian, and a second one for the same reference burns nothing", async function () {
    const s = net.scenario;
    const holder = s.payers[0];
    const [custodian, , other] = s.institutions;
    if (!holder || !custodian || !other) throw new Error("scenario incomplete");
    const before = await balanceOf(holder.address);
    const outstanding = await s.token.outstandingOf(custodian.address);
    const bankRef = randomRef();
    const draft = { kind: "redeem" as const, holder: holder.address, custodian: custodian.address, amount: "1500", bankRef };

    // The custodian cannot redeem a holder's balance: only the holder's signature counts.
    const byCustodian = await signedTokenOp(s, custodian, draft);
    const refused = await submit<{ code: string }>(node(0), byCustodian);
    expect([refused.status, refused.body.code]).to.deep.equal([422, "BAD_SIGNATURE"]);
    const elsewhere = await submit<{ code: string }>(node(0), await signedTokenOp(s, holder, { ...draft, custodian: other.address }));
    expect([elsewhere.status, elsewhere.body.code]).to.deep.equal([403, "NOT_CUSTODIAN"]);

    const redeem = await signedTokenOp(s, holder, draft);
    const id = tokenOperationIdOf(s, redeem);
    expect((await submit(node(1), redeem)).status).to.equal(202);
    const records = await waitForOperation(net.nodes, id, "executed", 60_000);
    // Sent again to another node, which holds it by now: refused, nothing more burned.
    const again = await submit<{ code: string }>(node(2), redeem);
    expect([again.status, again.body.code]).to.deep.equal([409, "DUPLICATE"]);
    expect(new Set(records.map((r) => r.execution?.txHash)).size).to.equal(1);
    expect(await balanceOf(holder.address)).to.equal(before - 1500n);
    expect(await s.token.outstandingOf(custodian.address)).to.equal(outstanding - 1500n);
    const redeemed = await (s.token as unknown as Contract).queryFilter(s.token.filters.Redeemed(holder.address, custodian.address, undefined, bankRef));
    expect(redeemed).to.have.length(1);

    // The same payout signed again under a fresh nonce is a different operation: the chain refuses its reference.
    const replay = await signedTokenOp(s, holder, draft);
    const replayId = tokenOperationIdOf(s, replay);
    expect((await submit(node(0), replay)).status).to.equal(202);
    const [failed] = await waitForOperation([node(0)], replayId, "failed", 60_000);
    expect(failed?.error?.code).to.equal("RedemptionReferenceUsed");
    expect(await balanceOf(holder.address)).to.equal(before - 1500n);
  });

  it("takes a regulator's freeze at the regulator node from the regulator's own credential, which an institution relays; refuses the regulator and an arbiter any other kind, and the regulator node any other operation", async function () {
    const s = net.scenario;
    const account = s.payers[1]!.address;
    const regulatorNode = node(3);
    const asRegulator = new NodeApiClient({ baseUrl: regulatorNode.apiUrl, credentials: regulatorNode.credentials.regulator });
    const freeze = await signedTokenOp(s, s.regulator, { kind: "freeze", account, frozen: true, reason: randomRef() });
    const accepted = await asRegulator.submit(freeze);
    expect(accepted.accepted ? accepted.id : accepted.problem.code).to.equal(tokenOperationIdOf(s, freeze));
    await waitForOperation(net.nodes, tokenOperationIdOf(s, freeze), "executed", 60_000);
    expect(await s.token.isFrozen(account)).to.equal(true);

    const { op } = await signedPay(s, await termsFor(s, 0, 0));
    const asArbiter = new NodeApiClient({ baseUrl: node(0).apiUrl, credentials: node(0).credentials.arbiter });
    const notArbiters = await asArbiter.submit(op);
    expect(notArbiters.accepted ? "accepted" : [notArbiters.problem.status, notArbiters.problem.code]).to.deep.equal([403, "OPERATION_KIND_FORBIDDEN"]);
    const notItsKind = await asRegulator.submit(op);
    expect(notItsKind.accepted ? "accepted" : [notItsKind.problem.status, notItsKind.problem.code]).to.deep.equal([403, "OPERATION_KIND_FORBIDDEN"]);
    const readOnly = await submit<{ code: string }>(regulatorNode, op);
    expect([readOnly.status, readOnly.body.code]).to.deep.equal([403, "READ_ONLY"]);

    const unfreeze = await signedTokenOp(s, s.regulator, { kind: "freeze", account, frozen: false, reason: randomRef() });
    expect((await asRegulator.submit(unfreeze)).accepted).to.equal(true);
    await waitForOperation(net.nodes, tokenOperationIdOf(s, unfreeze), "executed", 60_000);
    expect(await s.token.isFrozen(account)).to.equal(false);
  });

  it("refuses a pay from a payer the regulator froze through a node (ACCOUNT_FROZEN, balance unchanged); the unfreeze restores it", async function () {
    const s = net.scenario;
    const payer = s.payers[2];
    if (!payer) throw new Error("no payer");

    /** Waits until every node's registry mirror has reached the block of executed operation `id`. */
    async function mirrorsReach(id: string): Promise<void> {
      const [record] = await waitForOperation([node(0)], id, "executed", 60_000);
      const block = (record as unknown as StoredOperation).execution?.blockNumber ?? Infinity;
      for (const n of net.nodes) {
        await waitFor(`${n.name}'s registry mirror to reach block ${block}`, async () => {
          const { body } = await getJson<{ chain: { registry: number } }>(`${n.apiUrl}/health`);
          return body.chain.registry >= block;
        });
      }
    }

    const freeze = await signedTokenOp(s, s.regulator, { kind: "freeze", account: payer.address, frozen: true, reason: randomRef() });
    const freezeId = tokenOperationIdOf(s, freeze);
    expect((await submit(node(2), freeze)).status).to.equal(202);
    await waitForOperation(net.nodes, freezeId, "executed", 60_000);
    expect(await s.token.isFrozen(payer.address)).to.equal(true);
    await mirrorsReach(freezeId);

    const { op, paymentId } = await signedPay(s, await termsFor(s, 2, 0));
    const before = await balanceOf(payer.address);
    for (const n of net.nodes.filter((x) => x.role === "institution")) {
      const refused = await submit<{ code: string }>(n, op);
      expect(refused.status).to.equal(403);
      expect(refused.body.code).to.equal("ACCOUNT_FROZEN");
    }
    const account = await getJson<{ frozen: boolean; freeze: { regulator: string } | null }>(`${node(3).apiUrl}/v1/tokens/${tokenAddress}/accounts/${payer.address}`);
    expect(account.body.frozen).to.equal(true);
    await waitFor("the regulator node to index the freeze", async () => {
      const { body } = await getJson<{ freeze: { regulator: string } | null }>(`${node(3).apiUrl}/v1/tokens/${tokenAddress}/accounts/${payer.address}`);
      return body.freeze?.regulator === s.regulator.address;
    });
    for (const n of net.nodes) expect((await getJson(`${n.apiUrl}/v1/operations/${paymentId}`)).status).to.equal(404);
    expect((await s.contracts.escrow.paymentOf(paymentId)).status).to.equal(0n);
    expect(await balanceOf(payer.address)).to.equal(before);

    const unfreeze = await signedTokenOp(s, s.regulator, { kind: "freeze", account: payer.address, frozen: false, reason: randomRef() });
    const unfreezeId = tokenOperationIdOf(s, unfreeze);
    expect((await submit(node(0), unfreeze)).status).to.equal(202);
    await waitForOperation(net.nodes, unfreezeId, "executed", 60_000);
    await mirrorsReach(unfreezeId);

    // The same pay, refused before, is accepted and executed now.
    expect((await submit(node(0), op)).status).to.equal(202);
    await waitForOperation(net.nodes, paymentId, "executed", 60_000);
    expect((await s.contracts.escrow.paymentOf(paymentId)).status).to.equal(1n);
    expect(await balanceOf(payer.address)).to.equal(before - 100_00n);
  });
});

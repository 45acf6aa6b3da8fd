import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { TypedDataEncoder, Wallet, concat, encodeBytes32String, getAddress, hexlify, keccak256, randomBytes, toUtf8Bytes, type HDNodeWallet } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import { ChainRegistryView } from "../../../node/chain/registry-view.js";
import { escrowDomain } from "../../../core/protocol/eip712.js";
import { decodeGossipMessage } from "../../../node/p2p/message.js";
import {
  ESCROW_ACTION_TYPES,
  PAYMENT_TYPES,
  descriptorOf,
  escrowOperationSchema,
  escrowTypedData,
  operationDigests,
  operationIdOf,
  paymentIdOf,
  signEscrowOperation,
  termsToJson,
  type EscrowOperationInput,
  type PaymentTerms,
  type UnsignedEscrowOperation,
} from "../../../core/operations/index.js";
import type { RiskRules, Storage, ValidationContext } from "../../../node/services.js";
import { openStorage } from "../../../node/storage/db.js";
import type { PaymentRecord, StoredOperation } from "../../../core/records.js";
import { OutcomeMapper, type Outcome } from "../../../node/validation/outcome.js";
import { RiskEngine } from "../../../node/validation/risk.js";
import { riskConfigSchema } from "../../../node/config.js";
import { OPERATION_CODES } from "../../../core/protocol/codes.js";
import type { ValidationPath } from "../../../node/validation/refusal.js";
import { validateOperation } from "../../../node/validation/validate.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";

type Actor = Wallet | HDNodeWallet;
type SignedKind = keyof typeof ESCROW_ACTION_TYPES;

const PATHS: ValidationPath[] = ["api", "gossip"];
const ZERO32 = "0x" + "00".repeat(32);
const now = () => Math.floor(Date.now() / 1000);

describe("operation validation (api and gossip paths)", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let s: Scenario;
  let view: ChainRegistryView;
  let storage: Storage;
  let dir: string;
  let ctx: ValidationContext;
  let chainId: bigint;
  let escrow: string;
  let token: string;
  let metrics: Registry;
  let mapper: OutcomeMapper;
  let nextNonce = 1n;

  const send = async (tx: Promise<{ wait(): Promise<unknown> }>) => (await tx).wait();

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 2, merchants: 3, payers: 4 });
    view = new ChainRegistryView({ deployment: s.deployment, pollIntervalMs: 60_000 }, { provider: chain.provider, logger: pino({ level: "silent" }) });
    await view.start();
    dir = await mkdtemp(join(tmpdir(), "settlenet-validation-"));
    storage = await openStorage(dir);
    chainId = BigInt(s.deployment.chainId);
    escrow = s.deployment.contracts.escrow;
    token = s.deployment.tokens["CNY"]!.address;
    ctx = { chainId, escrow, registry: view, storage, rules: {}, nowSeconds: now };
    metrics = new Registry();
    mapper = new OutcomeMapper({ logger: pino({ level: "silent" }), metrics });
  });

  after(async function () {
    await view?.stop();
    await storage?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    await chain?.close();
  });

  // ---------------------------------------------------------------- builders

  function terms(overrides: Partial<PaymentTerms> = {}): PaymentTerms {
    return {
      payer: s.payers[0]!.address,
      merchant: s.merchants[0]!.address,
      token,
      amount: 1_000n,
      orderId: hexlify(randomBytes(32)),
      feeBps: 100,
      direct: false,
      payDeadline: BigInt(now() + 3600),
      fulfilmentPeriod: 3600,
      autoReleasePeriod: 3600,
      refundPeriod: 3600,
      nonce: nextNonce++,
      ...overrides,
    };
  }

  async function pay(t: PaymentTerms, signer: Actor = s.payers.find((p) => p.address === t.payer) ?? s.payers[0]!, signChainId = chainId) {
    return signEscrowOperation(signer, { kind: "pay" as const, terms: termsToJson(t) }, { chainId: signChainId, escrow });
  }

  async function action(
    kind: SignedKind,
    t: PaymentTerms,
    signer: Actor,
    fields: { nonce?: bigint; deadline?: bigint; amount?: bigint; payerAmount?: bigint; reason?: string } = {},
  ): Promise<EscrowOperationInput> {
    const nonce = (fields.nonce ?? nextNonce++).toString();
    const deadline = (fields.deadline ?? BigInt(now() + 600)).toString();
    const reason = fields.reason ?? ZERO32;
    const extra =
      kind === "refund"
        ? { amount: (fields.amount ?? 100n).toString(), reason }
        : kind === "dispute"
          ? { reason }
          : kind === "resolve"
            ? { payerAmount: (fields.payerAmount ?? 500n).toString(), reason }
            : {};
    return signEscrowOperation(signer, { kind, terms: termsToJson(t), nonce, deadline, ...extra } as UnsignedEscrowOperation, { chainId, escrow });
  }

  /** Stores an accepted operation as the node would after validation. */
  async function store(input: EscrowOperationInput): Promise<StoredOperation> {
    const validated = await validateOperation(input, ctx, "api", new RiskEngine({}));
    const stored: StoredOperation = {
      id: validated.id,
      kind: validated.op.kind,
      paymentId: validated.paymentId,
      op: input,
      signer: validated.signer,
      origin: "api",
      status: "accepted",
      receivedAtMs: Date.now(),
      updatedAtMs: Date.now(),
    };
    await storage.operations.putAccepted([stored]);
    return stored;
  }

  /** The mapped outcome; a refusal of a well-formed kind must be one its descriptor lists. */
  async function outcome(input: unknown, path: ValidationPath, rules: RiskRules | RiskEngine = {}): Promise<Outcome> {
    const risk = rules instanceof RiskEngine ? rules : new RiskEngine(rules);
    const o = await mapper.settle(path, validateOperation(input, ctx, path, risk), { peerId: path === "gossip" ? "peer-x" : undefined });
    const kind = escrowOperationSchema.safeParse(input).data?.kind;
    if (kind !== undefined && o.code !== "ACCEPTED") expect(descriptorOf(kind).refusals, `${kind} refused with ${o.code}`).to.include(o.code);
    return o;
  }

  /** The verdict on each path: [api, gossip]. */
  async function verdicts(input: unknown, rules: RiskRules = {}): Promise<[string, string][]> {
    const results: [string, string][] = [];
    for (const path of PATHS) {
      const o = await outcome(input, path, rules);
      results.push([o.code, o.gossip]);
    }
    return results;
  }

  const both = (code: string, action: string): [string, string][] => [
    [code, action],
    [code, action],
  ];

  // ---------------------------------------------------------------- accepted

  it("accepts a valid operation of every kind, naming its signer", async function () {
    const t = terms({ payer: s.payers[1]!.address });
    const payInput = await pay(t);
    for (const path of PATHS) {
      const o = await outcome(payInput, path);
      expect([o.gossip, o.code, o.http]).to.deep.equal(["accept", "ACCEPTED", 202]);
      expect(o.operation?.signer).to.equal(t.payer);
      expect(o.operation?.id).to.equal(paymentIdOf(t, { chainId, escrow }));
    }
    await store(payInput);

    const payer = s.payers[1]!;
    const merchant = s.merchants[0]!;
    const cases: [EscrowOperationInput, string | null][] = [
      [await action("markFulfilled", t, merchant), merchant.address],
      [await action("confirm", t, payer), payer.address],
      [await action("refund", t, merchant), merchant.address],
      [await action("dispute", t, payer, { reason: encodeBytes32String("not delivered") }), payer.address],
      [await action("resolve", t, s.arbiter), s.arbiter.address],
    ];
    // A release or reclaim waits for the payment to be indexed and due (test/node/validation/due.test.ts
    // has them accepted once due): on a payment whose pay is only pending here, both are ignored as not due.
    for (const input of [{ kind: "release", terms: termsToJson(t) } as EscrowOperationInput, await action("reclaim", t, payer)]) {
      expect([input.kind, ...(await verdicts(input))]).to.deep.equal([input.kind, ...both("NOT_DUE", "ignore")]);
    }
    for (const [input, signer] of cases) {
      for (const path of PATHS) {
        const o = await outcome(input, path);
        expect([input.kind, o.gossip, o.code]).to.deep.equal([input.kind, "accept", "ACCEPTED"]);
        expect(o.operation?.signer).to.equal(signer);
        expect(o.operation?.id).to.equal(operationIdOf(escrowOperationSchema.parse(input), { chainId, escrow }));
      }
    }
  });

  it("computes the same ids as ethers' generic EIP-712 encoder for every kind and chain", async function () {
    const t = terms({ direct: true, amount: (1n << 96n) - 1n, payDeadline: (1n << 64n) - 1n, fulfilmentPeriod: 0xffffffff });
    const inputs = [await pay(t), { kind: "release", terms: termsToJson(t) }];
    for (const kind of Object.keys(ESCROW_ACTION_TYPES) as SignedKind[]) inputs.push(await action(kind, t, s.payers[0]!, { nonce: (1n << 256n) - 1n }));
    for (const input of inputs) {
      const op = escrowOperationSchema.parse(input);
      for (const c of [{ chainId, escrow }, { chainId: 1n, escrow: s.deployment.contracts.ledger.toLowerCase() }]) {
        const domain = escrowDomain(c.chainId, getAddress(c.escrow));
        const paymentId = TypedDataEncoder.hash(domain, PAYMENT_TYPES, op.terms);
        const id =
          op.kind === "pay"
            ? paymentId
            : op.kind === "release"
              ? keccak256(concat([toUtf8Bytes("settlenet.release:"), paymentId]))
              : TypedDataEncoder.hash(domain, ESCROW_ACTION_TYPES[op.kind], escrowTypedData(op, c).message);
        expect(operationDigests(op, c)).to.deep.equal({ id, paymentId });
        expect(operationIdOf(op, c)).to.equal(id);
        expect(paymentIdOf(op.terms, c)).to.equal(paymentId);
      }
    }
  });

  // ---------------------------------------------------------------- malformed

  it("rejects malformed JSON, unknown fields and money as a JSON number as MALFORMED, naming the field", async function () {
    const good = await pay(terms());
    expect(await verdicts('{"kind":"pay",')).to.deep.equal(both("MALFORMED", "reject"));
    expect(await verdicts(new Uint8Array([0xff, 0xfe]))).to.deep.equal(both("MALFORMED", "reject"));
    expect(await verdicts({ ...good, memo: "hi" })).to.deep.equal(both("MALFORMED", "reject"));
    expect(await verdicts({ ...good, terms: { ...good.terms, amount: 1000 } })).to.deep.equal(both("MALFORMED", "reject"));
    const o = await outcome({ ...good, terms: { ...good.terms, amount: 1000 } }, "api");
    expect(o.http).to.equal(400);
    expect((o.error?.meta["issues"] as { path: string }[]).map((i) => i.path)).to.deep.equal(["terms.amount"]);
    const unknown = await outcome(JSON.stringify({ ...good, terms: { ...good.terms, memo: "x" } }), "gossip");
    expect((unknown.error?.meta["issues"] as { path: string }[]).map((i) => i.path)).to.deep.equal(["terms"]);
    // A mixed-case address must carry its EIP-55 checksum (the case of one letter flipped breaks it).
    const payer = good.terms.payer;
    const letter = payer.slice(2).search(/[a-fA-F]/) + 2;
    const flipped = payer.slice(0, letter) + (payer[letter] === payer[letter]!.toUpperCase() ? payer[letter]!.toLowerCase() : payer[letter]!.toUpperCase()) + payer.slice(letter + 1);
    const badChecksum = await outcome({ ...good, terms: { ...good.terms, payer: flipped } }, "gossip");
    // Its own code (still a reject: the sender's fault), so clients can tell it from other schema failures.
    expect([badChecksum.code, badChecksum.gossip, (badChecksum.error?.meta["issues"] as { path: string }[]).map((i) => i.path)]).to.deep.equal(["BAD_ADDRESS", "reject", ["terms.payer"]]);
  });

  it("maps the gossip codec's MALFORMED (a coded SettlenetError) to reject", function () {
    let thrown: unknown;
    try {
      decodeGossipMessage(new TextEncoder().encode('{"v":1,"ops":[]}'));
    } catch (error) {
      thrown = error;
    }
    const o = mapper.map("gossip", { status: "rejected", reason: thrown }, { peerId: "peer-x" });
    expect([o.code, o.gossip]).to.deep.equal(["MALFORMED", "reject"]);
  });

  // ---------------------------------------------------------------- signatures

  it("rejects a pay signed by someone other than the payer as BAD_SIGNATURE", async function () {
    const t = terms();
    expect(await verdicts(await pay(t, s.payers[2]!))).to.deep.equal(both("BAD_SIGNATURE", "reject"));
  });

  it("rejects an operation signed for another chain id as BAD_SIGNATURE", async function () {
    const t = terms();
    expect(await verdicts(await pay(t, s.payers[0]!, chainId + 1n))).to.deep.equal(both("BAD_SIGNATURE", "reject"));
  });

  it("rejects a confirm signed by the merchant and a resolve not signed by an arbiter", async function () {
    const t = terms({ payer: s.payers[1]!.address });
    await store(await pay(t));
    expect(await verdicts(await action("confirm", t, s.merchants[0]!))).to.deep.equal(both("BAD_SIGNATURE", "reject"));
    expect(await verdicts(await action("resolve", t, s.payers[1]!))).to.deep.equal(both("NOT_ARBITER", "reject"));
    const o = await outcome(await action("resolve", t, s.merchants[0]!), "api");
    expect([o.code, o.http]).to.deep.equal(["NOT_ARBITER", 403]);
  });

  it("rejects a signature with a flipped byte as BAD_SIGNATURE", async function () {
    const input = await pay(terms());
    const flipped = input.signature.slice(0, 10) + (input.signature[10] === "0" ? "1" : "0") + input.signature.slice(11);
    expect(await verdicts({ ...input, signature: flipped })).to.deep.equal(both("BAD_SIGNATURE", "reject"));
  });

  // ---------------------------------------------------------------- seen, nonce, deadline

  it("ignores a duplicate of a stored operation (409 on the API)", async function () {
    const input = await pay(terms());
    await store(input);
    expect(await verdicts(input)).to.deep.equal(both("DUPLICATE", "ignore"));
    expect((await outcome(input, "api")).http).to.equal(409);
  });

  it("keeps the payer's words sent with a dispute already stored without them: DUPLICATE, nothing else changes", async function () {
    const payer = s.payers[2]!;
    const t = terms({ payer: payer.address });
    await store(await pay(t));
    const text = "The parcel never arrived.";
    const dispute = await action("dispute", t, payer, { reason: keccak256(toUtf8Bytes(text)) });
    const stored = await store(dispute);
    await storage.operations.update(stored.id, { status: "executed" });
    const before = (await storage.operations.get(stored.id))!;
    expect(before.op).to.not.have.property("reasonText");

    // Words that are not the signed reason are refused as before and not kept.
    expect((await outcome({ ...dispute, reasonText: "Something else." }, "gossip")).code).to.equal("REASON_MISMATCH");
    expect((await storage.operations.get(stored.id))!.op).to.not.have.property("reasonText");

    for (const path of PATHS) {
      const o = await outcome({ ...dispute, reasonText: text }, path);
      expect([o.code, o.gossip]).to.deep.equal(["DUPLICATE", "ignore"]);
    }
    const after = (await storage.operations.get(stored.id))!;
    expect(after.op).to.deep.equal({ ...before.op, reasonText: text });
    expect({ ...after, op: before.op, updatedAtMs: before.updatedAtMs }).to.deep.equal(before);
    expect(await storage.operations.listByStatus("accepted", 1_000)).to.not.deep.include(after);
  });

  it("ignores a different operation that reuses a stored nonce of the same signer", async function () {
    const t = terms({ payer: s.payers[1]!.address });
    await store(await pay(t));
    await store(await action("confirm", t, s.payers[1]!, { nonce: 4242n }));
    expect(await verdicts(await action("dispute", t, s.payers[1]!, { nonce: 4242n }))).to.deep.equal(both("NONCE_USED", "ignore"));
    // Nonces are per signer: the merchant may use the same number.
    expect((await outcome(await action("markFulfilled", t, s.merchants[0]!, { nonce: 4242n }), "api")).code).to.equal("ACCEPTED");
    // An arbiter's nonce is checked once the signature tells who signed.
    await store(await action("resolve", t, s.arbiter, { nonce: 99n }));
    expect(await verdicts(await action("resolve", t, s.arbiter, { nonce: 99n, payerAmount: 1n }))).to.deep.equal(both("NONCE_USED", "ignore"));
  });

  it("ignores an operation whose deadline has passed as EXPIRED", async function () {
    const past = BigInt(now() - 10);
    expect(await verdicts(await pay(terms({ payDeadline: past })))).to.deep.equal(both("EXPIRED", "ignore"));
    const t = terms();
    await store(await pay(t));
    expect(await verdicts(await action("confirm", t, s.payers[0]!, { deadline: past }))).to.deep.equal(both("EXPIRED", "ignore"));
  });

  it("ignores a pay whose payment is already indexed on-chain as ALREADY_EXECUTED", async function () {
    const t = terms();
    const paymentId = paymentIdOf(t, { chainId, escrow });
    const record: PaymentRecord = {
      paymentId,
      payer: t.payer,
      merchant: t.merchant,
      token,
      amount: t.amount.toString(),
      orderId: t.orderId,
      feeBps: t.feeBps,
      direct: false,
      status: "held",
      refunded: "0",
      deadline: now() + 3600,
      payerInstitution: s.institutions[0]!.address,
      merchantInstitution: s.institutions[0]!.address,
      paidAt: now(),
      paidBlock: 1,
      updatedAt: now(),
      events: [],
    };
    await storage.applyIndexBatch({ payments: [record], operations: [], cursor: 1 });
    expect(await verdicts(await pay(t))).to.deep.equal(both("ALREADY_EXECUTED", "ignore"));
    // Its follow-up operations are known through the index.
    expect((await outcome(await action("confirm", t, s.payers[0]!), "gossip")).code).to.equal("ACCEPTED");
  });

  it("refuses an operation on a payment this node has never seen: ignore on gossip, reject on the API", async function () {
    const input = await action("confirm", terms(), s.payers[0]!);
    expect(await verdicts(input)).to.deep.equal([
      ["UNKNOWN_PAYMENT", "reject"],
      ["UNKNOWN_PAYMENT", "ignore"],
    ]);
    expect((await outcome(input, "api")).http).to.equal(404);
  });

  // ---------------------------------------------------------------- registry state

  it("rejects an unknown merchant, an unknown payer, an unsupported token and a fee mismatch", async function () {
    const stranger = Wallet.createRandom();
    expect(await verdicts(await pay(terms({ merchant: stranger.address })))).to.deep.equal(both("UNKNOWN_MERCHANT", "reject"));
    expect(await verdicts(await pay(terms({ merchant: s.payers[3]!.address })))).to.deep.equal(both("UNKNOWN_MERCHANT", "reject"));
    expect(await verdicts(await pay(terms({ payer: stranger.address }), stranger))).to.deep.equal(both("UNKNOWN_PAYER", "reject"));
    expect(await verdicts(await pay(terms({ token: escrow })))).to.deep.equal(both("UNSUPPORTED_TOKEN", "reject"));
    expect(await verdicts(await pay(terms({ feeBps: 99 })))).to.deep.equal(both("FEE_MISMATCH", "reject"));
    // A merchant may pay another merchant.
    expect((await outcome(await pay(terms({ payer: s.merchants[1]!.address }), s.merchants[1]!), "api")).code).to.equal("ACCEPTED");
  });

  it("rejects payments to a merchant suspended on-chain, and from a suspended payer", async function () {
    const acquirer = s.contracts.registry.connect(s.institutions[0]!);
    const merchant = s.merchants[2]!.address;
    const payer = s.payers[2]!;
    const payerInstitution = s.contracts.registry.connect(s.institutions[0]!);
    await send(acquirer.setAccountStatus(merchant, 2));
    await send(payerInstitution.setAccountStatus(payer.address, 2));
    await view.refresh();
    expect(await verdicts(await pay(terms({ merchant })))).to.deep.equal(both("MERCHANT_SUSPENDED", "reject"));
    expect(await verdicts(await pay(terms({ payer: payer.address }), payer))).to.deep.equal(both("PAYER_SUSPENDED", "reject"));
    await send(acquirer.setAccountStatus(merchant, 1));
    await send(payerInstitution.setAccountStatus(payer.address, 1));
    await view.refresh();
    expect((await outcome(await pay(terms({ merchant, payer: payer.address }), payer), "api")).code).to.equal("ACCEPTED");
  });

  it("rejects a payment from a payer frozen on the token", async function () {
    const payer = s.payers[3]!;
    await send(s.token.connect(s.regulator).setFrozen(payer.address, true, encodeBytes32String("aml")));
    await view.refresh();
    const input = await pay(terms({ payer: payer.address }), payer);
    expect(await verdicts(input)).to.deep.equal(both("ACCOUNT_FROZEN", "reject"));
    expect((await outcome(input, "api")).http).to.equal(403);
    await send(s.token.connect(s.regulator).setFrozen(payer.address, false, encodeBytes32String("cleared")));
    await view.refresh();
    expect((await outcome(input, "api")).code).to.equal("ACCEPTED");
  });

  // ---------------------------------------------------------------- risk rules

  it("rejects a single payment over the amount limit on both paths", async function () {
    const rules = { maxPaymentAmount: 999n };
    expect(await verdicts(await pay(terms({ amount: 1_000n })), rules)).to.deep.equal(both("AMOUNT_OVER_LIMIT", "reject"));
    expect((await outcome(await pay(terms({ amount: 999n })), "gossip", rules)).code).to.equal("ACCEPTED");
  });

  it("rejects a blacklisted payer or merchant on both paths", async function () {
    const rules = { blacklist: [s.payers[0]!.address.toLowerCase()] };
    expect(await verdicts(await pay(terms()), rules)).to.deep.equal(both("BLACKLISTED", "reject"));
    expect(await verdicts(await pay(terms()), { blacklist: [s.merchants[0]!.address] })).to.deep.equal(both("BLACKLISTED", "reject"));
    expect((await outcome(await pay(terms({ payer: s.payers[1]!.address })), "api", rules)).code).to.equal("ACCEPTED");
  });

  it("refuses a payment over a daily limit: ignore on gossip (local view), reject on the API", async function () {
    for (const [rules, code, second] of [
      [{ payerDailyLimit: 1_500n }, "PAYER_DAILY_LIMIT", { merchant: s.merchants[1]!.address }],
      [{ merchantDailyLimit: 1_500n }, "MERCHANT_DAILY_LIMIT", { payer: s.payers[1]!.address }],
      [{ payerVelocity: { count: 1, windowSeconds: 60 } }, "VELOCITY_LIMIT", { merchant: s.merchants[1]!.address }],
    ] as const) {
      const risk = new RiskEngine(rules);
      const first = await validateOperation(await pay(terms()), ctx, "api", risk);
      risk.record(first.op, now());
      const next = await pay(terms(second));
      const api = await outcome(next, "api", risk);
      const gossip = await outcome(next, "gossip", risk);
      expect([api.code, api.gossip, gossip.code, gossip.gossip]).to.deep.equal([code, "reject", code, "ignore"]);
      expect(api.http).to.equal(OPERATION_CODES[code].http);
      // Another payer and merchant are not affected.
      expect((await outcome(await pay(terms({ payer: s.payers[1]!.address, merchant: s.merchants[1]!.address })), "gossip", risk)).code).to.equal("ACCEPTED");
    }
  });

  it("limits a customer by its KYC level from node.json's rules: reject on the API, ignore on gossip; others keep today's rules", async function () {
    const token = await s.token.getAddress();
    // node.json's form (decimal strings), as the config loader parses it.
    const rules = riskConfigSchema.parse({ kycLimits: { "1": { [token]: { single: "1500", daily: "2500" } }, "2": { [token]: { single: "1" } } } });
    const levelOf = (account: string) => {
      const known = view.account(account);
      return known?.kind === "customer" ? known.kycLevel : undefined;
    };
    expect(levelOf(s.payers[0]!.address)).to.equal(1);
    const risk = new RiskEngine(rules, levelOf);
    const over = await pay(terms({ amount: 1_501n }));
    const api = await outcome(over, "api", risk);
    const gossip = await outcome(over, "gossip", risk);
    expect([api.code, api.gossip, api.http, gossip.code, gossip.gossip]).to.deep.equal(["KYC_LIMIT_EXCEEDED", "reject", 422, "KYC_LIMIT_EXCEEDED", "ignore"]);
    expect(api.error?.meta).to.deep.include({ kycLevel: 1, limit: "1500", amount: "1501" });

    const first = await validateOperation(await pay(terms({ amount: 1_500n })), ctx, "api", risk);
    risk.record(first.op, now());
    const second = await outcome(await pay(terms({ amount: 1_001n })), "api", risk);
    expect([second.code, second.error?.meta["total"], second.error?.meta["limit"]]).to.deep.equal(["KYC_DAILY_LIMIT_EXCEEDED", "2501", "2500"]);
    expect((await outcome(await pay(terms({ amount: 1_000n })), "api", risk)).code).to.equal("ACCEPTED");

    // A payer that is not a registered customer (a merchant paying) has no KYC limit.
    expect(levelOf(s.merchants[1]!.address)).to.equal(undefined);
    expect((await outcome(await pay(terms({ payer: s.merchants[1]!.address, amount: 5_000n }), s.merchants[1]!), "api", risk)).code).to.equal("ACCEPTED");

    // New rules apply from the next check on; today's totals stay.
    risk.apply(riskConfigSchema.parse({ kycLimits: { "1": { [token]: { single: "10000" } } } }));
    expect((await outcome(over, "api", risk)).code).to.equal("ACCEPTED");
    expect(risk.totals(token, s.payers[0]!.address, now()).paid).to.equal(1_500n);
  });

  it("counts day totals per UTC day and forgets old days", function () {
    const risk = new RiskEngine({ payerDailyLimit: 1_500n });
    const op = escrowOperationSchema.parse({ kind: "pay", terms: termsToJson(terms()), signature: "0x" + "11".repeat(65) });
    const day = 86_400 * 20_000;
    risk.record(op, day + 100);
    expect(() => risk.check(op, day + 86_399, "gossip")).to.throw().with.property("code", "PAYER_DAILY_LIMIT");
    expect(() => risk.check(op, day + 86_400, "gossip")).to.not.throw();
    for (let d = 1; d <= 5; d++) risk.record(op, day + d * 86_400);
    expect(risk.totals(op.terms.token, op.terms.payer, day + 5 * 86_400).paid).to.equal(1_000n);
    // Only today and yesterday are kept, for the payer and the merchant.
    expect(risk.size).to.equal(4);
  });

  it("counts day totals per UTC day of chain time when the chain clock is known", function () {
    const day = 86_400 * 20_000;
    let chainNow: number | undefined = day + 100;
    const risk = new RiskEngine({ payerDailyLimit: 1_500n }, undefined, () => chainNow);
    const op = escrowOperationSchema.parse({ kind: "pay", terms: termsToJson(terms()), signature: "0x" + "11".repeat(65) });
    // This node's own clock is a day ahead of the chain: the chain's day counts.
    risk.record(op, day + 86_400 + 100);
    expect(() => risk.check(op, day + 86_400 + 200, "gossip")).to.throw().with.property("code", "PAYER_DAILY_LIMIT");
    chainNow = day + 86_400;
    expect(() => risk.check(op, day + 86_400 + 200, "gossip")).to.not.throw();
    // Unknown chain time (not yet polled): the node's own clock.
    chainNow = undefined;
    expect(() => risk.check(op, day + 200, "gossip")).to.throw().with.property("code", "PAYER_DAILY_LIMIT");
  });

  // ---------------------------------------------------------------- outcome mapping

  it("answers INTERNAL (ignore, 500) when this node's storage fails, never penalising the sender", async function () {
    const brokenDir = await mkdtemp(join(tmpdir(), "settlenet-validation-closed-"));
    const broken = await openStorage(brokenDir);
    await broken.close();
    try {
      const input = await pay(terms());
      const o = await mapper.settle("gossip", validateOperation(input, { ...ctx, storage: broken }, "gossip", new RiskEngine({})));
      expect([o.code, o.gossip, o.http]).to.deep.equal(["INTERNAL", "ignore", 500]);
    } finally {
      await rm(brokenDir, { recursive: true, force: true });
    }
  });

  it("counts every outcome by path, result and code", async function () {
    const metric = await metrics.getSingleMetricAsString("settlenet_operations_validated_total");
    const count = (labels: string) => Number(new RegExp(`\\{${labels}\\} (\\d+)`).exec(metric)?.[1] ?? 0);
    expect(count('path="gossip",result="reject",code="BAD_SIGNATURE"')).to.be.greaterThan(0);
    expect(count('path="api",result="reject",code="UNKNOWN_PAYMENT"')).to.be.greaterThan(0);
    expect(count('path="gossip",result="ignore",code="UNKNOWN_PAYMENT"')).to.be.greaterThan(0);
    expect(count('path="api",result="accept",code="ACCEPTED"')).to.be.greaterThan(0);
    // A second mapper on the same registry shares the counter.
    const before = count('path="api",result="reject",code="MALFORMED"');
    new OutcomeMapper({ logger: pino({ level: "silent" }), metrics }).map("api", { status: "rejected", reason: (await outcome("{", "api")).error });
    const after = await metrics.getSingleMetricAsString("settlenet_operations_validated_total");
    expect(Number(new RegExp('\\{path="api",result="reject",code="MALFORMED"\\} (\\d+)').exec(after)?.[1])).to.equal(before + 2);
  });
});

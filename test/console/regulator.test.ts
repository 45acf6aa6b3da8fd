/**
 * The regulator console and the arbiter view in a real Chromium against a real network: a chain, two
 * institution nodes and a regulator node (processes), a gateway in this process on institution 0's
 * node. A large payment through the gateway raises the LARGE_VALUE alert the way the demo does; a
 * regulator signs in with TOTP, finds it, acknowledges it, freezes the payer with the regulator key
 * (a keystore file decrypted in the page), after which the gateway refuses that payer with
 * ACCOUNT_FROZEN; verifies a settlement record's Merkle proof against the ledger's root; follows a
 * payment's history; lifts the freeze. An arbiter resolves a dispute with a split signed in the page.
 * Any page error or console error fails a test. Writes regulator-*.png and arbiter-*.png to
 * docs/screenshots/.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { encryptKeystoreJson, hexlify, randomBytes, type HDNodeWallet, type Wallet } from "ethers";
import type { Browser, Page } from "playwright-core";

import { disputeReasonOf } from "../../core/operations/dispute.js";
import { signEscrowOperation, termsToJson } from "../../core/operations/index.js";
import { gatewayFixture, merchantRequests, type GatewayFixture, type TestMerchant } from "../gateway/fixture.js";
import { getJson, nodeApi, waitFor, waitForOperation } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";
import { DESKTOP, SCREENSHOTS, checkPagesLeftOpen, launchConsoleBrowser, type WatchedPage } from "../helpers/browser.js";
import { launchConsoleNetwork, signedInConsole, type ConsoleNetwork } from "./node-helpers.js";

/** Bounds only how long a page may take to show a state (the chain and the nodes are real). */
const SHOWN = { timeout: 120_000 };
const CYCLE = 60;
const LARGE = "2000000";
const KEY_PASSWORD = "console test keystore password";

describe("console: regulator console and arbiter view in Chromium (chain, nodes, gateway)", function () {
  this.timeout(600_000);
  let net: ConsoleNetwork;
  let gw: GatewayFixture;
  let browser: Browser;
  let watched: WatchedPage | undefined;
  let keys: string;
  const requests = merchantRequests(
    () => gw,
    () => gw.merchants[0] as TestMerchant,
  );

  /** A keystore file of `wallet` (scrypt kept light: the test decrypts it in a page). */
  const keystoreOf = async (name: string, wallet: Wallet | HDNodeWallet) => {
    const file = join(keys, `${name}.json`);
    await writeFile(file, await encryptKeystoreJson({ address: wallet.address, privateKey: wallet.privateKey }, KEY_PASSWORD, { scrypt: { N: 1 << 10 } }));
    return file;
  };
  const unlock = async (page: Page, file: string) => {
    await page.getByLabel("Your keystore file (JSON)").setInputFiles(file);
    await page.getByLabel("Keystore password").fill(KEY_PASSWORD);
    await page.getByRole("button", { name: "Unlock key" }).click();
    await page.getByText(/^Signing as 0x/).waitFor(SHOWN);
  };

  before(async function () {
    browser = await launchConsoleBrowser();
    keys = await mkdtemp(join(tmpdir(), "settlenet-console-keys-"));
    net = await launchConsoleNetwork({
      institutions: 2,
      merchants: 1,
      payers: 2,
      config: {
        compliance: { aml: { pollIntervalMs: 200, largeValue: { threshold: "1000000" } } },
        settlement: { cycleSeconds: CYCLE, tickMs: 300, finalizeFailoverMs: 2_000, rebroadcastMs: 1_000 },
      },
      users: {
        "inspector@regulator.example": { role: "regulator", node: "regulator" },
        "arbiter@arbitration.example": { role: "arbiter", node: "institution-1" },
      },
    });
    gw = await gatewayFixture({ scenario: net.net.scenario, nodeUrl: net.node("institution-0").apiUrl });
  });
  afterEach(() => checkPagesLeftOpen(browser));
  after(async function () {
    await browser?.close();
    await gw?.close();
    await net?.net.stop();
    if (keys) await rm(keys, { recursive: true, force: true });
  });

  const user = (email: string) => net.user(email);
  /** Moves chain time into the next cycle, so that the cycle holding `block` closes. */
  const closeCycleOf = async (block: number) => {
    const { provider } = net.net.chain;
    const at = (await provider.getBlock(block))?.timestamp ?? 0;
    const next = (Math.floor(at / CYCLE) + 1) * CYCLE;
    const now = (await provider.getBlock("latest"))?.timestamp ?? 0;
    await provider.send("evm_setNextBlockTimestamp", [Math.max(next, now + 1)]);
    await provider.send("evm_mine", []);
    return BigInt(Math.floor(at / CYCLE));
  };

  it("lets a regulator find the large-value alert, acknowledge it, freeze the payer (the gateway then refuses it ACCOUNT_FROZEN), verify a Merkle proof, follow the payment's history and lift the freeze", async function () {
    const s = net.net.scenario;
    const payer = s.payers[0] as Wallet | HDNodeWallet;
    const large = await requests.paidOrder<{ id: string; status: string; typedData: null; paymentId: string }>(payer, "large-1", { amount: LARGE });
    const regulatorNode = net.node("regulator");
    await waitFor(
      "the regulator node to hold the LARGE_VALUE alert",
      async () => (await nodeApi(regulatorNode).alerts({ rule: "LARGE_VALUE", account: payer.address })).items.find((a) => a.paymentIds.includes(large.paymentId.toLowerCase())),
      120_000,
    );

    watched = await signedInConsole(browser, net, user("inspector@regulator.example"));
    const { page } = watched;
    await page.setViewportSize(DESKTOP);
    await page.getByRole("link", { name: /^Large-value payment: ¥20,000\.00$/ }).click();
    await page.getByRole("heading", { name: "Large-value payment" }).waitFor();
    await page.getByText(payer.address).first().waitFor();

    await page.getByLabel("Note (what was reviewed, what follows)").fill("Reviewed: single ¥20,000.00 payment, payer frozen pending KYC review");
    await page.getByRole("button", { name: "Acknowledge" }).click();
    await page.getByText(/^Acknowledged by user:usr_.*inspector@regulator\.example/).waitFor(SHOWN);

    await page.getByText("The account is not frozen.").waitFor(SHOWN);
    await unlock(page, await keystoreOf("regulator", s.regulator));
    await page.getByRole("button", { name: "Sign and freeze the account" }).click();
    await page.getByText(/^Executed on-chain in block \d+/).waitFor(SHOWN);
    await page.getByText("The account is frozen.").waitFor(SHOWN);
    expect(await s.token.isFrozen(payer.address)).to.equal(true);
    await page.screenshot({ path: join(SCREENSHOTS, "regulator-alert-freeze.png"), fullPage: true });

    // The acquiring node has seen the freeze: the gateway refuses the payer's next authorization.
    const head = await net.net.chain.provider.getBlockNumber();
    await waitFor("institution 0's registry mirror to reach the freeze", async () => (await getJson<{ chain: { registry: number } }>(`${net.node("institution-0").apiUrl}/health`)).body.chain.registry >= head);
    const { order, signature } = await requests.signedOrder<{ id: string; status: string; typedData: null }>(payer, "after-freeze");
    const refused = await requests.post<{ code: string }>(`/v1/payments/${order.id}/authorization`, { signature });
    expect([refused.status, refused.body.code]).to.deep.equal([403, "ACCOUNT_FROZEN"]);

    // A settlement record's proof: the deployment's deposits close into a finalized cycle.
    const mints = await s.token.queryFilter(s.token.filters.Minted());
    const cycle = await closeCycleOf(mints.at(-1)?.blockNumber ?? 0);
    await waitFor(`cycle ${cycle} finalized on the regulator node`, async () => (await nodeApi(regulatorNode).cycle(cycle.toString()))?.status === "finalized", 120_000);
    await page.getByRole("navigation").getByRole("link", { name: "Settlement" }).click();
    await page.getByRole("link", { name: `Cycle ${cycle} (finalized)` }).click();
    await page.getByRole("button", { name: "Verify proof" }).first().click();
    await page.getByText("Verified: the record is in the cycle the ledger finalized.").waitFor(SHOWN);
    const onChainRoot = (await s.contracts.ledger.cycleOf(cycle)).merkleRoot;
    expect(await page.getByRole("region", { name: /Merkle proof/ }).textContent()).to.include(onChainRoot);
    await page.screenshot({ path: join(SCREENSHOTS, "regulator-merkle-proof.png"), fullPage: true });

    // The large payment's history, found by the payer's account.
    await page.getByRole("navigation").getByRole("link", { name: "Audit" }).click();
    await page.getByLabel("Address").fill(payer.address);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: `${large.paymentId.slice(0, 10)}…` }).click();
    await page.getByRole("heading", { name: "pay — executed" }).waitFor(SHOWN);
    await page.getByText(/^PaymentPaid in block \d+/).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "regulator-payment-history.png"), fullPage: true });

    await page.getByRole("navigation").getByRole("link", { name: "Reserves" }).click();
    await page.getByRole("img", { name: /Attested reserves and outstanding supply/ }).waitFor(SHOWN);
    await page.screenshot({ path: join(SCREENSHOTS, "regulator-reserves.png"), fullPage: true });

    // Review done: the regulator lifts the freeze from the alert's page.
    await page.getByRole("navigation").getByRole("link", { name: "Alerts" }).click();
    await page.getByLabel("Show").selectOption("acknowledged");
    await page.getByRole("link", { name: /^Large-value payment: ¥20,000\.00$/ }).click();
    await page.getByText("The account is frozen.").waitFor(SHOWN);
    await unlock(page, await keystoreOf("regulator-again", s.regulator));
    await page.getByRole("button", { name: "Sign and lift the freeze" }).click();
    await page.getByText("The account is not frozen.").waitFor(SHOWN);
    expect(await s.token.isFrozen(payer.address)).to.equal(false);
  });

  /** A payment of `amount` paid at institution 0 and disputed by its payer with `words` (sent with the signed reason). */
  async function disputedPayment(amount: bigint, words: string) {
    const s = net.net.scenario;
    const payer = s.payers[1] as Wallet | HDNodeWallet;
    const terms = await termsFor(s, 1, 0, { amount });
    const { op, paymentId } = await signedPay(s, terms);
    const institution = nodeApi(net.node("institution-0"));
    const paid = await institution.submit(op);
    if (!paid.accepted) throw new Error(`pay refused: ${paid.problem.code}`);
    await waitForOperation(net.net.nodes, paid.id, "executed", 60_000);
    const ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
    const now = (await net.net.chain.provider.getBlock("latest"))?.timestamp ?? 0;
    const dispute = await signEscrowOperation(
      payer,
      { kind: "dispute", terms: termsToJson(terms), reason: disputeReasonOf(words), nonce: BigInt(hexlify(randomBytes(16))).toString(), deadline: String(now + 3_600) },
      ctx,
    );
    const disputed = await institution.submit({ ...dispute, reasonText: words });
    if (!disputed.accepted) throw new Error(`dispute refused: ${disputed.problem.code}`);
    await waitForOperation(net.net.nodes, disputed.id, "executed", 60_000);
    // The node takes notes on payments it has indexed as disputed (the operation's outcome comes first).
    await waitFor("the dispute indexed at institution 0", async () => (await institution.payment(paymentId))?.payment?.status === "disputed", 60_000);
    return { s, institution, paymentId, ctx };
  }

  it("lets an arbiter see the merchant's note from another institution's node and resolve the dispute with a split in exact yuan, signed in the page, and shows the result on-chain", async function () {
    // Longer than a bytes32 string: the chain has only its hash, the arbiter reads the words the nodes kept.
    const words = "Item never arrived: the courier left it at a parcel locker in another city";
    const { s, institution, paymentId, ctx } = await disputedPayment(12_345n, words);
    // The merchant's note, signed with its key and submitted at institution 0 as its gateway does; the
    // arbiter reads it at institution 1, where it arrived by gossip.
    const { signDisputeNote } = await import("../../core/protocol/dispute-note.js");
    const noteText = "Delivered 3 Dec; the courier's photo shows the parcel at the door.";
    const note = await signDisputeNote(s.merchants[0] as Wallet | HDNodeWallet, { paymentId, text: noteText, evidence: ["SF1234567890"], createdAtMs: Date.now() }, ctx);
    expect((await institution.submitDisputeNote(note)).created).to.equal(true);

    watched = await signedInConsole(browser, net, user("arbiter@arbitration.example"));
    const { page } = watched;
    await page.setViewportSize(DESKTOP);
    const card = page.getByRole("article", { name: `Disputed payment ${paymentId.slice(0, 10)}…` });
    await card.getByText(words, { exact: true }).waitFor(SHOWN);
    await card.getByText(noteText, { exact: true }).waitFor(SHOWN);
    await card.getByText("Evidence: SF1234567890").waitFor();
    await card.getByText("¥123.45").first().waitFor();
    await unlock(page, await keystoreOf("arbiter", s.arbiter));
    await card.getByLabel(/^Back to the payer, in yuan/).fill("23.40");
    await card.getByText("To the merchant (before its fee): ¥100.05").waitFor();
    await card.getByLabel("Reason for the decision").fill("Partial delivery: payer keeps ¥23.40");
    await page.screenshot({ path: join(SCREENSHOTS, "arbiter-dispute.png"), fullPage: true });
    await card.getByRole("button", { name: "Sign and resolve" }).click();
    await card.getByText(/^Resolved on-chain: ¥23\.40 to the payer, in block \d+/).waitFor(SHOWN);
    const onChain = await s.contracts.escrow.paymentOf(paymentId);
    expect(onChain.status).to.equal(6n);
    await page.screenshot({ path: join(SCREENSHOTS, "arbiter-resolved.png"), fullPage: true });
  });

  it("shows a regulator, in a disputed payment's history, the payer's reason in words and the merchant's notes, as text", async function () {
    // Markup in the words must show as text, never become HTML.
    const words = "Wrong colour <b>sent</b> & the box was open when it arrived";
    const { s, institution, paymentId, ctx } = await disputedPayment(2_000n, words);
    const { signDisputeNote } = await import("../../core/protocol/dispute-note.js");
    const noteText = "We sent the colour ordered; photo of the packed box attached.";
    await institution.submitDisputeNote(await signDisputeNote(s.merchants[0] as Wallet | HDNodeWallet, { paymentId, text: noteText, evidence: ["IMG-0042"], createdAtMs: Date.now() }, ctx));
    await waitFor("the note at the regulator's node", async () => ((await nodeApi(net.node("regulator")).paymentHistory(paymentId))?.disputeNotes.length ?? 0) > 0, 60_000);

    watched = await signedInConsole(browser, net, user("inspector@regulator.example"), `/console/regulator/payments/${paymentId}`);
    const { page } = watched;
    await page.getByRole("heading", { name: "dispute — executed" }).waitFor(SHOWN);
    await page.getByText(words, { exact: true }).waitFor(SHOWN);
    expect(await page.locator("b", { hasText: "sent" }).count()).to.equal(0);
    await page.getByRole("heading", { name: "Merchant's notes on the dispute" }).waitFor();
    await page.getByText(noteText, { exact: true }).waitFor();
    await page.getByText("Evidence: IMG-0042").waitFor();
  });
});

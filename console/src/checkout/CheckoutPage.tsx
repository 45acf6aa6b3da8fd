/**
 * The hosted checkout: what the payer pays, to whom and on what escrow terms; the payer connects a
 * browser wallet, allows the escrow first when needed (ERC-2612 permit), signs the payment and watches
 * it until it is held on-chain; afterwards confirms receipt, disputes with a reason or reclaims when
 * due, each by wallet signature. Refusals are shown in words, from their stable codes.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { ApiError, checkoutApi, type CheckoutAction, type CheckoutView } from "../api/checkout.ts";
import { Alert } from "../components/Alert.tsx";
import { durationParts, formatMinorUnits } from "../format.ts";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { WalletError, hasWallet, onAccountsChanged, requestAccount, signTypedData, walletChainId } from "../wallet/eip1193.ts";

/** States after which nothing changes any more: the page stops polling. */
const FINAL = new Set(["released", "refunded", "resolved", "reclaimed", "cancelled", "expired", "failed"]);
const POLL_MS = 1_500;

export function CheckoutPage({ id }: { id: string }) {
  const { t, locale } = useI18n();
  const queryClient = useQueryClient();
  const query = useQuery({
    queryKey: ["checkout", id],
    queryFn: () => checkoutApi.view(id),
    refetchInterval: (q) => (q.state.data && (FINAL.has(q.state.data.status) || q.state.data.expired) ? false : POLL_MS),
    retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 3,
  });
  const [account, setAccount] = useState<string>();
  const [problem, setProblem] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [reason, setReason] = useState("");

  useEffect(() => onAccountsChanged((accounts) => setAccount(accounts[0])), []);

  const view = query.data;
  const status = view?.status;
  // A notice about a submission is over once the payment's state moves on.
  useEffect(() => setNotice(undefined), [status]);
  const money = (amount: string) => (view ? formatMinorUnits(amount, view.decimals, view.currency) : amount);
  const period = (seconds: number) => {
    const { unit, count } = durationParts(seconds);
    return count === 1 ? t(`duration.${unit}.one`) : t(`duration.${unit}`, { count });
  };
  const time = (iso: string) => new Date(iso).toLocaleString(locale);

  /** A refusal or failure in words. */
  const words = (error: unknown): string => {
    if (error instanceof WalletError) return t(error.reason === "none" ? "wallet.none" : error.reason === "rejected" ? "wallet.rejected" : "error.unknown", { code: "WALLET" });
    if (error instanceof ApiError) {
      if (error.code === "NETWORK") return t("error.network");
      if (error.code === "WRONG_NETWORK") return t("wallet.wrongNetwork", { actual: String(error.meta["actual"]), expected: String(error.meta["expected"]) });
      if (error.code === "PAYER_INSUFFICIENT_BALANCE") {
        return t("error.PAYER_INSUFFICIENT_BALANCE", { amount: money(String(error.meta["amount"] ?? view?.amount ?? "0")) });
      }
      const key = `error.${error.code}` as MessageKey;
      if (key in KNOWN_ERRORS) return t(key);
      return t("error.unknown", { code: error.code });
    }
    return t("error.unknown", { code: "CLIENT" });
  };

  /** Runs a wallet-and-API step: one at a time, its refusal shown in words, the view refreshed after. */
  const step = async (run: () => Promise<string | undefined>) => {
    setBusy(true);
    setProblem(undefined);
    setNotice(undefined);
    try {
      const done = await run();
      if (done) setNotice(done);
    } catch (error) {
      setProblem(words(error));
    } finally {
      setBusy(false);
      await queryClient.invalidateQueries({ queryKey: ["checkout", id] });
    }
  };

  const connect = () =>
    step(async () => {
      setAccount(await requestAccount());
      return undefined;
    });

  const requireNetwork = async (expected: number) => {
    const actual = await walletChainId();
    if (actual !== expected) throw new NetworkMismatch(actual, expected);
  };

  const permit = (v: CheckoutView, from: string) =>
    step(async () => {
      const payload = await checkoutApi.permitPayload(v.id);
      await requireNetwork(payload.typedData.domain.chainId);
      const signature = await signTypedData(from, payload.typedData);
      await checkoutApi.permit(v.id, { value: payload.value, deadline: payload.deadline, signature });
      return t("pay.permit.done");
    });

  const pay = (v: CheckoutView, from: string) =>
    step(async () => {
      if (!v.typedData) return undefined;
      await requireNetwork(v.typedData.domain.chainId);
      const signature = await signTypedData(from, v.typedData);
      queryClient.setQueryData(["checkout", id], await checkoutApi.authorize(v.id, signature));
      return t("pay.submitted");
    });

  const act = (v: CheckoutView, from: string, action: CheckoutAction) =>
    step(async () => {
      const payload = await checkoutApi.actionPayload(v.id, action, action === "dispute" ? reason : undefined);
      await requireNetwork(payload.typedData.domain.chainId);
      const signature = await signTypedData(from, payload.typedData);
      const body = { nonce: payload.nonce, deadline: payload.deadline, signature, ...(action === "dispute" ? { reason } : {}) };
      queryClient.setQueryData(["checkout", id], await checkoutApi.submitAction(v.id, action, body));
      return t("after.submitted");
    });

  if (query.isPending) return <p role="status">{t("loading")}</p>;
  if (query.isError || !view) return <Alert text={words(query.error)} />;

  const wrongAccount = account !== undefined && account.toLowerCase() !== view.payer.toLowerCase();
  const awaiting = view.status === "awaiting_authorization" && !view.expired;
  const payerAccount = view.payerAccount;
  const short = payerAccount !== null && !payerAccount.balanceSufficient;
  const canAct = account !== undefined && !wrongAccount && !busy;

  return (
    <article className="checkout" aria-labelledby="checkout-title">
      <h1 id="checkout-title">{t("checkout.title", { merchant: view.merchantName })}</h1>
      <p className="amount" aria-label={t("checkout.amount")}>
        {money(view.amount)}
      </p>
      <dl className="facts">
        <dt>{t("checkout.merchantAccount")}</dt>
        <dd className="address">{view.merchantAccount}</dd>
        <dt>{t("checkout.orderRef")}</dt>
        <dd>{view.merchantOrderId}</dd>
        {view.description ? (
          <>
            <dt>{t("checkout.description")}</dt>
            <dd>{view.description}</dd>
          </>
        ) : null}
        <dt>{t("checkout.payer")}</dt>
        <dd className="address">{view.payer}</dd>
        {view.status === "awaiting_authorization" ? (
          <>
            <dt>{t("checkout.expiresAt")}</dt>
            <dd>{time(view.expiresAt)}</dd>
          </>
        ) : null}
      </dl>

      <section aria-labelledby="terms-title" className="card">
        <h2 id="terms-title">{t("checkout.terms")}</h2>
        {view.mode === "direct" ? (
          <p>{t("checkout.terms.direct")}</p>
        ) : (
          <ul>
            <li>{t("checkout.terms.escrow.hold")}</li>
            <li>{t("checkout.terms.fulfilment", { period: period(view.terms.fulfilmentPeriodSeconds) })}</li>
            <li>{t("checkout.terms.autoRelease", { period: period(view.terms.autoReleasePeriodSeconds) })}</li>
            <li>{t("checkout.terms.refund", { period: period(view.terms.refundPeriodSeconds) })}</li>
          </ul>
        )}
      </section>

      <section aria-labelledby="status-title" className="card">
        <h2 id="status-title">{t("checkout.status")}</h2>
        <p className="status" role="status" aria-live="polite" data-status={view.expired ? "expired" : view.status}>
          {t(view.expired ? "status.expired" : `status.${view.status}`)}
        </p>
        {view.status === "held" || view.status === "fulfilled" ? <p>{t("pay.held")}</p> : null}
      </section>

      {problem ? <Alert text={problem} /> : null}
      {notice ? <Alert text={notice} kind="info" /> : null}
      {view.expired ? <Alert text={t("error.expired", { time: time(view.expiresAt) })} /> : null}

      {awaiting || view.actions.confirm || view.actions.dispute || view.actions.reclaim ? (
        <section aria-label={t("wallet.connect")} className="card wallet">
          {account === undefined ? (
            <>
              {!hasWallet() ? <Alert text={t("wallet.none")} /> : null}
              <button type="button" onClick={() => void connect()} disabled={busy || !hasWallet()}>
                {t("wallet.connect")}
              </button>
            </>
          ) : (
            <p className="address">{t("wallet.connected", { account })}</p>
          )}
          {wrongAccount ? <Alert text={t("wallet.wrongAccount", { payer: view.payer, account })} /> : null}

          {awaiting && account !== undefined && !wrongAccount && payerAccount ? (
            <>
              {payerAccount.frozen ? <Alert text={t("error.ACCOUNT_FROZEN")} /> : null}
              {short ? <Alert text={t("error.PAYER_INSUFFICIENT_BALANCE", { amount: money(view.amount) })} /> : null}
              {!payerAccount.frozen && !short && !payerAccount.allowanceSufficient ? (
                <>
                  <p>{t("pay.permit.explain")}</p>
                  <button type="button" onClick={() => void permit(view, account)} disabled={!canAct}>
                    {t("pay.permit.sign")}
                  </button>
                </>
              ) : null}
              {!payerAccount.frozen && !short && payerAccount.allowanceSufficient ? (
                <button type="button" className="primary" onClick={() => void pay(view, account)} disabled={!canAct} aria-busy={busy}>
                  {busy ? t("pay.signing") : t("pay.sign", { amount: money(view.amount) })}
                </button>
              ) : null}
            </>
          ) : null}

          {account !== undefined && !wrongAccount && (view.actions.confirm || view.actions.dispute || view.actions.reclaim) ? (
            <div className="after" aria-labelledby="after-title">
              <h2 id="after-title">{t("after.title")}</h2>
              {view.actions.confirm ? (
                <>
                  <p>{t("after.confirm.explain")}</p>
                  <button type="button" className="primary" onClick={() => void act(view, account, "confirm")} disabled={!canAct}>
                    {t("after.confirm")}
                  </button>
                </>
              ) : null}
              {view.actions.dispute ? (
                <form
                  onSubmit={(event) => {
                    event.preventDefault();
                    void act(view, account, "dispute");
                  }}
                >
                  <label htmlFor="dispute-reason">{t("after.dispute.reason")}</label>
                  <textarea id="dispute-reason" required maxLength={200} value={reason} onChange={(event) => setReason(event.target.value)} />
                  <button type="submit" disabled={!canAct || reason.trim() === ""}>
                    {t("after.dispute")}
                  </button>
                </form>
              ) : null}
              {view.actions.reclaim ? (
                <>
                  <p>{t("after.reclaim.explain")}</p>
                  <button type="button" onClick={() => void act(view, account, "reclaim")} disabled={!canAct}>
                    {t("after.reclaim")}
                  </button>
                </>
              ) : null}
            </div>
          ) : null}
        </section>
      ) : null}
    </article>
  );
}

/** The error codes that have their own words in the catalogue. */
const KNOWN_ERRORS: Partial<Record<MessageKey, true>> = {
  "error.ORDER_EXPIRED": true,
  "error.ACCOUNT_FROZEN": true,
  "error.PAYER_ALLOWANCE_MISSING": true,
  "error.BAD_SIGNATURE": true,
  "error.PAYMENT_NOT_FOUND": true,
  "error.RATE_LIMITED": true,
  "error.INVALID_PAYMENT_STATUS": true,
  "error.RECLAIM_NOT_DUE": true,
  "error.ALREADY_AUTHORIZED": true,
};

class NetworkMismatch extends ApiError {
  constructor(actual: number, expected: number) {
    super("WRONG_NETWORK", 0, `wallet on chain ${actual}, expected ${expected}`, { actual, expected });
  }
}

/**
 * One payment: its facts, its timeline (each operation the gateway submitted for it: what, who signs
 * it, operation id, state, time), its events with their webhook deliveries, and the merchant's actions — fulfil, refund part or all, cancel —
 * each behind a confirmation step, refusals in words by their code. Each confirmed action carries
 * one Idempotency-Key, so a retry after a lost answer cannot act twice.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { ApiError, dashboardApi, type DashboardUser, type Payment } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { decimalsOf, formatMinorUnits, parseMajorUnits } from "../format.ts";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useErrorText } from "./errors.ts";
import { PaymentEvents } from "./PaymentEvents.tsx";
import { money } from "./PaymentsPage.tsx";
import { Link } from "./router.tsx";

/** The states in which the escrow takes a refund (held or fulfilled: from escrow; released: from the merchant, within the window). */
const REFUNDABLE = new Set<Payment["status"]>(["held", "fulfilled", "released"]);

type Action = { kind: "fulfil" } | { kind: "cancel" } | { kind: "refund"; amount: bigint; reason: string };

interface Step {
  what: MessageKey;
  signer: MessageKey;
  operationId: string;
  status: string;
  at: string;
  detail?: string;
  error?: string;
  execution: NonNullable<Payment["authorization"]>["execution"];
}

function timelineOf(p: Payment, t: ReturnType<typeof useI18n>["t"]): Step[] {
  const steps: Step[] = [];
  const op = (what: MessageKey, signer: MessageKey, s: NonNullable<Payment["authorization"]>, detail?: string) =>
    steps.push({ what, signer, operationId: s.operationId, status: s.status, at: s.submittedAt, execution: s.execution, ...(detail ? { detail } : {}), ...(s.error ? { error: s.error.code } : {}) });
  if (p.authorization) op("dash.timeline.authorization", "dash.signer.payer", p.authorization);
  if (p.fulfilment) op("dash.timeline.fulfilment", "dash.signer.merchant", p.fulfilment);
  if (p.autoRelease) op("dash.timeline.autoRelease", "dash.signer.gateway", p.autoRelease);
  for (const r of p.refunds) op("dash.timeline.refund", "dash.signer.merchant", r, t("dash.timeline.refundDetail", { amount: money(r.amount, p.currency), reason: r.reason }));
  return steps.sort((a, b) => a.at.localeCompare(b.at));
}

export function PaymentPage({ id, role }: { id: string; role: DashboardUser["role"] }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const key = ["dashboard", "payment", id];
  const payment = useQuery({
    queryKey: key,
    queryFn: () => dashboardApi.payment(id),
    retry: false,
    // Submitted operations settle on-chain: keep the page current while one is pending.
    refetchInterval: (query) => (hasPending(query.state.data) ? 2_000 : false),
  });
  const [pending, setPending] = useState<{ action: Action; idempotencyKey: string } | undefined>();
  const [refundAmount, setRefundAmount] = useState("");
  const [refundReason, setRefundReason] = useState("");
  const [invalid, setInvalid] = useState(false);
  const act = useMutation({
    mutationFn: async ({ action, idempotencyKey }: { action: Action; idempotencyKey: string }): Promise<Payment> => {
      if (action.kind === "fulfil") return dashboardApi.fulfil(id, idempotencyKey);
      if (action.kind === "cancel") return dashboardApi.cancel(id, idempotencyKey);
      return (await dashboardApi.refund(id, { amount: action.amount.toString(), reason: action.reason }, idempotencyKey)).payment;
    },
    onSuccess: (updated) => {
      setPending(undefined);
      setRefundAmount("");
      setRefundReason("");
      queryClient.setQueryData(key, updated);
      void queryClient.invalidateQueries({ queryKey: ["dashboard", "payments"] });
    },
  });

  if (payment.isPending) return <p>{t("loading")}</p>;
  if (payment.isError) {
    const notFound = payment.error instanceof ApiError && payment.error.code === "PAYMENT_NOT_FOUND";
    return (
      <section className="card" aria-labelledby="payment-title">
        <h1 id="payment-title">{notFound ? t("dash.payment.notFound") : t("dash.payment.title")}</h1>
        {notFound ? <p>{t("dash.payment.notFoundText")}</p> : <Alert text={errorText(payment.error)} />}
        <Link to="/dashboard/payments">{t("dash.payment.back")}</Link>
      </section>
    );
  }
  const p = payment.data;
  const decimals = decimalsOf(p.currency);
  const left = BigInt(p.amount) - BigInt(p.refundedAmount) - p.refunds.filter((r) => r.status === "pending").reduce((sum, r) => sum + BigInt(r.amount), 0n);
  const mayAct = role !== "read-only";
  const ask = (action: Action) => {
    act.reset();
    setPending({ action, idempotencyKey: crypto.randomUUID() });
  };
  const askRefund = (event: FormEvent) => {
    event.preventDefault();
    const amount = parseMajorUnits(refundAmount, decimals);
    const ok = amount !== undefined && amount <= left && refundReason.trim() !== "";
    setInvalid(!ok);
    if (ok) ask({ kind: "refund", amount, reason: refundReason.trim() });
  };
  const question = (action: Action) =>
    action.kind === "refund"
      ? t("dash.confirm.refund", { amount: formatMinorUnits(action.amount, decimals, p.currency), order: p.merchantOrderId })
      : t(action.kind === "fulfil" ? "dash.confirm.fulfil" : "dash.confirm.cancel", { order: p.merchantOrderId });

  return (
    <section aria-labelledby="payment-title">
      <Link to="/dashboard/payments">{t("dash.payment.back")}</Link>
      <h1 id="payment-title">{t("dash.payment.heading", { order: p.merchantOrderId })}</h1>
      <p className="amount" aria-label={t("dash.payments.amount")}>
        {money(p.amount, p.currency)}
      </p>
      <p className="status" data-status={p.status}>
        {t(`dash.status.${p.status}`)}
      </p>
      <dl className="facts card">
        <dt>{t("dash.payment.id")}</dt>
        <dd className="address">{p.id}</dd>
        <dt>{t("dash.payments.payer")}</dt>
        <dd className="address">{p.payer}</dd>
        <dt>{t("dash.payment.refunded")}</dt>
        <dd aria-label={t("dash.payment.refunded")}>{money(p.refundedAmount, p.currency)}</dd>
        <dt>{t("dash.payment.fee")}</dt>
        <dd>{t("dash.payment.feeBps", { percent: formatMinorUnits(String(p.feeBps), 2) })}</dd>
        <dt>{t("dash.payment.mode")}</dt>
        <dd>{t(p.mode === "escrow" ? "dash.payment.mode.escrow" : "dash.payment.mode.direct")}</dd>
        <dt>{t("dash.payments.created")}</dt>
        <dd>{new Date(p.createdAt).toLocaleString()}</dd>
        <dt>{t("dash.payment.chainId")}</dt>
        <dd className="address">{p.paymentId}</dd>
        {p.description ? (
          <>
            <dt>{t("checkout.description")}</dt>
            <dd>{p.description}</dd>
          </>
        ) : null}
      </dl>
      {p.lastError ? <Alert text={t("dash.payment.lastError", { code: p.lastError.code, message: p.lastError.message })} /> : null}

      <section className="card" aria-labelledby="timeline-title">
        <h2 id="timeline-title">{t("dash.timeline.title")}</h2>
        <ol className="timeline">
          <li>
            <strong>{t("dash.timeline.created")}</strong> — {new Date(p.createdAt).toLocaleString()}
          </li>
          {timelineOf(p, t).map((s) => (
            <li key={s.operationId} data-operation={s.operationId}>
              <strong>{t(s.what)}</strong> — {t(`dash.opStatus.${s.status}` as MessageKey)}
              {s.detail ? <div>{s.detail}</div> : null}
              <div>
                {t("dash.timeline.signer")}: {t(s.signer)} · {new Date(s.at).toLocaleString()}
              </div>
              <div className="address">
                {t("dash.timeline.operation")}: {s.operationId}
              </div>
              {s.execution ? (
                <div className="address" data-transaction={s.execution.txHash}>
                  {t("dash.timeline.transaction", { hash: s.execution.txHash, block: String(s.execution.blockNumber), at: new Date(s.execution.executedAt).toLocaleString() })}
                </div>
              ) : null}
              {s.error ? <div className="bad">{t("dash.timeline.failed", { code: s.error })}</div> : null}
            </li>
          ))}
        </ol>
        {p.onChain ? <p>{t("dash.timeline.onChain", { status: p.onChain.status, refunded: money(p.onChain.refunded, p.currency) })}</p> : null}
      </section>

      <PaymentEvents paymentId={p.id} version={p.updatedAt} />

      {mayAct ? (
        <section className="card" aria-labelledby="actions-title">
          <h2 id="actions-title">{t("dash.actions.title")}</h2>
          {act.isError ? <Alert text={errorText(act.error)} /> : null}
          {act.isSuccess && hasPending(p) ? <Alert kind="info" text={t("dash.actions.submitted")} /> : null}
          {pending ? (
            <div role="group" aria-label={t("dash.confirm.label")} className="confirm">
              <p>{question(pending.action)}</p>
              <button type="button" className="primary" disabled={act.isPending} onClick={() => act.mutate(pending)}>
                {t("dash.confirm.yes")}
              </button>
              <button type="button" disabled={act.isPending} onClick={() => setPending(undefined)}>
                {t("dash.confirm.no")}
              </button>
            </div>
          ) : (
            <>
              {p.status === "held" ? (
                <button type="button" onClick={() => ask({ kind: "fulfil" })}>
                  {t("dash.actions.fulfil")}
                </button>
              ) : null}
              {p.status === "awaiting_authorization" ? (
                <button type="button" onClick={() => ask({ kind: "cancel" })}>
                  {t("dash.actions.cancel")}
                </button>
              ) : null}
              {REFUNDABLE.has(p.status) && left > 0n ? (
              <form onSubmit={askRefund} aria-label={t("dash.actions.refund")}>
                {invalid ? <Alert text={t("dash.actions.refundInvalid", { left: formatMinorUnits(left, decimals, p.currency) })} /> : null}
                <label htmlFor="refund-amount">{t("dash.actions.refundAmount", { left: formatMinorUnits(left, decimals, p.currency) })}</label>
                <input id="refund-amount" inputMode="decimal" value={refundAmount} onChange={(e) => setRefundAmount(e.target.value)} />
                <button type="button" onClick={() => setRefundAmount(formatMinorUnits(left, decimals).replace(/,/g, ""))}>
                  {t("dash.actions.refundAll")}
                </button>
                <label htmlFor="refund-reason">{t("dash.actions.refundReason")}</label>
                <input id="refund-reason" maxLength={200} value={refundReason} onChange={(e) => setRefundReason(e.target.value)} />
                <button type="submit">{t("dash.actions.refund")}</button>
              </form>
              ) : null}
            </>
          )}
        </section>
      ) : null}
    </section>
  );
}

function hasPending(p: Payment | undefined): boolean {
  if (!p) return false;
  return p.status === "processing" || [p.authorization, p.fulfilment, p.autoRelease, ...p.refunds].some((s) => s?.status === "pending");
}

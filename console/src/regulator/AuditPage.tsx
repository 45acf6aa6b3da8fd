/**
 * Audit search (payments by payer account, merchant or institution, and paid-at time range) and a
 * payment's full history as a timeline: each operation with its signer, signature, relaying
 * institution, transaction, block and outcome (and its reason: a dispute's in the payer's words when
 * the node has them), the merchant's notes on its dispute, then the escrow events that moved the payment.
 */
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { regulatorApi, type AuditFilter } from "../api/regulator.ts";
import { Alert } from "../components/Alert.tsx";
import { Link } from "../components/router.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { useNodeErrorText } from "../node/errors.ts";
import { Address, DisputeNotes, Hex, PayerReason, chainTime, money, useTokens } from "./common.tsx";

const seconds = (date: string, endOfDay: boolean) => (date ? Math.floor(Date.parse(`${date}T00:00:00Z`) / 1000) + (endOfDay ? 86_399 : 0) : undefined);

export function AuditPage() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const [by, setBy] = useState<"account" | "merchant" | "institution">("account");
  const [address, setAddress] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [filter, setFilter] = useState<AuditFilter>({});
  const payments = useQuery({ queryKey: ["reg", "audit", filter], queryFn: () => regulatorApi.auditPayments(filter) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const range = { from: seconds(from, false), to: seconds(to, true) };
    setFilter({ ...(address.trim() ? { [by]: address.trim() } : {}), ...(range.from !== undefined ? { from: range.from } : {}), ...(range.to !== undefined ? { to: range.to } : {}) });
  };
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">{t("reg.audit.title")}</h1>
      <form onSubmit={submit} className="card">
        <label htmlFor="audit-by">{t("reg.audit.by")}</label>
        <select id="audit-by" value={by} onChange={(e) => setBy(e.target.value as typeof by)}>
          <option value="account">{t("reg.audit.account")}</option>
          <option value="merchant">{t("reg.audit.merchant")}</option>
          <option value="institution">{t("reg.audit.institution")}</option>
        </select>
        <label htmlFor="audit-address">{t("reg.audit.address")}</label>
        <input id="audit-address" className="address" value={address} onChange={(e) => setAddress(e.target.value)} placeholder="0x…" />
        <label htmlFor="audit-from">{t("reg.audit.from")}</label>
        <input id="audit-from" type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        <label htmlFor="audit-to">{t("reg.audit.to")}</label>
        <input id="audit-to" type="date" value={to} onChange={(e) => setTo(e.target.value)} />
        <button type="submit" className="primary">
          {t("reg.audit.search")}
        </button>
      </form>
      {payments.isError ? <Alert text={errorText(payments.error)} /> : null}
      {payments.data?.items.length === 0 ? <p>{t("reg.audit.none")}</p> : null}
      {payments.data && payments.data.items.length > 0 ? (
        <div className="table-wrap">
          <table className="list">
            <thead>
              <tr>
                <th>{t("reg.audit.payment")}</th>
                <th>{t("reg.audit.paidAt")}</th>
                <th>{t("reg.audit.amount")}</th>
                <th>{t("reg.audit.status")}</th>
                <th>{t("reg.audit.payer")}</th>
                <th>{t("reg.audit.merchant")}</th>
              </tr>
            </thead>
            <tbody>
              {payments.data.items.map((p) => (
                <tr key={p.paymentId}>
                  <td>
                    <Link to={`/console/regulator/payments/${p.paymentId}`} className="address">
                      {p.paymentId.slice(0, 10)}…
                    </Link>
                  </td>
                  <td>{chainTime(p.paidAt)}</td>
                  <td className="num">{money(p.amount, p.token, tokens)}</td>
                  <td>{p.status}</td>
                  <td>
                    <Address value={p.payer} />
                  </td>
                  <td>
                    <Address value={p.merchant} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

export function PaymentHistoryPage({ id }: { id: string }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const history = useQuery({ queryKey: ["reg", "history", id], queryFn: () => regulatorApi.history(id) });
  if (history.isError) return <Alert text={errorText(history.error)} />;
  if (!history.data) return <p>{t("loading")}</p>;
  const { payment, operations, events, disputeNotes } = history.data;
  return (
    <section aria-labelledby="history-title">
      <Link to="/console/regulator/audit">{t("reg.history.back")}</Link>
      <h1 id="history-title">{t("reg.history.title")}</h1>
      <p>
        <Hex value={id} />
      </p>
      {payment ? (
        <dl className="facts">
          <dt>{t("reg.audit.amount")}</dt>
          <dd>{money(payment.amount, payment.token, tokens)}</dd>
          <dt>{t("reg.audit.status")}</dt>
          <dd>{payment.status}</dd>
          <dt>{t("reg.audit.payer")}</dt>
          <dd className="address">{payment.payer}</dd>
          <dt>{t("reg.audit.merchant")}</dt>
          <dd className="address">{payment.merchant}</dd>
        </dl>
      ) : null}
      <h2>{t("reg.history.operations")}</h2>
      <ol className="timeline">
        {operations.map((op) => (
          <li key={op.id} className="card">
            <h3>{t("reg.history.operation", { kind: op.kind, outcome: op.outcome })}</h3>
            <dl className="facts">
              <dt>{t("reg.history.signer")}</dt>
              <dd className="address">{op.signer ?? "—"}</dd>
              <dt>{t("reg.history.signature")}</dt>
              <dd className="address">{op.signature ?? "—"}</dd>
              <dt>{t("reg.history.relayer")}</dt>
              <dd className="address">{op.relayer ?? "—"}</dd>
              <dt>{t("reg.history.tx")}</dt>
              <dd className="address">{op.txHash ?? "—"}</dd>
              <dt>{t("reg.history.block")}</dt>
              <dd>{op.blockNumber ?? "—"}</dd>
              <dt>{t("reg.history.time")}</dt>
              <dd>{op.timestamp !== null ? chainTime(op.timestamp) : "—"}</dd>
              {op.reason ? (
                <>
                  <dt>{t("reg.history.reason")}</dt>
                  <dd>{op.kind === "dispute" ? <PayerReason reason={op.reason} text={op.reasonText} /> : <Hex value={op.reason} />}</dd>
                </>
              ) : null}
              {op.error ? (
                <>
                  <dt>{t("reg.history.error")}</dt>
                  <dd>{op.error.code}</dd>
                </>
              ) : null}
            </dl>
          </li>
        ))}
      </ol>
      {disputeNotes.length > 0 ? (
        <>
          <h2>{t("reg.history.disputeNotes")}</h2>
          <DisputeNotes notes={disputeNotes} />
        </>
      ) : null}
      <h2>{t("reg.history.events")}</h2>
      <ol className="timeline">
        {events.map((e, i) => (
          <li key={`${e.txHash}-${e.event}-${i}`}>
            {t("reg.history.event", { event: e.event, block: e.blockNumber, time: chainTime(e.timestamp) })} <Hex value={e.txHash} label={t("reg.history.tx")} />
          </li>
        ))}
      </ol>
    </section>
  );
}

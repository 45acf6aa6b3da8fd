/**
 * Balance and payouts: the merchant's token balance with what is held in escrow and pending, its
 * payouts (cursor pages), and a finalized settlement cycle's statement as CSV (the gateway's own CSV,
 * downloaded with the session; a cycle not closed or not finalized is refused in words).
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { dashboardApi } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { download } from "../download.ts";
import { useI18n } from "../i18n/i18n.tsx";
import { CursorListCard, useCursorPages } from "./CursorList.tsx";
import { useErrorText } from "./errors.ts";
import { money } from "./PaymentsPage.tsx";

export function MoneyPage() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const balance = useQuery({ queryKey: ["dashboard", "balance"], queryFn: () => dashboardApi.balance() });
  const payouts = useCursorPages("payouts", dashboardApi.payouts);
  const [cycle, setCycle] = useState("");
  const statement = useMutation({
    mutationFn: (id: string) => dashboardApi.statementCsv(id),
    onSuccess: (csv, id) => download(`statement-${id}.csv`, csv),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    statement.mutate(cycle.trim());
  };
  return (
    <section aria-labelledby="money-title">
      <h1 id="money-title">{t("dash.money.title")}</h1>
      <section className="card" aria-labelledby="balance-title">
        <h2 id="balance-title">{t("dash.money.balance")}</h2>
        {balance.isError ? <Alert text={errorText(balance.error)} /> : null}
        {(balance.data?.balances ?? []).map((b) => (
          <dl className="facts" key={b.currency}>
            <dt>{t("dash.money.available")}</dt>
            <dd aria-label={t("dash.money.available")}>{money(b.available, b.currency)}</dd>
            <dt>{t("dash.money.held")}</dt>
            <dd aria-label={t("dash.money.held")}>{money(b.heldInEscrow, b.currency)}</dd>
            <dt>{t("dash.money.pendingPayouts")}</dt>
            <dd>{money(b.pendingPayouts, b.currency)}</dd>
            <dt>{t("dash.money.pendingTopups")}</dt>
            <dd>{money(b.pendingTopups, b.currency)}</dd>
          </dl>
        ))}
      </section>
      <CursorListCard
        id="payouts-title"
        title={t("dash.money.payouts")}
        empty={t("dash.money.noPayouts")}
        pages={payouts}
        row={(p) => (
          <li key={p.id}>
            {money(p.amount, p.currency)} · {p.status} ({p.stage}) · {new Date(p.createdAt).toLocaleString()} · <span className="address">{p.account}</span>
          </li>
        )}
      />
      <section className="card" aria-labelledby="statement-title">
        <h2 id="statement-title">{t("dash.money.statement")}</h2>
        {statement.isError ? <Alert text={errorText(statement.error)} /> : null}
        <form onSubmit={submit}>
          <label htmlFor="statement-cycle">{t("dash.money.cycle")}</label>
          <input id="statement-cycle" inputMode="numeric" pattern="[0-9]+" required value={cycle} onChange={(e) => setCycle(e.target.value)} />
          <button type="submit" disabled={statement.isPending}>
            {t("dash.money.download")}
          </button>
        </form>
      </section>
    </section>
  );
}

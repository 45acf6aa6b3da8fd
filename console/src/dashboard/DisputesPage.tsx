/**
 * Disputes: the merchant's payments a payer disputed (open ones, or those an arbiter resolved), each
 * with the payer's reason when it came through this gateway, linked to the payment's page. The API
 * takes no merchant note or evidence: the arbiter hears the merchant outside the platform.
 */
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";

import { dashboardApi } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { useErrorText } from "./errors.ts";
import { money } from "./PaymentsPage.tsx";
import { Link } from "./router.tsx";

export function DisputesPage() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const [status, setStatus] = useState<"disputed" | "resolved">("disputed");
  const disputes = useInfiniteQuery({
    queryKey: ["dashboard", "disputes", status],
    queryFn: ({ pageParam }) => dashboardApi.disputes(status, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const rows = (disputes.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section aria-labelledby="disputes-title">
      <h1 id="disputes-title">{t("dash.disputes.title")}</h1>
      <label htmlFor="disputes-status">{t("dash.disputes.show")}</label>
      <select id="disputes-status" value={status} onChange={(e) => setStatus(e.target.value === "resolved" ? "resolved" : "disputed")}>
        <option value="disputed">{t("dash.disputes.open")}</option>
        <option value="resolved">{t("dash.disputes.resolved")}</option>
      </select>
      <section className="card" aria-label={t(status === "disputed" ? "dash.disputes.open" : "dash.disputes.resolved")}>
        {disputes.isError ? <Alert text={errorText(disputes.error)} /> : null}
        {disputes.isSuccess && rows.length === 0 ? <p>{t(status === "disputed" ? "dash.disputes.noneOpen" : "dash.disputes.noneResolved")}</p> : null}
        <ul className="rows">
          {rows.map((d) => (
            <li key={d.payment.id} data-dispute={d.payment.id}>
              <Link to={`/dashboard/payments/${encodeURIComponent(d.payment.id)}`}>{d.payment.merchantOrderId}</Link> · {money(d.payment.amount, d.payment.currency)}
              {d.openedAt ? ` · ${t("dash.disputes.openedAt", { at: new Date(d.openedAt).toLocaleString() })}` : null}
              <div>{d.reason !== null ? t("dash.disputes.reason", { reason: d.reason }) : t("dash.disputes.noReason")}</div>
              <div className="address">{t("dash.disputes.payer", { payer: d.payment.payer })}</div>
            </li>
          ))}
        </ul>
        {disputes.hasNextPage ? (
          <button type="button" onClick={() => void disputes.fetchNextPage()} disabled={disputes.isFetchingNextPage}>
            {t("dash.payments.more")}
          </button>
        ) : null}
      </section>
    </section>
  );
}

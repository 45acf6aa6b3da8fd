/**
 * Three-way reconciliation: the merchant's records at the gateway against the chain (through the
 * node) and the custodian's bank, with every break the gateway's report finds and the report as CSV.
 * Steps still in flight are not breaks.
 */
import { useMutation, useQuery } from "@tanstack/react-query";

import { dashboardApi } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { download } from "../download.ts";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useErrorText } from "./errors.ts";

const COUNTS = ["orders", "transfers", "payouts", "topups", "chainPayments", "chainTokenEvents", "bankTransfers"] as const;

export function ReconciliationPage() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const report = useQuery({ queryKey: ["dashboard", "threeway"], queryFn: () => dashboardApi.threeWay(), refetchOnWindowFocus: false });
  const csv = useMutation({ mutationFn: () => dashboardApi.threeWayCsv(), onSuccess: (text) => download("reconciliation.csv", text) });
  return (
    <section aria-labelledby="recon-title">
      <h1 id="recon-title">{t("dash.recon.title")}</h1>
      <p>{t("dash.recon.intro")}</p>
      {report.isPending ? <p>{t("loading")}</p> : null}
      {report.isError ? <Alert text={errorText(report.error)} /> : null}
      {csv.isError ? <Alert text={errorText(csv.error)} /> : null}
      {report.data ? (
        <>
          <section className="card" aria-labelledby="recon-counts">
            <h2 id="recon-counts">{t("dash.recon.compared", { at: new Date(report.data.generatedAt).toLocaleString() })}</h2>
            <dl className="facts">
              {COUNTS.map((name) => (
                <div key={name} className="fact">
                  <dt>{t(`dash.recon.count.${name}` as MessageKey)}</dt>
                  <dd aria-label={t(`dash.recon.count.${name}` as MessageKey)}>{report.data.counts[name]}</dd>
                </div>
              ))}
            </dl>
            {report.data.chainEventsTruncated ? <Alert kind="info" text={t("dash.recon.truncated")} /> : null}
          </section>
          <section className="card" aria-labelledby="recon-breaks">
            <h2 id="recon-breaks">{t("dash.recon.breaks", { count: String(report.data.breaks.length) })}</h2>
            {report.data.breaks.length === 0 ? <p role="status">{t("dash.recon.none")}</p> : null}
            <ul className="rows">
              {report.data.breaks.map((b) => (
                <li key={`${b.kind}-${b.subject}-${b.ref}`} data-break={b.kind}>
                  <strong>{t(`dash.recon.kind.${b.kind}` as MessageKey)}</strong> · {b.subject} <code className="address">{b.ref}</code>
                  <div>{b.detail}</div>
                  <div className="muted">{t("dash.recon.sides", { gateway: b.gateway ?? "—", chain: b.chain ?? "—", bank: b.bank ?? "—" })}</div>
                </li>
              ))}
            </ul>
          </section>
          <button type="button" onClick={() => csv.mutate()} disabled={csv.isPending}>
            {t("dash.recon.csv")}
          </button>
          <button type="button" onClick={() => void report.refetch()} disabled={report.isFetching}>
            {t("dash.recon.again")}
          </button>
        </>
      ) : null}
    </section>
  );
}

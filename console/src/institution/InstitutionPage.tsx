/**
 * The institution console's pages under /console/institution (operator role): the node's health,
 * peers, relay and charts; failed operations; onboarding; risk rules; users; the audit log.
 */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { institutionApi, metricTotal, type FailedOperation, type MetricsSummary } from "../api/institution.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useNodeErrorText } from "../node/errors.ts";
import { AuditPage, RiskRulesPage, UsersPage } from "./AdminPages.tsx";
import { OnboardingPage } from "./OnboardingPage.tsx";
import { OverdueSection } from "./OverdueSection.tsx";

const BASE = "/console/institution";

export const INSTITUTION_PAGES: { to: string; label: MessageKey }[] = [
  // The overview keeps the frame's name for the area: "Institution".
  { to: BASE, label: "node.nav.institution" },
  { to: `${BASE}/operations`, label: "inst.nav.operations" },
  { to: `${BASE}/onboarding`, label: "inst.nav.onboarding" },
  { to: `${BASE}/risk`, label: "inst.nav.risk" },
  { to: `${BASE}/users`, label: "inst.nav.users" },
  { to: `${BASE}/audit`, label: "inst.nav.audit" },
];

export function InstitutionPage({ path }: { path: string }) {
  const { t } = useI18n();
  const current = INSTITUTION_PAGES.find((p) => p.to === path) ?? INSTITUTION_PAGES[0]!;
  const body = {
    [BASE]: <Overview />,
    [`${BASE}/operations`]: <FailedOperations />,
    [`${BASE}/onboarding`]: <OnboardingPage />,
    [`${BASE}/risk`]: <RiskRulesPage />,
    [`${BASE}/users`]: <UsersPage />,
    [`${BASE}/audit`]: <AuditPage />,
  }[current.to];
  return (
    <>
      <h1>{t(current.label)}</h1>
      {body}
    </>
  );
}

/** How often the overview reads the node's figures (the charts' resolution). */
const POLL_MS = 3_000;
const POINTS = 40;

function Overview() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const health = useQuery({ queryKey: ["inst", "health"], queryFn: institutionApi.health, refetchInterval: POLL_MS });
  const peers = useQuery({ queryKey: ["inst", "peers"], queryFn: institutionApi.peers, refetchInterval: POLL_MS });
  const metrics = useQuery({ queryKey: ["inst", "metrics"], queryFn: institutionApi.metrics, refetchInterval: POLL_MS });
  const [readings, setReadings] = useState<MetricsSummary[]>([]);
  useEffect(() => {
    const latest = metrics.data;
    if (latest) setReadings((previous) => (previous.at(-1)?.atMs === latest.atMs ? previous : [...previous, latest].slice(-(POINTS + 1))));
  }, [metrics.data]);
  const m = metrics.data;
  const validated = "settlenet_operations_validated_total";
  const rate = (match: (labels: Record<string, string>) => boolean) =>
    readings.slice(1).map((reading, i) => {
      const before = readings[i]!;
      const seconds = Math.max(0.001, (reading.atMs - before.atMs) / 1000);
      return Math.max(0, metricTotal(reading, validated, match) - metricTotal(before, validated, match)) / seconds;
    });
  return (
    <>
      <section className="card" aria-labelledby="health-title">
        <h2 id="health-title">{t("inst.health")}</h2>
        {health.isError ? <Alert text={errorText(health.error)} /> : null}
        {health.data ? (
          <p data-testid="health">
            {health.data.ready ? t("inst.health.ready") : t("inst.health.catchingUp")} · {t("inst.health.head", { head: health.data.chain.head ?? "–", indexed: health.data.chain.indexed ?? "–" })}
          </p>
        ) : null}
      </section>
      <section className="card" aria-labelledby="peers-title">
        <h2 id="peers-title">{t("inst.peers", { count: peers.data?.length ?? 0 })}</h2>
        {peers.data?.length === 0 ? <p>{t("inst.peers.none")}</p> : null}
        <ul>
          {peers.data?.map((p) => (
            <li key={p.peerId}>
              {p.name ?? p.operator ?? ""} <code>{p.peerId}</code>
            </li>
          ))}
        </ul>
      </section>
      <section className="card" aria-labelledby="relay-title">
        <h2 id="relay-title">{t("inst.relay")}</h2>
        {metrics.isError ? <Alert text={errorText(metrics.error)} /> : null}
        <ul>
          <li>{t("inst.relay.lag", { seconds: metricTotal(m, "settlenet_relay_lag_seconds").toFixed(1) })}</li>
          <li>{t("inst.relay.queue", { gas: metricTotal(m, "settlenet_relay_queue_gas") })}</li>
          <li>{t("inst.relay.watched", { count: metricTotal(m, "settlenet_relay_watched_operations") })}</li>
          <li>{t("inst.relay.sent", { count: metricTotal(m, "settlenet_transactions_sent_total") })}</li>
        </ul>
      </section>
      <OverdueSection pollMs={POLL_MS} />
      <section className="card" aria-labelledby="charts-title">
        <h2 id="charts-title">{t("inst.charts")}</h2>
        {readings.length < 2 ? <p>{t("inst.charts.waiting")}</p> : null}
        <Chart label={t("inst.charts.throughput")} values={rate((l) => l["result"] === "accept")} />
        <Chart label={t("inst.charts.errors")} values={rate((l) => l["result"] !== "accept")} />
      </section>
      <section className="card" aria-labelledby="backup-title">
        <h2 id="backup-title">{t("inst.backup")}</h2>
        <p>
          <a href="/v1/admin/backup" download="settlenet-backup.ndjson">
            {t("inst.backup.download")}
          </a>
        </p>
        <p>{t("inst.backup.note")}</p>
      </section>
    </>
  );
}

/** A line chart of per-second rates, drawn as SVG (no inline styles: the CSP allows none). */
function Chart({ label, values }: { label: string; values: number[] }) {
  const width = 400;
  const height = 80;
  const max = Math.max(1, ...values);
  const points = values.map((v, i) => `${((i / Math.max(1, POINTS - 1)) * width).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(" ");
  const last = values.at(-1) ?? 0;
  return (
    <figure className="chart">
      <figcaption>
        {label}: {last.toFixed(1)}
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} width="100%" height={height}>
        <polyline points={points} fill="none" stroke="currentColor" strokeWidth="2" />
      </svg>
    </figure>
  );
}

/** The decoded error as Name(args), with the node's message when it says more than that. */
function failureText(error: NonNullable<FailedOperation["error"]>): string {
  const decoded = `${error.code}${error.args?.length ? `(${error.args.join(", ")})` : ""}`;
  return error.message && error.message !== decoded ? `${decoded}: ${error.message}` : decoded;
}

function FailedOperations() {
  const { t, locale } = useI18n();
  const errorText = useNodeErrorText();
  const ops = useQuery({ queryKey: ["inst", "failed"], queryFn: institutionApi.failedOperations });
  if (ops.isError) return <Alert text={errorText(ops.error)} />;
  if (!ops.data) return <p>{t("loading")}</p>;
  if (ops.data.length === 0) return <p className="card">{t("inst.ops.none")}</p>;
  return (
    <div className="table-wrap">
      <table className="list">
        <thead>
          <tr>
            <th>{t("inst.ops.id")}</th>
            <th>{t("inst.ops.kind")}</th>
            <th>{t("inst.ops.received")}</th>
            <th>{t("inst.ops.error")}</th>
          </tr>
        </thead>
        <tbody>
          {ops.data.map((op) => (
            <tr key={op.id}>
              <td>
                <code title={op.id}>{op.id.slice(0, 10)}…</code>
              </td>
              <td>{op.kind}</td>
              <td>{new Date(op.receivedAtMs).toLocaleString(locale)}</td>
              <td className="wrap">{op.error ? failureText(op.error) : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * Proof of reserves (备付金): outstanding supply against the reserves each custodian's independent
 * attestor stated, now (from the node's report at the chain head) and over time (each ReservesAttested
 * event carries the statement's reserves and the outstanding supply at that moment), with the
 * reserves alerts. The chart scales by bigint arithmetic: no amount passes through a float until it
 * is a pixel position.
 */
import { useMutation, useQuery } from "@tanstack/react-query";

import { regulatorApi } from "../api/regulator.ts";
import { Alert } from "../components/Alert.tsx";
import { Link } from "../components/router.tsx";
import { download } from "../download.ts";
import { useI18n } from "../i18n/i18n.tsx";
import { useNodeErrorText } from "../node/errors.ts";
import { Address, chainTime, money, useTokens } from "./common.tsx";

export function ReservesPage() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const report = useQuery({ queryKey: ["reg", "reserves"], queryFn: () => regulatorApi.reserves() });
  const alerts = useQuery({ queryKey: ["reg", "alerts", "reserves"], queryFn: () => regulatorApi.alerts({ category: "reserves" }) });
  return (
    <section aria-labelledby="reserves-title">
      <h1 id="reserves-title">{t("reg.reserves.title")}</h1>
      {report.isError ? <Alert text={errorText(report.error)} /> : null}
      {report.data ? <p>{t("reg.reserves.asOf", { block: report.data.asOf.blockNumber, time: chainTime(report.data.asOf.timestamp), ratio: (report.data.minRatioBps / 100).toFixed(2) })}</p> : null}
      {report.data?.tokens.map((token) => (
        <div key={token.token} className="card">
          <h2>{token.symbol}</h2>
          <dl className="facts">
            <dt>{t("reg.reserves.outstanding")}</dt>
            <dd>{money(token.outstanding, token.token, tokens)}</dd>
            <dt>{t("reg.reserves.reserves")}</dt>
            <dd>{money(token.reserves, token.token, tokens)}</dd>
            <dt>{t("reg.reserves.ratio")}</dt>
            <dd>{token.ratio ?? "—"}</dd>
          </dl>
          <ul>
            {token.custodians.map((c) => (
              <li key={c.custodian}>
                <Address value={c.custodian} />: {t("reg.reserves.custodian", { outstanding: money(c.outstanding, token.token, tokens), reserves: money(c.reserves, token.token, tokens), ratio: c.ratio ?? "—" })}
                {c.stale ? ` · ${t("reg.reserves.stale")}` : ""}
                {c.belowMinRatio ? ` · ${t("reg.reserves.below")}` : ""}
              </li>
            ))}
          </ul>
          <History token={token.token} now={{ at: report.data?.asOf.timestamp ?? 0, reserves: BigInt(token.reserves), outstanding: BigInt(token.outstanding) }} />
        </div>
      ))}
      <h2>{t("reg.reserves.alerts")}</h2>
      {alerts.data?.items.length === 0 ? <p>{t("reg.alerts.none")}</p> : null}
      <ul>
        {alerts.data?.items.map((a) => (
          <li key={a.id}>
            <Link to={`/console/regulator/alerts/${a.id}`}>{t("reg.alerts.item", { rule: a.rule, amount: a.amount ? money(a.amount, a.token, tokens) : "—" })}</Link> · {chainTime(a.at)}
          </li>
        ))}
      </ul>
    </section>
  );
}

const WIDTH = 600;
const HEIGHT = 200;

/** The attested points, then the report's figures at the chain head (supply moves between statements). */
function History({ token, now }: { token: string; now: { at: number; reserves: bigint; outstanding: bigint } }) {
  const { t } = useI18n();
  const tokens = useTokens();
  const events = useQuery({ queryKey: ["reg", "tokenEvents", token], queryFn: () => regulatorApi.tokenEvents(token) });
  const points = (events.data?.events ?? [])
    .filter((e) => e.event === "ReservesAttested")
    .map((e) => ({ at: e.timestamp, reserves: BigInt(String(e.args["amount"] ?? "0")), outstanding: BigInt(String(e.args["outstanding"] ?? "0")) }))
    .sort((a, b) => a.at - b.at);
  if (points.length > 0 && now.at >= (points[points.length - 1]?.at ?? 0)) points.push(now);
  if (points.length === 0) return <p>{t("reg.reserves.noHistory")}</p>;
  const top = points.reduce((m, p) => (p.reserves > m ? p.reserves : p.outstanding > m ? p.outstanding : m), 1n);
  const first = points[0]?.at ?? 0;
  const span = Math.max(1, (points[points.length - 1]?.at ?? 0) - first);
  const x = (at: number) => ((at - first) / span) * (WIDTH - 20) + 10;
  // Scaled to 10,000 parts in bigint, then to pixels.
  const y = (v: bigint) => HEIGHT - 10 - (Number((v * 10_000n) / top) / 10_000) * (HEIGHT - 20);
  const line = (pick: (p: (typeof points)[number]) => bigint) => points.map((p) => `${x(p.at).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(" ");
  const last = points[points.length - 1];
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={t("reg.reserves.chart", { count: points.length })}>
        <polyline points={line((p) => p.reserves)} className="line-reserves" />
        <polyline points={line((p) => p.outstanding)} className="line-outstanding" />
        {points.map((p, i) => (
          <g key={`${p.at}-${i}`}>
            <circle cx={x(p.at)} cy={y(p.reserves)} r={4} className="dot-reserves" />
            <circle cx={x(p.at)} cy={y(p.outstanding)} r={4} className="dot-outstanding" />
          </g>
        ))}
      </svg>
      <figcaption>
        <span className="key-reserves">{t("reg.reserves.reserves")}</span> · <span className="key-outstanding">{t("reg.reserves.outstanding")}</span>
        {last ? ` · ${t("reg.reserves.latest", { time: chainTime(last.at), reserves: money(last.reserves.toString(), token, tokens), outstanding: money(last.outstanding.toString(), token, tokens) })}` : ""}
      </figcaption>
    </figure>
  );
}

/** AML, reserves and statement reports as files, in JSON and CSV. */
export function ReportsPage() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const get = useMutation({
    mutationFn: async ({ name, format }: { name: "aml" | "reserves"; format: "json" | "csv" }) => {
      download(`${name}-report.${format}`, await regulatorApi.report(name, format), format === "csv" ? "text/csv" : "application/json");
    },
  });
  const save = (name: "aml" | "reserves", format: "json" | "csv") => get.mutate({ name, format });
  return (
    <section aria-labelledby="reports-title">
      <h1 id="reports-title">{t("reg.reports.title")}</h1>
      {get.isError ? <Alert text={errorText(get.error)} /> : null}
      {(["aml", "reserves"] as const).map((name) => (
        <div key={name} className="card">
          <h2>{t(`reg.reports.${name}`)}</h2>
          <button type="button" onClick={() => save(name, "json")}>
            {t("reg.download.json")}
          </button>
          <button type="button" onClick={() => save(name, "csv")}>
            {t("reg.download.csv")}
          </button>
        </div>
      ))}
      <p>{t("reg.reports.statements")}</p>
    </section>
  );
}

/**
 * Overview: volume, count, fees and refunds per day over the last 14 days (UTC), as SVG bar charts,
 * and count and volume per payment state over the same days
 * (no chart package): each chart's total in text and its label, each day's exact figure in its bar's
 * title. Built from the payments the list answers for that range, fetched page by page.
 */
import { useQuery } from "@tanstack/react-query";

import { PAYMENT_STATUSES, dashboardApi, type Payment } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useErrorText } from "./errors.ts";
import { dailyFigures, fractionOf, stateFigures, type Day, type StateFigures } from "./overview.ts";
import { money } from "./PaymentsPage.tsx";

const DAYS = 14;
/** At most this many pages of 100 are fetched for the overview; a busier merchant sees a note. */
const MAX_PAGES = 20;

async function recentPayments(fromIso: string): Promise<{ items: Payment[]; complete: boolean }> {
  const items: Payment[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await dashboardApi.payments({ from: fromIso }, cursor, 100);
    items.push(...answer.items);
    if (!answer.nextCursor) return { items, complete: true };
    cursor = answer.nextCursor;
  }
  return { items, complete: false };
}

export function OverviewPage() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const today = new Date().toISOString().slice(0, 10);
  const fromDay = new Date(Date.parse(`${today}T00:00:00Z`) - (DAYS - 1) * 86_400_000).toISOString().slice(0, 10);
  const payments = useQuery({ queryKey: ["dashboard", "overview", fromDay], queryFn: () => recentPayments(`${fromDay}T00:00:00.000Z`) });
  if (payments.isPending) return <p>{t("loading")}</p>;
  if (payments.isError) return <Alert text={errorText(payments.error)} />;
  const days = dailyFigures(payments.data.items, fromDay, today);
  // One currency per deployment today; the charts use the first payment's.
  const currency = payments.data.items[0]?.currency ?? "CNY";
  const total = (pick: (d: Day) => bigint) => days.reduce((sum, d) => sum + pick(d), 0n);
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">{t("dash.overview.title")}</h1>
      <p>{t("dash.overview.range", { from: fromDay, to: today })}</p>
      {!payments.data.complete ? <Alert kind="info" text={t("dash.overview.partial", { count: payments.data.items.length })} /> : null}
      <div className="charts">
        <Chart title="dash.overview.volume" days={days} value={(d) => d.volume} format={(v) => money(v.toString(), currency)} totalText={money(total((d) => d.volume).toString(), currency)} />
        <Chart title="dash.overview.count" days={days} value={(d) => BigInt(d.count)} format={(v) => v.toString()} totalText={String(days.reduce((n, d) => n + d.count, 0))} />
        <Chart title="dash.overview.fees" days={days} value={(d) => d.fees} format={(v) => money(v.toString(), currency)} totalText={money(total((d) => d.fees).toString(), currency)} />
        <Chart title="dash.overview.refunds" days={days} value={(d) => d.refunds} format={(v) => money(v.toString(), currency)} totalText={money(total((d) => d.refunds).toString(), currency)} />
      </div>
      <ByState states={stateFigures(payments.data.items, PAYMENT_STATUSES)} currency={currency} />
    </section>
  );
}

const WIDTH = 280;
const HEIGHT = 100;

function Chart({ title, days, value, format, totalText }: { title: MessageKey; days: Day[]; value: (d: Day) => bigint; format: (v: bigint) => string; totalText: string }) {
  const { t } = useI18n();
  const values = days.map(value);
  const max = values.reduce((m, v) => (v > m ? v : m), 0n);
  const slot = WIDTH / days.length;
  return (
    <figure className="card chart">
      <figcaption>
        <strong>{t(title)}</strong>: <span aria-label={t(title)}>{totalText}</span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT + 14}`} role="img" aria-label={t("dash.overview.chartLabel", { what: t(title), total: totalText })}>
        <line x1="0" y1={HEIGHT} x2={WIDTH} y2={HEIGHT} className="axis" />
        {days.map((d, i) => {
          const h = Math.max(fractionOf(values[i] ?? 0n, max) * (HEIGHT - 4), (values[i] ?? 0n) > 0n ? 1 : 0);
          return (
            <rect key={d.day} x={i * slot + slot * 0.15} y={HEIGHT - h} width={slot * 0.7} height={h} className="bar">
              <title>{`${d.day}: ${format(values[i] ?? 0n)}`}</title>
            </rect>
          );
        })}
        <text x="0" y={HEIGHT + 12} className="tick">
          {days[0]?.day.slice(5)}
        </text>
        <text x={WIDTH} y={HEIGHT + 12} className="tick" textAnchor="end">
          {days[days.length - 1]?.day.slice(5)}
        </text>
      </svg>
    </figure>
  );
}


/** Count and volume per payment state over the same range, as bars of volume with the figures in words beside them. */
function ByState({ states, currency }: { states: StateFigures[]; currency: string }) {
  const { t } = useI18n();
  const max = states.reduce((m, s) => (s.volume > m ? s.volume : m), 0n);
  return (
    <figure className="card chart" aria-labelledby="by-state-title">
      <figcaption id="by-state-title">
        <strong>{t("dash.overview.byState")}</strong>
      </figcaption>
      {states.length === 0 ? <p>{t("dash.overview.noPayments")}</p> : null}
      <ul className="by-state">
        {states.map((s) => (
          <li key={s.status} data-state={s.status}>
            <span className="state-name">{t(`dash.status.${s.status}` as MessageKey)}</span>
            <svg viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true" className="state-bar">
              <rect x="0" y="0" height="8" width={Math.max(fractionOf(s.volume, max) * 100, s.volume > 0n ? 0.5 : 0)} className="bar" />
            </svg>
            <span aria-label={t("dash.overview.stateFigures", { state: t(`dash.status.${s.status}` as MessageKey) })}>{t("dash.overview.stateLine", { count: String(s.count), volume: money(s.volume.toString(), currency) })}</span>
          </li>
        ))}
      </ul>
    </figure>
  );
}

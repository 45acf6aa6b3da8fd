/**
 * A payment's events and their webhook deliveries. The API has no per-payment event query, so this
 * reads the most recent events (a few pages) and each endpoint's most recent deliveries, and keeps
 * what names this payment; older ones are in the event log and the endpoints' delivery logs.
 */
import { useQuery } from "@tanstack/react-query";

import { dashboardApi, type DashboardEvent, type Delivery } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useErrorText } from "./errors.ts";

const EVENT_PAGES = 3;
const PAGE = 100;

async function eventsOf(paymentId: string): Promise<{ events: DashboardEvent[]; deliveries: Delivery[] }> {
  const events: DashboardEvent[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < EVENT_PAGES; page++) {
    const answer = await dashboardApi.events(cursor, PAGE);
    events.push(...answer.items.filter((e) => e.data.id === paymentId));
    if (!answer.nextCursor) break;
    cursor = answer.nextCursor;
  }
  const ids = new Set(events.map((e) => e.id));
  const endpoints = ids.size > 0 ? (await dashboardApi.endpoints()).items : [];
  const deliveries = (await Promise.all(endpoints.map((e) => dashboardApi.deliveriesOf(e.id, PAGE)))).flatMap((list) => list.items.filter((d) => ids.has(d.eventId)));
  return { events: events.reverse(), deliveries };
}

export function PaymentEvents({ paymentId, version }: { paymentId: string; version: string }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  // Asked again whenever the payment changes (its updatedAt), when new events may have been made.
  const found = useQuery({ queryKey: ["dashboard", "payment-events", paymentId, version], queryFn: () => eventsOf(paymentId) });
  return (
    <section className="card" aria-labelledby="events-of-title">
      <h2 id="events-of-title">{t("dash.paymentEvents.title")}</h2>
      {found.isError ? <Alert text={errorText(found.error)} /> : null}
      {found.isSuccess && found.data.events.length === 0 ? <p>{t("dash.paymentEvents.none")}</p> : null}
      <ul className="rows">
        {(found.data?.events ?? []).map((e) => {
          const deliveries = (found.data?.deliveries ?? []).filter((d) => d.eventId === e.id);
          return (
            <li key={e.id} data-event={e.type}>
              <strong>{e.type}</strong> · {new Date(e.createdAt).toLocaleString()} · <code className="address">{e.id}</code>
              {deliveries.length === 0 ? (
                <div className="muted">{t("dash.paymentEvents.noDeliveries")}</div>
              ) : (
                <ul>
                  {deliveries.map((d) => (
                    <li key={`${d.endpointId}-${d.createdAt}`}>{t("dash.paymentEvents.delivery", { endpoint: d.endpointId, status: t(`dash.delivery.${d.status}` as MessageKey), count: d.attemptCount })}</li>
                  ))}
                </ul>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

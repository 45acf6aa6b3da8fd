/**
 * Payments: filters the gateway applies (state, creation date range, order id) and ones applied here to
 * the pages fetched (payer, amount range), cursor pagination ("Load more"), and a CSV of the rows
 * shown, with amounts as exact decimal strings.
 */
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { PAYMENT_STATUSES, dashboardApi, type Payment, type PaymentFilter, type PaymentStatus } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { download } from "../download.ts";
import { decimalsOf, formatMinorUnits, parseMajorUnits, shortAddress } from "../format.ts";
import { useI18n } from "../i18n/i18n.tsx";
import { toCsv } from "./csv.ts";
import { useErrorText } from "./errors.ts";
import { Link } from "./router.tsx";

interface Filters {
  status: string;
  from: string;
  to: string;
  merchantOrderId: string;
  payer: string;
  minAmount: string;
  maxAmount: string;
}
const EMPTY: Filters = { status: "", from: "", to: "", merchantOrderId: "", payer: "", minAmount: "", maxAmount: "" };

/** The gateway's filter: dates are whole days in UTC. */
function serverFilter(f: Filters): PaymentFilter {
  return {
    ...(f.status ? { status: f.status as PaymentStatus } : {}),
    ...(f.from ? { from: `${f.from}T00:00:00.000Z` } : {}),
    ...(f.to ? { to: `${f.to}T23:59:59.999Z` } : {}),
    ...(f.merchantOrderId.trim() ? { merchantOrderId: f.merchantOrderId.trim() } : {}),
  };
}

/** Payer and amount are not gateway filters: they narrow the rows fetched. */
function matches(p: Payment, f: Filters): boolean {
  if (f.payer.trim() && !p.payer.toLowerCase().includes(f.payer.trim().toLowerCase())) return false;
  const amount = BigInt(p.amount);
  const min = f.minAmount ? parseMajorUnits(f.minAmount, decimalsOf(p.currency)) : undefined;
  const max = f.maxAmount ? parseMajorUnits(f.maxAmount, decimalsOf(p.currency)) : undefined;
  if (min !== undefined && amount < min) return false;
  if (max !== undefined && amount > max) return false;
  return true;
}

export const money = (amount: string, currency: string) => formatMinorUnits(amount, decimalsOf(currency), currency);

export function PaymentsPage() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const filter = serverFilter(applied);
  const list = useInfiniteQuery({
    queryKey: ["dashboard", "payments", filter],
    queryFn: ({ pageParam }) => dashboardApi.payments(filter, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const rows = (list.data?.pages ?? []).flatMap((page) => page.items).filter((p) => matches(p, applied));
  const set = (name: keyof Filters) => (event: { target: { value: string } }) => setDraft({ ...draft, [name]: event.target.value });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setApplied(draft);
  };
  const badAmount = (text: string) => text !== "" && parseMajorUnits(text, 2) === undefined;
  const exportCsv = () => {
    const header = ["id", "merchant_order_id", "status", "amount_minor_units", "amount", "currency", "refunded_minor_units", "payer", "mode", "created_at", "updated_at"];
    const body = rows.map((p) => [p.id, p.merchantOrderId, p.status, p.amount, formatMinorUnits(p.amount, decimalsOf(p.currency)), p.currency, p.refundedAmount, p.payer, p.mode, p.createdAt, p.updatedAt]);
    download("payments.csv", toCsv(header, body));
  };

  return (
    <section aria-labelledby="payments-title">
      <h1 id="payments-title">{t("dash.payments.title")}</h1>
      <form className="card filters" onSubmit={submit} aria-label={t("dash.payments.filters")}>
        <label htmlFor="f-status">{t("dash.payments.status")}</label>
        <select id="f-status" value={draft.status} onChange={set("status")}>
          <option value="">{t("dash.payments.anyStatus")}</option>
          {PAYMENT_STATUSES.map((s) => (
            <option key={s} value={s}>
              {t(`dash.status.${s}`)}
            </option>
          ))}
        </select>
        <label htmlFor="f-from">{t("dash.payments.from")}</label>
        <input id="f-from" type="date" value={draft.from} onChange={set("from")} />
        <label htmlFor="f-to">{t("dash.payments.to")}</label>
        <input id="f-to" type="date" value={draft.to} onChange={set("to")} />
        <label htmlFor="f-order">{t("dash.payments.orderId")}</label>
        <input id="f-order" value={draft.merchantOrderId} onChange={set("merchantOrderId")} />
        <label htmlFor="f-payer">{t("dash.payments.payer")}</label>
        <input id="f-payer" value={draft.payer} onChange={set("payer")} placeholder="0x…" />
        <label htmlFor="f-min">{t("dash.payments.minAmount")}</label>
        <input id="f-min" inputMode="decimal" value={draft.minAmount} onChange={set("minAmount")} aria-invalid={badAmount(draft.minAmount)} />
        <label htmlFor="f-max">{t("dash.payments.maxAmount")}</label>
        <input id="f-max" inputMode="decimal" value={draft.maxAmount} onChange={set("maxAmount")} aria-invalid={badAmount(draft.maxAmount)} />
        <button type="submit" className="primary">
          {t("dash.payments.search")}
        </button>
      </form>
      {list.isError ? <Alert text={errorText(list.error)} /> : null}
      {list.isPending ? <p>{t("loading")}</p> : null}
      {list.isSuccess && rows.length === 0 ? <p>{t("dash.payments.none")}</p> : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table className="list">
            <caption className="sr-only">{t("dash.payments.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("dash.payments.orderId")}</th>
                <th scope="col">{t("dash.payments.amount")}</th>
                <th scope="col">{t("dash.payments.status")}</th>
                <th scope="col">{t("dash.payments.payer")}</th>
                <th scope="col">{t("dash.payments.created")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={`/dashboard/payments/${encodeURIComponent(p.id)}`}>{p.merchantOrderId}</Link>
                  </td>
                  <td className="num">{money(p.amount, p.currency)}</td>
                  <td>{t(`dash.status.${p.status}`)}</td>
                  <td className="address" title={p.payer}>
                    {shortAddress(p.payer)}
                  </td>
                  <td>{new Date(p.createdAt).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {list.hasNextPage ? (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          {t("dash.payments.more")}
        </button>
      ) : null}
      <button type="button" onClick={exportCsv} disabled={rows.length === 0}>
        {t("dash.payments.csv", { count: rows.length })}
      </button>
    </section>
  );
}

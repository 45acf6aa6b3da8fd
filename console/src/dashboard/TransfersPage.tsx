/**
 * Transfers to other merchants (carried by a direct escrow payment signed with this merchant's key,
 * less the recipient's fee): the list, followed while one is pending, and for owners a new transfer
 * after a confirmation. The merchant's reference makes a repeated request return the same transfer.
 */
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { dashboardApi, type DashboardUser } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { decimalsOf, formatMinorUnits, parseMajorUnits } from "../format.ts";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useErrorText } from "./errors.ts";
import { money } from "./PaymentsPage.tsx";

const CURRENCY = "CNY";
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const REFERENCE = /^[A-Za-z0-9._:-]{1,64}$/;

interface Draft {
  to: string;
  amount: bigint;
  reference: string;
  description: string;
  idempotencyKey: string;
}

export function TransfersPage({ role }: { role: DashboardUser["role"] }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const transfers = useInfiniteQuery({
    queryKey: ["dashboard", "transfers"],
    queryFn: ({ pageParam }) => dashboardApi.transfers(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (query) => (query.state.data?.pages.some((p) => p.items.some((x) => x.status === "pending")) ? 2_000 : false),
  });
  const [to, setTo] = useState("");
  const [amount, setAmount] = useState("");
  const [reference, setReference] = useState("");
  const [description, setDescription] = useState("");
  const [invalid, setInvalid] = useState(false);
  const [pending, setPending] = useState<Draft | undefined>();
  const create = useMutation({
    mutationFn: (d: Draft) =>
      dashboardApi.createTransfer({ to: d.to, amount: d.amount.toString(), currency: CURRENCY, reference: d.reference, ...(d.description ? { description: d.description } : {}) }, d.idempotencyKey),
    onSuccess: () => {
      setPending(undefined);
      setTo("");
      setAmount("");
      setReference("");
      setDescription("");
      void queryClient.invalidateQueries({ queryKey: ["dashboard", "transfers"] });
      void queryClient.invalidateQueries({ queryKey: ["dashboard", "balance"] });
    },
  });
  const decimals = decimalsOf(CURRENCY);
  const ask = (event: FormEvent) => {
    event.preventDefault();
    const minor = parseMajorUnits(amount, decimals);
    const ok = minor !== undefined && minor > 0n && ADDRESS.test(to.trim()) && REFERENCE.test(reference.trim());
    setInvalid(!ok);
    create.reset();
    if (ok) setPending({ to: to.trim(), amount: minor, reference: reference.trim(), description: description.trim(), idempotencyKey: crypto.randomUUID() });
  };
  const rows = (transfers.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section aria-labelledby="transfers-title">
      <h1 id="transfers-title">{t("dash.transfers.title")}</h1>
      <p>{t("dash.transfers.intro")}</p>
      {role === "owner" ? (
        <section className="card" aria-labelledby="transfer-new">
          <h2 id="transfer-new">{t("dash.transfers.new")}</h2>
          {create.isError ? <Alert text={errorText(create.error)} /> : null}
          {create.isSuccess ? <Alert kind="info" text={t("dash.transfers.created")} /> : null}
          {pending ? (
            <div role="group" aria-label={t("dash.confirm.label")} className="confirm">
              <p>{t("dash.transfers.confirm", { amount: formatMinorUnits(pending.amount, decimals, CURRENCY), to: pending.to, reference: pending.reference })}</p>
              <button type="button" className="primary" disabled={create.isPending} onClick={() => create.mutate(pending)}>
                {t("dash.confirm.yes")}
              </button>
              <button type="button" disabled={create.isPending} onClick={() => setPending(undefined)}>
                {t("dash.confirm.no")}
              </button>
            </div>
          ) : (
            <form onSubmit={ask}>
              {invalid ? <Alert text={t("dash.transfers.invalid")} /> : null}
              <label htmlFor="transfer-to">{t("dash.transfers.to")}</label>
              <input id="transfer-to" required autoComplete="off" spellCheck={false} value={to} onChange={(e) => setTo(e.target.value)} placeholder="0x…" />
              <label htmlFor="transfer-amount">{t("dash.transfers.amount")}</label>
              <input id="transfer-amount" inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />
              <label htmlFor="transfer-reference">{t("dash.transfers.reference")}</label>
              <input id="transfer-reference" required maxLength={64} value={reference} onChange={(e) => setReference(e.target.value)} />
              <label htmlFor="transfer-description">{t("dash.transfers.description")}</label>
              <input id="transfer-description" maxLength={500} value={description} onChange={(e) => setDescription(e.target.value)} />
              <button type="submit">{t("dash.transfers.submit")}</button>
            </form>
          )}
        </section>
      ) : null}
      <section className="card" aria-labelledby="transfers-list">
        <h2 id="transfers-list">{t("dash.transfers.list")}</h2>
        {transfers.isError ? <Alert text={errorText(transfers.error)} /> : null}
        {transfers.isSuccess && rows.length === 0 ? <p>{t("dash.transfers.none")}</p> : null}
        <ul className="rows">
          {rows.map((x) => (
            <li key={x.id} data-transfer={x.reference}>
              <strong>{money(x.amount, x.currency)}</strong> · {t(`dash.opStatus.${x.status}` as MessageKey)} · {x.reference} · {new Date(x.createdAt).toLocaleString()}
              <div>{t("dash.transfers.net", { fee: money(x.fee, x.currency), net: money(x.netAmount, x.currency) })}</div>
              <div className="address">{t("dash.transfers.toLine", { to: x.to })}</div>
              {x.error ? <div className="bad">{t("dash.timeline.failed", { code: x.error.code })}</div> : null}
            </li>
          ))}
        </ul>
        {transfers.hasNextPage ? (
          <button type="button" onClick={() => void transfers.fetchNextPage()} disabled={transfers.isFetchingNextPage}>
            {t("dash.payments.more")}
          </button>
        ) : null}
      </section>
    </section>
  );
}

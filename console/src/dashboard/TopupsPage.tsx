/**
 * Top-ups: deposits from the merchant's registered bank account, minted once the bank confirms. The
 * list (cursor pages, followed while one is in progress) and, for owners, a new top-up after a
 * confirmation, with one Idempotency-Key per confirmed request.
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

export function TopupsPage({ role }: { role: DashboardUser["role"] }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const topups = useInfiniteQuery({
    queryKey: ["dashboard", "topups"],
    queryFn: ({ pageParam }) => dashboardApi.topups(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (query) => (query.state.data?.pages.some((p) => p.items.some((x) => x.status === "pending")) ? 2_000 : false),
  });
  const [amount, setAmount] = useState("");
  const [account, setAccount] = useState("");
  const [invalid, setInvalid] = useState(false);
  const [pending, setPending] = useState<{ amount: bigint; account: string; idempotencyKey: string } | undefined>();
  const create = useMutation({
    mutationFn: (p: NonNullable<typeof pending>) => dashboardApi.createTopup({ amount: p.amount.toString(), currency: CURRENCY, account: p.account }, p.idempotencyKey),
    onSuccess: () => {
      setPending(undefined);
      setAmount("");
      void queryClient.invalidateQueries({ queryKey: ["dashboard", "topups"] });
      void queryClient.invalidateQueries({ queryKey: ["dashboard", "balance"] });
    },
  });
  const decimals = decimalsOf(CURRENCY);
  const ask = (event: FormEvent) => {
    event.preventDefault();
    const minor = parseMajorUnits(amount, decimals);
    const ok = minor !== undefined && minor > 0n && account.trim() !== "";
    setInvalid(!ok);
    create.reset();
    if (ok) setPending({ amount: minor, account: account.trim(), idempotencyKey: crypto.randomUUID() });
  };
  const rows = (topups.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section aria-labelledby="topups-title">
      <h1 id="topups-title">{t("dash.topups.title")}</h1>
      <p>{t("dash.topups.intro")}</p>
      {role === "owner" ? (
        <section className="card" aria-labelledby="topup-new">
          <h2 id="topup-new">{t("dash.topups.new")}</h2>
          {create.isError ? <Alert text={errorText(create.error)} /> : null}
          {create.isSuccess ? <Alert kind="info" text={t("dash.topups.created")} /> : null}
          {pending ? (
            <div role="group" aria-label={t("dash.confirm.label")} className="confirm">
              <p>{t("dash.topups.confirm", { amount: formatMinorUnits(pending.amount, decimals, CURRENCY), account: pending.account })}</p>
              <button type="button" className="primary" disabled={create.isPending} onClick={() => create.mutate(pending)}>
                {t("dash.confirm.yes")}
              </button>
              <button type="button" disabled={create.isPending} onClick={() => setPending(undefined)}>
                {t("dash.confirm.no")}
              </button>
            </div>
          ) : (
            <form onSubmit={ask}>
              {invalid ? <Alert text={t("dash.topups.invalid")} /> : null}
              <label htmlFor="topup-amount">{t("dash.topups.amount")}</label>
              <input id="topup-amount" inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />
              <label htmlFor="topup-account">{t("dash.topups.account")}</label>
              <input id="topup-account" required maxLength={64} value={account} onChange={(e) => setAccount(e.target.value)} />
              <button type="submit">{t("dash.topups.submit")}</button>
            </form>
          )}
        </section>
      ) : null}
      <section className="card" aria-labelledby="topups-list">
        <h2 id="topups-list">{t("dash.topups.list")}</h2>
        {topups.isError ? <Alert text={errorText(topups.error)} /> : null}
        {topups.isSuccess && rows.length === 0 ? <p>{t("dash.topups.none")}</p> : null}
        <ul className="rows">
          {rows.map((x) => (
            <li key={x.id} data-topup={x.id}>
              <strong>{money(x.amount, x.currency)}</strong> · {t(`dash.topups.stage.${x.stage}` as MessageKey)} · {new Date(x.createdAt).toLocaleString()}
              <div className="address">
                {x.id} · {x.account}
              </div>
              {x.failure ? <div className="bad">{t("dash.timeline.failed", { code: x.failure.code })}</div> : null}
            </li>
          ))}
        </ul>
        {topups.hasNextPage ? (
          <button type="button" onClick={() => void topups.fetchNextPage()} disabled={topups.isFetchingNextPage}>
            {t("dash.payments.more")}
          </button>
        ) : null}
      </section>
    </section>
  );
}

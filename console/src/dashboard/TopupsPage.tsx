/**
 * Top-ups: deposits from the merchant's registered bank account, minted once the bank confirms. The
 * list (cursor pages, followed while one is in progress) and, for owners, a new top-up after a
 * confirmation, with one Idempotency-Key per confirmed request.
 */
import { useState } from "react";

import { dashboardApi, type DashboardUser } from "../api/dashboard.ts";
import { decimalsOf, formatMinorUnits, parseMajorUnits } from "../format.ts";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { CursorListCard, useCursorPages } from "./CursorList.tsx";
import { NewRequestCard } from "./NewRequestCard.tsx";
import { money } from "./PaymentsPage.tsx";

const CURRENCY = "CNY";

interface Draft {
  amount: bigint;
  account: string;
  idempotencyKey: string;
}

export function TopupsPage({ role }: { role: DashboardUser["role"] }) {
  const { t } = useI18n();
  const topups = useCursorPages("topups", dashboardApi.topups, (x) => x.status === "pending");
  const [amount, setAmount] = useState("");
  const [account, setAccount] = useState("");
  const decimals = decimalsOf(CURRENCY);
  const draft = (): Draft | undefined => {
    const minor = parseMajorUnits(amount, decimals);
    return minor !== undefined && minor > 0n && account.trim() !== "" ? { amount: minor, account: account.trim(), idempotencyKey: crypto.randomUUID() } : undefined;
  };
  return (
    <section aria-labelledby="topups-title">
      <h1 id="topups-title">{t("dash.topups.title")}</h1>
      <p>{t("dash.topups.intro")}</p>
      {role === "owner" ? (
        <NewRequestCard
          id="topup-new"
          title={t("dash.topups.new")}
          invalid={t("dash.topups.invalid")}
          submit={t("dash.topups.submit")}
          created={t("dash.topups.created")}
          draft={draft}
          summary={(d) => t("dash.topups.confirm", { amount: formatMinorUnits(d.amount, decimals, CURRENCY), account: d.account })}
          send={(d) => dashboardApi.createTopup({ amount: d.amount.toString(), currency: CURRENCY, account: d.account }, d.idempotencyKey)}
          list="topups"
          onSent={() => setAmount("")}
        >
          <label htmlFor="topup-amount">{t("dash.topups.amount")}</label>
          <input id="topup-amount" inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />
          <label htmlFor="topup-account">{t("dash.topups.account")}</label>
          <input id="topup-account" required maxLength={64} value={account} onChange={(e) => setAccount(e.target.value)} />
        </NewRequestCard>
      ) : null}
      <CursorListCard
        id="topups-list"
        title={t("dash.topups.list")}
        empty={t("dash.topups.none")}
        pages={topups}
        row={(x) => (
          <li key={x.id} data-topup={x.id}>
            <strong>{money(x.amount, x.currency)}</strong> · {t(`dash.topups.stage.${x.stage}` as MessageKey)} · {new Date(x.createdAt).toLocaleString()}
            <div className="address">
              {x.id} · {x.account}
            </div>
            {x.failure ? <div className="bad">{t("dash.timeline.failed", { code: x.failure.code })}</div> : null}
          </li>
        )}
      />
    </section>
  );
}

/**
 * Transfers to other merchants (carried by a direct escrow payment signed with this merchant's key,
 * less the recipient's fee): the list, followed while one is pending, and for owners a new transfer
 * after a confirmation. The merchant's reference makes a repeated request return the same transfer.
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
  const transfers = useCursorPages("transfers", dashboardApi.transfers, (x) => x.status === "pending");
  const [to, setTo] = useState("");
  const [amount, setAmount] = useState("");
  const [reference, setReference] = useState("");
  const [description, setDescription] = useState("");
  const decimals = decimalsOf(CURRENCY);
  const draft = (): Draft | undefined => {
    const minor = parseMajorUnits(amount, decimals);
    const ok = minor !== undefined && minor > 0n && ADDRESS.test(to.trim()) && REFERENCE.test(reference.trim());
    return ok ? { to: to.trim(), amount: minor, reference: reference.trim(), description: description.trim(), idempotencyKey: crypto.randomUUID() } : undefined;
  };
  const clear = () => {
    setTo("");
    setAmount("");
    setReference("");
    setDescription("");
  };
  return (
    <section aria-labelledby="transfers-title">
      <h1 id="transfers-title">{t("dash.transfers.title")}</h1>
      <p>{t("dash.transfers.intro")}</p>
      {role === "owner" ? (
        <NewRequestCard
          id="transfer-new"
          title={t("dash.transfers.new")}
          invalid={t("dash.transfers.invalid")}
          submit={t("dash.transfers.submit")}
          created={t("dash.transfers.created")}
          draft={draft}
          summary={(d) => t("dash.transfers.confirm", { amount: formatMinorUnits(d.amount, decimals, CURRENCY), to: d.to, reference: d.reference })}
          send={(d) =>
            dashboardApi.createTransfer({ to: d.to, amount: d.amount.toString(), currency: CURRENCY, reference: d.reference, ...(d.description ? { description: d.description } : {}) }, d.idempotencyKey)
          }
          list="transfers"
          onSent={clear}
        >
          <label htmlFor="transfer-to">{t("dash.transfers.to")}</label>
          <input id="transfer-to" required autoComplete="off" spellCheck={false} value={to} onChange={(e) => setTo(e.target.value)} placeholder="0x…" />
          <label htmlFor="transfer-amount">{t("dash.transfers.amount")}</label>
          <input id="transfer-amount" inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />
          <label htmlFor="transfer-reference">{t("dash.transfers.reference")}</label>
          <input id="transfer-reference" required maxLength={64} value={reference} onChange={(e) => setReference(e.target.value)} />
          <label htmlFor="transfer-description">{t("dash.transfers.description")}</label>
          <input id="transfer-description" maxLength={500} value={description} onChange={(e) => setDescription(e.target.value)} />
        </NewRequestCard>
      ) : null}
      <CursorListCard
        id="transfers-list"
        title={t("dash.transfers.list")}
        empty={t("dash.transfers.none")}
        pages={transfers}
        row={(x) => (
          <li key={x.id} data-transfer={x.reference}>
            <strong>{money(x.amount, x.currency)}</strong> · {t(`dash.opStatus.${x.status}` as MessageKey)} · {x.reference} · {new Date(x.createdAt).toLocaleString()}
            <div>{t("dash.transfers.net", { fee: money(x.fee, x.currency), net: money(x.netAmount, x.currency) })}</div>
            <div className="address">{t("dash.transfers.toLine", { to: x.to })}</div>
            {x.error ? <div className="bad">{t("dash.timeline.failed", { code: x.error.code })}</div> : null}
          </li>
        )}
      />
    </section>
  );
}

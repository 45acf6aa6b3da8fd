/**
 * Disputes: the merchant's payments a payer disputed (open ones, or those an arbiter resolved), each
 * with the payer's reason when it came through this gateway, linked to the payment's page, and the
 * merchant's notes for the arbiter: text and evidence references, added while the dispute is open
 * (signed with the merchant's key by the gateway and passed to every institution's node). Notes are
 * shown as text, never as HTML.
 */
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { dashboardApi, type Dispute } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { useErrorText } from "./errors.ts";
import { money } from "./PaymentsPage.tsx";
import { Link } from "./router.tsx";

export function DisputesPage() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const [status, setStatus] = useState<"disputed" | "resolved">("disputed");
  const disputes = useInfiniteQuery({
    queryKey: ["dashboard", "disputes", status],
    queryFn: ({ pageParam }) => dashboardApi.disputes(status, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const rows = (disputes.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section aria-labelledby="disputes-title">
      <h1 id="disputes-title">{t("dash.disputes.title")}</h1>
      <label htmlFor="disputes-status">{t("dash.disputes.show")}</label>
      <select id="disputes-status" value={status} onChange={(e) => setStatus(e.target.value === "resolved" ? "resolved" : "disputed")}>
        <option value="disputed">{t("dash.disputes.open")}</option>
        <option value="resolved">{t("dash.disputes.resolved")}</option>
      </select>
      <section className="card" aria-label={t(status === "disputed" ? "dash.disputes.open" : "dash.disputes.resolved")}>
        {disputes.isError ? <Alert text={errorText(disputes.error)} /> : null}
        {disputes.isSuccess && rows.length === 0 ? <p>{t(status === "disputed" ? "dash.disputes.noneOpen" : "dash.disputes.noneResolved")}</p> : null}
        <ul className="rows">
          {rows.map((d) => (
            <li key={d.payment.id} data-dispute={d.payment.id}>
              <Link to={`/dashboard/payments/${encodeURIComponent(d.payment.id)}`}>{d.payment.merchantOrderId}</Link> · {money(d.payment.amount, d.payment.currency)}
              {d.openedAt ? ` · ${t("dash.disputes.openedAt", { at: new Date(d.openedAt).toLocaleString() })}` : null}
              <div>{d.reason !== null ? t("dash.disputes.reason", { reason: d.reason }) : t("dash.disputes.noReason")}</div>
              <div className="address">{t("dash.disputes.payer", { payer: d.payment.payer })}</div>
              <Notes dispute={d} open={status === "disputed"} />
            </li>
          ))}
        </ul>
        {disputes.hasNextPage ? (
          <button type="button" onClick={() => void disputes.fetchNextPage()} disabled={disputes.isFetchingNextPage}>
            {t("dash.payments.more")}
          </button>
        ) : null}
      </section>
    </section>
  );
}

/** The merchant's notes on one dispute and, while it is open, a form to add one. */
function Notes({ dispute, open }: { dispute: Dispute; open: boolean }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const id = dispute.payment.id;
  const [text, setText] = useState("");
  const [evidence, setEvidence] = useState("");
  // One Idempotency-Key per note typed: a retry after a lost answer adds it once.
  const [idempotencyKey, setIdempotencyKey] = useState(() => crypto.randomUUID());
  const add = useMutation({
    mutationFn: () =>
      dashboardApi.addDisputeNote(
        id,
        {
          text: text.trim(),
          evidence: evidence
            .split(",")
            .map((e) => e.trim())
            .filter((e) => e !== ""),
        },
        idempotencyKey,
      ),
    onSuccess: async () => {
      setText("");
      setEvidence("");
      setIdempotencyKey(crypto.randomUUID());
      await queryClient.invalidateQueries({ queryKey: ["dashboard", "disputes"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (text.trim() !== "") add.mutate();
  };
  return (
    <section aria-label={t("dash.disputes.notes")}>
      {dispute.notes.length > 0 ? (
        <ol className="rows">
          {dispute.notes.map((note) => (
            <li key={note.id}>
              <time dateTime={note.createdAt}>{t("dash.disputes.noteAt", { at: new Date(note.createdAt).toLocaleString() })}</time>
              <p className="note">{note.text}</p>
              {note.evidence.length > 0 ? <p>{t("dash.disputes.noteEvidence", { refs: note.evidence.join(", ") })}</p> : null}
            </li>
          ))}
        </ol>
      ) : null}
      {open ? (
        <form onSubmit={submit}>
          <label htmlFor={`note-${id}`}>{t("dash.disputes.noteText")}</label>
          <textarea id={`note-${id}`} value={text} maxLength={2000} rows={3} onChange={(e) => setText(e.target.value)} />
          <label htmlFor={`evidence-${id}`}>{t("dash.disputes.evidence")}</label>
          <input id={`evidence-${id}`} value={evidence} maxLength={1000} onChange={(e) => setEvidence(e.target.value)} />
          {add.isError ? <Alert text={errorText(add.error)} /> : null}
          {add.isSuccess ? <p role="status">{t("dash.disputes.noteAdded")}</p> : null}
          <button type="submit" disabled={text.trim() === "" || add.isPending}>
            {t("dash.disputes.addNote")}
          </button>
        </form>
      ) : null}
    </section>
  );
}

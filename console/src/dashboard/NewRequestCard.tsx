/**
 * An owner's card for a new money request (a top-up, a transfer): the form, then what the request
 * will do for the owner to confirm, then the gateway's answer. The draft carries its own
 * Idempotency-Key, so confirming twice sends one request.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";

import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { useErrorText } from "./errors.ts";

export interface NewRequestCardProps<D> {
  id: string;
  title: string;
  /** Shown above the form when `draft` refuses what was typed. */
  invalid: string;
  submit: string;
  /** Shown once the gateway took the request. */
  created: string;
  /** The request the form describes, or undefined when what was typed is not one. */
  draft: () => D | undefined;
  /** What the request will do, in words, for the owner to confirm. */
  summary: (draft: D) => string;
  send: (draft: D) => Promise<unknown>;
  /** The list the request joins (`["dashboard", list]`); it and the balance are fetched again once it is sent. */
  list: string;
  /** Clears the form once the request is sent. */
  onSent: () => void;
  /** The form's fields. */
  children: ReactNode;
}

export function NewRequestCard<D>({ id, title, invalid, submit, created, draft, summary, send, list, onSent, children }: NewRequestCardProps<D>) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [refused, setRefused] = useState(false);
  const [pending, setPending] = useState<D | undefined>();
  const create = useMutation({
    mutationFn: send,
    onSuccess: () => {
      setPending(undefined);
      onSent();
      void queryClient.invalidateQueries({ queryKey: ["dashboard", list] });
      void queryClient.invalidateQueries({ queryKey: ["dashboard", "balance"] });
    },
  });
  const ask = (event: FormEvent) => {
    event.preventDefault();
    const next = draft();
    setRefused(next === undefined);
    create.reset();
    if (next !== undefined) setPending(next);
  };
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {create.isError ? <Alert text={errorText(create.error)} /> : null}
      {create.isSuccess ? <Alert kind="info" text={created} /> : null}
      {pending !== undefined ? (
        <div role="group" aria-label={t("dash.confirm.label")} className="confirm">
          <p>{summary(pending)}</p>
          <button type="button" className="primary" disabled={create.isPending} onClick={() => create.mutate(pending)}>
            {t("dash.confirm.yes")}
          </button>
          <button type="button" disabled={create.isPending} onClick={() => setPending(undefined)}>
            {t("dash.confirm.no")}
          </button>
        </div>
      ) : (
        <form onSubmit={ask}>
          {refused ? <Alert text={invalid} /> : null}
          {children}
          <button type="submit">{submit}</button>
        </form>
      )}
    </section>
  );
}

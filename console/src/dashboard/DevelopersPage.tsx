/**
 * Developers: the merchant's API keys (owners: create, rotate, revoke; a new secret is shown once and
 * never fetched again), webhook endpoints (create and rotate the signing secret, shown once; delete;
 * recent deliveries, each not yet received sent again) and the event log with redelivery.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { dashboardApi, type DashboardUser, type Delivery, type Endpoint } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { useErrorText } from "./errors.ts";

export function DevelopersPage({ role }: { role: DashboardUser["role"] }) {
  const { t } = useI18n();
  return (
    <section aria-labelledby="dev-title">
      <h1 id="dev-title">{t("dash.dev.title")}</h1>
      {role === "owner" ? <ApiKeys /> : null}
      <Endpoints mayEdit={role !== "read-only"} />
      <Events mayRedeliver={role !== "read-only"} />
    </section>
  );
}

/** A secret shown once, with the warning that it will not be shown again. */
function OneTimeSecret({ label, secret }: { label: string; secret: string }) {
  const { t } = useI18n();
  return (
    <div className="alert alert-info" role="status">
      <p>{t("dash.dev.secretOnce")}</p>
      <p>
        {label}: <code className="address" aria-label={label}>{secret}</code>
      </p>
    </div>
  );
}

function ApiKeys() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ["dashboard", "keys"], queryFn: () => dashboardApi.keys() });
  const [secret, setSecret] = useState<{ keyId: string; secret: string } | undefined>();
  const [revoking, setRevoking] = useState<string | undefined>();
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["dashboard", "keys"] });
  const issue = useMutation({
    mutationFn: (kind: "create" | "rotate") => (kind === "create" ? dashboardApi.createKey() : dashboardApi.rotateKeys()),
    onSuccess: (issued) => {
      setSecret({ keyId: issued.keyId, secret: issued.secret });
      refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) => dashboardApi.revokeKey(keyId),
    onSuccess: () => {
      setRevoking(undefined);
      refresh();
    },
  });
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">{t("dash.dev.keys")}</h2>
      {keys.isPending ? <p>{t("loading")}</p> : null}
      {keys.isError ? <Alert text={errorText(keys.error)} /> : null}
      {issue.isError ? <Alert text={errorText(issue.error)} /> : null}
      {revoke.isError ? <Alert text={errorText(revoke.error)} /> : null}
      {secret ? <OneTimeSecret label={t("dash.dev.keySecret", { keyId: secret.keyId })} secret={secret.secret} /> : null}
      <ul className="rows">
        {(keys.data?.items ?? []).map((k) => (
          <li key={k.keyId}>
            <code className="address">{k.keyId}</code> — {k.revokedAt ? t("dash.dev.keyRevoked") : k.expiresAt ? t("dash.dev.keyExpires", { at: new Date(k.expiresAt).toLocaleString() }) : t("dash.dev.keyActive")}
            {!k.revokedAt ? (
              revoking === k.keyId ? (
                <span role="group" aria-label={t("dash.confirm.label")}>
                  {t("dash.dev.revokeConfirm", { keyId: k.keyId })}
                  <button type="button" className="primary" onClick={() => revoke.mutate(k.keyId)} disabled={revoke.isPending}>
                    {t("dash.confirm.yes")}
                  </button>
                  <button type="button" onClick={() => setRevoking(undefined)}>
                    {t("dash.confirm.no")}
                  </button>
                </span>
              ) : (
                <button type="button" onClick={() => setRevoking(k.keyId)}>
                  {t("dash.dev.revoke", { keyId: k.keyId })}
                </button>
              )
            ) : null}
          </li>
        ))}
      </ul>
      <button type="button" onClick={() => issue.mutate("create")} disabled={issue.isPending}>
        {t("dash.dev.createKey")}
      </button>
      <button type="button" onClick={() => issue.mutate("rotate")} disabled={issue.isPending}>
        {t("dash.dev.rotateKeys")}
      </button>
    </section>
  );
}

function Endpoints({ mayEdit }: { mayEdit: boolean }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const endpoints = useQuery({ queryKey: ["dashboard", "endpoints"], queryFn: () => dashboardApi.endpoints() });
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState<string | undefined>();
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["dashboard", "endpoints"] });
  const create = useMutation({
    mutationFn: () => dashboardApi.createEndpoint(url, crypto.randomUUID()),
    onSuccess: (created) => {
      setSecret(created.secret);
      setUrl("");
      refresh();
    },
  });
  const remove = useMutation({ mutationFn: (id: string) => dashboardApi.deleteEndpoint(id), onSuccess: refresh });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <section className="card" aria-labelledby="endpoints-title">
      <h2 id="endpoints-title">{t("dash.dev.endpoints")}</h2>
      {endpoints.isPending ? <p>{t("loading")}</p> : null}
      {endpoints.isError ? <Alert text={errorText(endpoints.error)} /> : null}
      {create.isError ? <Alert text={errorText(create.error)} /> : null}
      {remove.isError ? <Alert text={errorText(remove.error)} /> : null}
      {secret ? <OneTimeSecret label={t("dash.dev.endpointSecret")} secret={secret} /> : null}
      <ul className="rows">
        {(endpoints.data?.items ?? []).map((e) => (
          <EndpointRow key={e.id} endpoint={e} mayEdit={mayEdit} onDelete={() => remove.mutate(e.id)} onRotated={() => setSecret(undefined)} />
        ))}
      </ul>
      {endpoints.isSuccess && endpoints.data.items.length === 0 ? <p>{t("dash.dev.noEndpoints")}</p> : null}
      {mayEdit ? (
        <form onSubmit={submit}>
          <label htmlFor="endpoint-url">{t("dash.dev.endpointUrl")}</label>
          <input id="endpoint-url" type="url" required value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://" />
          <button type="submit" disabled={create.isPending}>
            {t("dash.dev.addEndpoint")}
          </button>
        </form>
      ) : null}
      <p className="muted">{t("dash.dev.rotateEndpointHint")}</p>
    </section>
  );
}

function EndpointRow({ endpoint, mayEdit, onDelete, onRotated }: { endpoint: Endpoint; mayEdit: boolean; onDelete: () => void; onRotated: () => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [confirming, setConfirming] = useState<"delete" | "rotate" | undefined>();
  const [secret, setSecret] = useState<string | undefined>();
  const [resent, setResent] = useState<string | undefined>();
  const deliveriesKey = ["dashboard", "deliveries", endpoint.id];
  const deliveries = useQuery({
    queryKey: deliveriesKey,
    queryFn: () => dashboardApi.deliveries(endpoint.id),
    enabled: open,
    // Follow deliveries still being retried until they settle.
    refetchInterval: (query) => (query.state.data?.items.some((d) => d.status === "pending") ? 2_000 : false),
  });
  const rotate = useMutation({
    mutationFn: () => dashboardApi.rotateEndpointSecret(endpoint.id, crypto.randomUUID()),
    onSuccess: (rotated) => {
      setConfirming(undefined);
      setSecret(rotated.secret);
      // The secret shown at creation no longer signs anything: only the new one stays on screen.
      onRotated();
    },
  });
  const redeliver = useMutation({
    mutationFn: (eventId: string) => dashboardApi.redeliver(eventId, crypto.randomUUID(), endpoint.id),
    onSuccess: (_answer, eventId) => {
      setResent(eventId);
      void queryClient.invalidateQueries({ queryKey: deliveriesKey });
    },
  });
  const host = endpoint.url;
  return (
    <li>
      <span className="address">{endpoint.url}</span> — {t(endpoint.status === "active" ? "dash.dev.endpointActive" : "dash.dev.endpointDisabled")}
      {rotate.isError ? <Alert text={errorText(rotate.error)} /> : null}
      {secret ? <OneTimeSecret label={t("dash.dev.newEndpointSecret", { url: host })} secret={secret} /> : null}
      <div className="actions">
        <button type="button" aria-expanded={open} onClick={() => setOpen(!open)} aria-label={t("dash.dev.deliveriesOf", { url: host })}>
          {t("dash.dev.deliveries")}
        </button>
        {mayEdit && confirming === undefined ? (
          <>
            <button type="button" onClick={() => setConfirming("rotate")} aria-label={t("dash.dev.rotateSecretOf", { url: host })}>
              {t("dash.dev.rotateSecret")}
            </button>
            <button type="button" onClick={() => setConfirming("delete")} aria-label={t("dash.dev.deleteEndpointOf", { url: host })}>
              {t("dash.dev.deleteEndpoint")}
            </button>
          </>
        ) : null}
      </div>
      {mayEdit && confirming !== undefined ? (
        <div role="group" aria-label={t("dash.confirm.label")} className="confirm">
          <p>{t(confirming === "rotate" ? "dash.dev.rotateSecretConfirm" : "dash.dev.deleteConfirm")}</p>
          <button type="button" className="primary" disabled={rotate.isPending} onClick={() => (confirming === "rotate" ? rotate.mutate() : onDelete())}>
            {t("dash.confirm.yes")}
          </button>
          <button type="button" onClick={() => setConfirming(undefined)}>
            {t("dash.confirm.no")}
          </button>
        </div>
      ) : null}
      {open ? (
        <>
          {deliveries.isError ? <Alert text={errorText(deliveries.error)} /> : null}
          {redeliver.isError ? <Alert text={errorText(redeliver.error)} /> : null}
          {resent ? <Alert kind="info" text={t("dash.dev.redelivered", { id: resent })} /> : null}
          <ul className="rows" aria-label={t("dash.dev.deliveriesOf", { url: host })}>
            {(deliveries.data?.items ?? []).map((d) => (
              <li key={`${d.eventId}-${d.createdAt}`} data-delivery={d.eventId}>
                {d.eventType} · {t(`dash.delivery.${d.status}` as MessageKey)} · {t("dash.dev.attempts", { count: d.attemptCount })} · {new Date(d.createdAt).toLocaleString()}
                {lastAttemptText(d, t)}
                {/* A delivery the receiver has is not sent again from here; the event log can still. */}
                {mayEdit && d.status !== "succeeded" && endpoint.status === "active" ? (
                  <button type="button" onClick={() => redeliver.mutate(d.eventId)} disabled={redeliver.isPending} aria-label={t("dash.dev.redeliverTo", { id: d.eventId })}>
                    {t("dash.dev.redeliver")}
                  </button>
                ) : null}
              </li>
            ))}
          </ul>
          {deliveries.isSuccess && deliveries.data.items.length === 0 ? <p>{t("dash.dev.noDeliveries")}</p> : null}
        </>
      ) : null}
    </li>
  );
}

/** The last attempt's answer, in words (an HTTP status, or why none came). */
function lastAttemptText(d: Delivery, t: ReturnType<typeof useI18n>["t"]): string {
  const last = d.attempts.at(-1);
  if (!last) return "";
  if (last.statusCode !== null) return ` · ${t("dash.dev.lastAnswer", { status: String(last.statusCode) })}`;
  return ` · ${t("dash.dev.lastError", { error: last.error ?? "" })}`;
}

function Events({ mayRedeliver }: { mayRedeliver: boolean }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const events = useQuery({ queryKey: ["dashboard", "events"], queryFn: () => dashboardApi.events() });
  const [done, setDone] = useState<string | undefined>();
  const redeliver = useMutation({ mutationFn: (id: string) => dashboardApi.redeliver(id, crypto.randomUUID()), onSuccess: (_answer, id) => setDone(id) });
  return (
    <section className="card" aria-labelledby="events-title">
      <h2 id="events-title">{t("dash.dev.events")}</h2>
      {events.isPending ? <p>{t("loading")}</p> : null}
      {events.isError ? <Alert text={errorText(events.error)} /> : null}
      {redeliver.isError ? <Alert text={errorText(redeliver.error)} /> : null}
      {done ? <Alert kind="info" text={t("dash.dev.redelivered", { id: done })} /> : null}
      <ul className="rows">
        {(events.data?.items ?? []).map((e) => (
          <li key={e.id}>
            {e.type} · {new Date(e.createdAt).toLocaleString()} · <code className="address">{e.id}</code>
            {mayRedeliver ? (
              <button type="button" onClick={() => redeliver.mutate(e.id)} disabled={redeliver.isPending}>
                {t("dash.dev.redeliver")}
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {events.isSuccess && events.data.items.length === 0 ? <p>{t("dash.dev.noEvents")}</p> : null}
    </section>
  );
}

/**
 * Developers: the merchant's API keys (owners: create, rotate, revoke; a new secret is shown once and
 * never fetched again), webhook endpoints (create with the signing secret shown once, delete, recent
 * deliveries) and the event log with redelivery.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { dashboardApi, type DashboardUser, type Endpoint } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
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
      {endpoints.isError ? <Alert text={errorText(endpoints.error)} /> : null}
      {create.isError ? <Alert text={errorText(create.error)} /> : null}
      {remove.isError ? <Alert text={errorText(remove.error)} /> : null}
      {secret ? <OneTimeSecret label={t("dash.dev.endpointSecret")} secret={secret} /> : null}
      <ul className="rows">
        {(endpoints.data?.items ?? []).map((e) => (
          <EndpointRow key={e.id} endpoint={e} mayEdit={mayEdit} onDelete={() => remove.mutate(e.id)} />
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

function EndpointRow({ endpoint, mayEdit, onDelete }: { endpoint: Endpoint; mayEdit: boolean; onDelete: () => void }) {
  const { t } = useI18n();
  const errorText = useErrorText();
  const [open, setOpen] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const deliveries = useQuery({ queryKey: ["dashboard", "deliveries", endpoint.id], queryFn: () => dashboardApi.deliveries(endpoint.id), enabled: open });
  return (
    <li>
      <span className="address">{endpoint.url}</span> — {endpoint.status}
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        {t("dash.dev.deliveries")}
      </button>
      {mayEdit ? (
        confirming ? (
          <span role="group" aria-label={t("dash.confirm.label")}>
            {t("dash.dev.deleteConfirm")}
            <button type="button" className="primary" onClick={onDelete}>
              {t("dash.confirm.yes")}
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              {t("dash.confirm.no")}
            </button>
          </span>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            {t("dash.dev.deleteEndpoint")}
          </button>
        )
      ) : null}
      {open ? (
        <>
          {deliveries.isError ? <Alert text={errorText(deliveries.error)} /> : null}
          <ul>
            {(deliveries.data?.items ?? []).map((d) => (
              <li key={`${d.eventId}-${d.createdAt}`}>
                {d.eventType} · {d.status} · {t("dash.dev.attempts", { count: d.attemptCount })} · {new Date(d.createdAt).toLocaleString()}
              </li>
            ))}
          </ul>
          {deliveries.isSuccess && deliveries.data.items.length === 0 ? <p>{t("dash.dev.noDeliveries")}</p> : null}
        </>
      ) : null}
    </li>
  );
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

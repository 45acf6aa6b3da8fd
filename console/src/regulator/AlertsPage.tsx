/**
 * AML and reserves alerts: the open ones first, each with its account, payments and reporters; an
 * alert's page acknowledges it with a note and freezes or unfreezes its account with the regulator's
 * own key, the alert's id as the freeze's reason. The account's state is read again once the freeze
 * is executed on-chain.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { regulatorApi, type AlertRecord } from "../api/regulator.ts";
import { Alert } from "../components/Alert.tsx";
import { Link } from "../components/router.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { useNodeErrorText } from "../node/errors.ts";
import { KeyPicker } from "../node/KeyPicker.tsx";
import { freezeTypedData, freshNonceAndDeadline, type PersonalSigner } from "../node/signing.ts";
import { Address, Hex, chainTime, money, useNetwork, useTokens } from "./common.tsx";

export function AlertsPage() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const [status, setStatus] = useState<"open" | "acknowledged" | "">("open");
  const alerts = useQuery({ queryKey: ["reg", "alerts", status], queryFn: () => regulatorApi.alerts(status ? { status } : {}) });
  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">{t("reg.alerts.title")}</h1>
      <label htmlFor="alert-status">{t("reg.alerts.status")}</label>
      <select id="alert-status" value={status} onChange={(e) => setStatus(e.target.value as typeof status)}>
        <option value="open">{t("reg.alerts.open")}</option>
        <option value="acknowledged">{t("reg.alerts.acknowledged")}</option>
        <option value="">{t("reg.alerts.all")}</option>
      </select>
      {alerts.isError ? <Alert text={errorText(alerts.error)} /> : null}
      {alerts.data?.items.length === 0 ? <p>{t("reg.alerts.none")}</p> : null}
      <ul className="plain">
        {alerts.data?.items.map((a) => (
          <li key={a.id} className="card">
            <Link to={`/console/regulator/alerts/${a.id}`}>{t("reg.alerts.item", { rule: t(ruleKey(a.rule)), amount: a.amount ? money(a.amount, a.token, tokens) : "—" })}</Link>
            <p>
              {t("reg.alerts.account")} <Address value={a.account} /> · {chainTime(a.at)} · {a.ack ? t("reg.alerts.acknowledged") : t("reg.alerts.open")}
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}

const RULES = ["LARGE_VALUE", "PAYER_DAILY_TOTAL", "STRUCTURING", "VELOCITY", "BLACKLISTED_COUNTERPARTY", "RESERVES_STALE", "RESERVES_RATIO_LOW"] as const;
function ruleKey(rule: string) {
  return (RULES as readonly string[]).includes(rule) ? (`reg.rule.${rule as (typeof RULES)[number]}` as const) : ("reg.rule.other" as const);
}

export function AlertPage({ id }: { id: string }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const alerts = useQuery({ queryKey: ["reg", "alert", id], queryFn: () => regulatorApi.alert(id) });
  if (alerts.isError) return <Alert text={errorText(alerts.error)} />;
  if (alerts.isPending) return <p>{t("loading")}</p>;
  const alert = alerts.data;
  if (!alert) return <Alert text={t("reg.alerts.notFound")} />;
  return (
    <section aria-labelledby="alert-title">
      <Link to="/console/regulator">{t("reg.alerts.back")}</Link>
      <h1 id="alert-title">{t(ruleKey(alert.rule))}</h1>
      <dl className="facts">
        <dt>{t("reg.alerts.id")}</dt>
        <dd>
          <Hex value={alert.id} />
        </dd>
        <dt>{t("reg.alerts.account")}</dt>
        <dd className="address">{alert.account}</dd>
        {alert.amount ? (
          <>
            <dt>{t("reg.alerts.amount")}</dt>
            <dd>{money(alert.amount, alert.token, tokens)}</dd>
          </>
        ) : null}
        {alert.threshold ? (
          <>
            <dt>{t("reg.alerts.threshold")}</dt>
            <dd>{money(alert.threshold, alert.token, tokens)}</dd>
          </>
        ) : null}
        <dt>{t("reg.alerts.at")}</dt>
        <dd>{chainTime(alert.at)}</dd>
        <dt>{t("reg.alerts.reportedBy")}</dt>
        <dd>{alert.reportedBy.join(", ")}</dd>
      </dl>
      {alert.paymentIds.length > 0 ? (
        <>
          <h2>{t("reg.alerts.payments")}</h2>
          <ul>
            {alert.paymentIds.map((p) => (
              <li key={p}>
                <Link to={`/console/regulator/payments/${p}`} className="address">
                  {p}
                </Link>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <Acknowledge alert={alert} />
      <Freeze alert={alert} />
    </section>
  );
}

function Acknowledge({ alert }: { alert: AlertRecord }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const queryClient = useQueryClient();
  const [note, setNote] = useState("");
  const ack = useMutation({
    mutationFn: () => regulatorApi.acknowledge(alert.id, note),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["reg"] }),
  });
  if (alert.ack) {
    return (
      <div className="card">
        <h2>{t("reg.ack.title")}</h2>
        <p role="status">{t("reg.ack.done", { by: alert.ack.by, at: new Date(alert.ack.atMs).toISOString(), note: alert.ack.note })}</p>
      </div>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    ack.mutate();
  };
  return (
    <form className="card" onSubmit={submit}>
      <h2>{t("reg.ack.title")}</h2>
      {ack.isError ? <Alert text={errorText(ack.error)} /> : null}
      <label htmlFor="ack-note">{t("reg.ack.note")}</label>
      <textarea id="ack-note" maxLength={2000} value={note} onChange={(e) => setNote(e.target.value)} />
      <button type="submit" className="primary" disabled={ack.isPending}>
        {t("reg.ack.submit")}
      </button>
    </form>
  );
}

function Freeze({ alert }: { alert: AlertRecord }) {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const tokens = useTokens();
  const network = useNetwork();
  const queryClient = useQueryClient();
  const [signer, setSigner] = useState<PersonalSigner>();
  const [pending, setPending] = useState<string>();
  const account = useQuery({ queryKey: ["reg", "account", alert.token, alert.account], queryFn: () => regulatorApi.tokenAccount(alert.token, alert.account) });
  // Until the operation is executed (or fails), the page follows it; then the account is read again.
  const operation = useQuery({
    queryKey: ["reg", "operation", pending],
    queryFn: async () => {
      const op = await regulatorApi.operation(pending ?? "");
      if (op.status === "executed" || op.status === "failed") await queryClient.invalidateQueries({ queryKey: ["reg", "account"] });
      return op;
    },
    enabled: pending !== undefined,
    refetchInterval: (query) => (query.state.data?.status === "executed" || query.state.data?.status === "failed" ? false : 1_000),
  });
  const done = operation.data?.status === "executed" || operation.data?.status === "failed";
  const sign = useMutation({
    mutationFn: async (frozen: boolean) => {
      const token = tokens.get(alert.token.toLowerCase());
      if (!signer || !token || !network.data) throw new Error("not ready");
      const draft = { account: alert.account, frozen, reason: alert.id, ...freshNonceAndDeadline() };
      const signature = await signer.sign(freezeTypedData(network.data, token, draft));
      return regulatorApi.submit({ kind: "freeze", token: token.token, ...draft, signature });
    },
    onSuccess: (accepted) => setPending(accepted.id),
  });
  const frozen = account.data?.frozen;
  return (
    <div className="card">
      <h2>{t("reg.freeze.title")}</h2>
      {account.isError ? <Alert text={errorText(account.error)} /> : null}
      {frozen !== undefined ? (
        <p className="status" data-status={frozen ? "disputed" : "held"} role="status">
          {frozen ? t("reg.freeze.frozen") : t("reg.freeze.notFrozen")}
        </p>
      ) : null}
      <p>{t("reg.freeze.explain")}</p>
      <KeyPicker signer={signer} onSigner={setSigner} />
      {sign.isError ? <Alert text={errorText(sign.error)} /> : null}
      {pending && !done ? <p role="status">{t("reg.freeze.pending", { id: pending })}</p> : null}
      {operation.data?.status === "failed" ? <Alert text={t("reg.freeze.failed", { code: operation.data.error?.code ?? "" })} /> : null}
      {operation.data?.status === "executed" && operation.data.execution ? (
        <p role="status">{t("reg.freeze.executed", { block: operation.data.execution.blockNumber, tx: operation.data.execution.txHash })}</p>
      ) : null}
      <button type="button" className="primary" disabled={!signer || sign.isPending || frozen === undefined || (pending !== undefined && !done)} onClick={() => sign.mutate(!frozen)}>
        {frozen ? t("reg.freeze.unfreeze") : t("reg.freeze.freeze")}
      </button>
    </div>
  );
}

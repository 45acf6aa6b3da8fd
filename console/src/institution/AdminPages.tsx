/** The institution console's admin pages: risk rules, the node's users, the audit log verified here. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { institutionApi, verifyAuditChain, type AuditEntry } from "../api/institution.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { useNodeErrorText } from "../node/errors.ts";

export function RiskRulesPage() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const queryClient = useQueryClient();
  const rules = useQuery({ queryKey: ["inst", "risk"], queryFn: institutionApi.riskRules });
  const [text, setText] = useState("");
  const [badJson, setBadJson] = useState(false);
  const apply = useMutation({ mutationFn: (signed: unknown) => institutionApi.putRiskRules(signed), onSuccess: (view) => queryClient.setQueryData(["inst", "risk"], view) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    let signed: unknown;
    try {
      signed = JSON.parse(text);
    } catch {
      setBadJson(true);
      return;
    }
    setBadJson(false);
    apply.mutate(signed);
  };
  return (
    <>
      <section className="card">
        {rules.isError ? <Alert text={errorText(rules.error)} /> : null}
        {rules.data ? (
          <>
            <p>{t("inst.risk.version", { version: rules.data.version, source: rules.data.source })}</p>
            {rules.data.signer ? <p>{t("inst.risk.signer", { signer: rules.data.signer })}</p> : null}
            {rules.data.signed ? <pre className="json">{JSON.stringify(rules.data.signed, null, 2)}</pre> : null}
          </>
        ) : null}
      </section>
      <section className="card" aria-labelledby="risk-apply">
        <h2 id="risk-apply">{t("inst.risk.apply")}</h2>
        {badJson ? <Alert text={t("inst.risk.badJson")} /> : null}
        {apply.isError ? <Alert text={errorText(apply.error)} /> : null}
        <form onSubmit={submit}>
          <label htmlFor="risk-document">{t("inst.risk.document")}</label>
          <textarea id="risk-document" rows={8} required value={text} onChange={(e) => setText(e.target.value)} />
          <button type="submit" className="primary" disabled={apply.isPending}>
            {t("inst.risk.submit")}
          </button>
        </form>
      </section>
    </>
  );
}

export function UsersPage() {
  const { t, locale } = useI18n();
  const errorText = useNodeErrorText();
  const queryClient = useQueryClient();
  const users = useQuery({ queryKey: ["inst", "users"], queryFn: institutionApi.users });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["inst", "users"] });
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("operator");
  const [password, setPassword] = useState("");
  const create = useMutation({
    mutationFn: () => institutionApi.createUser({ email, role, password }),
    onSuccess: () => {
      setPassword("");
      void refresh();
    },
  });
  const change = useMutation({
    mutationFn: async (action: { id: string; kind: "disable" | "enable" | "remove" }): Promise<unknown> =>
      action.kind === "remove" ? institutionApi.removeUser(action.id) : institutionApi.setUserDisabled(action.id, action.kind === "disable"),
    onSettled: () => void refresh(),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <>
      {users.isError ? <Alert text={errorText(users.error)} /> : null}
      {change.isError ? <Alert text={errorText(change.error)} /> : null}
      <div className="table-wrap">
        <table className="list">
          <tbody>
            {users.data?.map((u) => (
              <tr key={u.id}>
                <td>{u.email}</td>
                <td>{u.role}</td>
                <td>{u.disabledAtMs === undefined ? t("inst.users.active") : t("inst.users.disabled")}</td>
                <td>{new Date(u.createdAtMs).toLocaleString(locale)}</td>
                <td>
                  <button type="button" disabled={change.isPending} onClick={() => change.mutate({ id: u.id, kind: u.disabledAtMs === undefined ? "disable" : "enable" })}>
                    {u.disabledAtMs === undefined ? t("inst.users.disable") : t("inst.users.enable")}
                  </button>{" "}
                  <button type="button" disabled={change.isPending} onClick={() => change.mutate({ id: u.id, kind: "remove" })}>
                    {t("inst.users.remove")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section className="card" aria-labelledby="user-create">
        <h2 id="user-create">{t("inst.users.create")}</h2>
        {create.isError ? <Alert text={errorText(create.error)} /> : null}
        {create.data ? <Alert kind="info" text={t("inst.users.enrol", { uri: create.data.otpauthUri })} /> : null}
        <form onSubmit={submit}>
          <label htmlFor="user-email">{t("inst.users.email")}</label>
          <input id="user-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          <label htmlFor="user-role">{t("inst.users.role")}</label>
          <select id="user-role" value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="operator">{t("node.role.operator")}</option>
            <option value="regulator">{t("node.role.regulator")}</option>
          </select>
          <label htmlFor="user-password">{t("inst.users.password")}</label>
          <input id="user-password" type="password" autoComplete="new-password" minLength={12} required value={password} onChange={(e) => setPassword(e.target.value)} />
          <button type="submit" className="primary" disabled={create.isPending}>
            {t("inst.users.submit")}
          </button>
        </form>
      </section>
    </>
  );
}

/** Every page of the audit log, with the head the last page gave. */
async function wholeAuditLog(): Promise<{ entries: AuditEntry[]; head: { seq: number; hash: string } }> {
  const entries: AuditEntry[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await institutionApi.auditLog(after);
    entries.push(...page.entries);
    if (page.next === undefined) return { entries, head: page.head };
    after = page.next;
  }
}

export function AuditPage() {
  const { t, locale } = useI18n();
  const errorText = useNodeErrorText();
  const log = useQuery({ queryKey: ["inst", "audit"], queryFn: wholeAuditLog });
  const verify = useMutation({ mutationFn: async () => (log.data ? verifyAuditChain(log.data.entries, log.data.head) : undefined) });
  if (log.isError) return <Alert text={errorText(log.error)} />;
  if (!log.data) return <p>{t("loading")}</p>;
  const outcome = verify.data;
  return (
    <>
      <section className="card">
        <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending}>
          {t("inst.audit.verify")}
        </button>
        {outcome?.ok === true ? <Alert kind="info" text={t("inst.audit.ok", { entries: outcome.entries })} /> : null}
        {outcome?.ok === false ? <Alert text={t("inst.audit.broken", { seq: outcome.brokenAt, reason: outcome.reason })} /> : null}
      </section>
      <div className="table-wrap">
        <table className="list">
          <thead>
            <tr>
              <th>#</th>
              <th>{t("inst.audit.when")}</th>
              <th>{t("inst.audit.actor")}</th>
              <th>{t("inst.audit.action")}</th>
              <th>{t("inst.audit.target")}</th>
            </tr>
          </thead>
          <tbody>
            {[...log.data.entries].reverse().map((e) => (
              <tr key={e.seq}>
                <td>{e.seq}</td>
                <td>{new Date(e.atMs).toLocaleString(locale)}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>{e.target ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

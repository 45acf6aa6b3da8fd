/**
 * The consoles a node serves at /console/: sign-in for the node's users (e-mail, password, TOTP code
 * on /v1/session), then a frame whose pages depend on the user's role — a regulator's under
 * /console/regulator, an institution operator's under /console/institution, an arbiter's under
 * /console/arbiter. Whether a session exists is asked of the node (the cookie is HttpOnly); a 401 from
 * any page's request brings the sign-in form back. A page of another role says so, with the code the
 * node's API would answer (FORBIDDEN), rather than calling routes the role may not.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";

import { sessionApi, type NodeUser, type NodeUserRole } from "../api/node.ts";
import { ArbiterPage } from "../arbiter/ArbiterPage.tsx";
import { Alert } from "../components/Alert.tsx";
import { Link, navigate, useLocation } from "../components/router.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import type { MessageKey } from "../i18n/messages.ts";
import { INSTITUTION_PAGES, InstitutionPage } from "../institution/InstitutionPage.tsx";
import { REGULATOR_PAGES, RegulatorPage } from "../regulator/RegulatorPage.tsx";
import { useNodeErrorText } from "./errors.ts";

export const NODE_SESSION_KEY = ["node", "session"] as const;

/** Each role's area of the console, its pages and their navigation labels. */
const AREAS: Record<NodeUserRole, { base: string; nav: { to: string; label: MessageKey }[]; page: (path: string) => ReactNode }> = {
  regulator: { base: "/console/regulator", nav: REGULATOR_PAGES, page: (path) => <RegulatorPage path={path} /> },
  operator: { base: "/console/institution", nav: INSTITUTION_PAGES, page: (path) => <InstitutionPage path={path} /> },
  arbiter: { base: "/console/arbiter", nav: [{ to: "/console/arbiter", label: "node.nav.disputes" }], page: () => <ArbiterPage /> },
};

export function NodeConsole() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const session = useQuery({ queryKey: NODE_SESSION_KEY, queryFn: () => sessionApi.current(), retry: false, staleTime: Infinity, refetchOnWindowFocus: false });
  if (session.isPending) return <p>{t("loading")}</p>;
  if (session.isError) return <Alert text={errorText(session.error)} />;
  if (!session.data) return <SignInForm />;
  return <Frame user={session.data} />;
}

function Frame({ user }: { user: NodeUser }) {
  const { t } = useI18n();
  const { path } = useLocation();
  const queryClient = useQueryClient();
  const signOut = useMutation({
    mutationFn: () => sessionApi.signOut(),
    onSettled: () => {
      // The pages unmount with the session; what they read is dropped at the next sign-in (removed
      // now, a still-mounted page would fetch it again without a session).
      queryClient.setQueryData(NODE_SESSION_KEY, null);
      navigate("/console");
    },
  });
  const area = AREAS[user.role];
  const inArea = path === area.base || path.startsWith(`${area.base}/`);
  const other = Object.values(AREAS).some((a) => a !== area && (path === a.base || path.startsWith(`${a.base}/`)));
  let page: ReactNode;
  if (inArea) page = area.page(path);
  else if (other) page = <Forbidden role={user.role} />;
  else if (path === "/console") page = area.page(area.base);
  else page = <Alert text={t("node.notFound")} />;
  return (
    <div className="dashboard node-console" data-role={user.role}>
      <nav aria-label={t("node.nav")} className="dash-nav">
        {area.nav.map((item) => (
          <Link key={item.to} to={item.to}>
            {t(item.label)}
          </Link>
        ))}
        <span className="who" title={user.email}>
          {t("node.signedInAs", { email: user.email, role: t(`node.role.${user.role}`) })}
        </span>
        <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
          {t("node.signOut")}
        </button>
      </nav>
      {page}
    </div>
  );
}

function Forbidden({ role }: { role: NodeUserRole }) {
  const { t } = useI18n();
  return (
    <section className="card" aria-labelledby="forbidden-title">
      <h1 id="forbidden-title">{t("node.forbidden.title")}</h1>
      <Alert text={t("node.forbidden.text", { code: "FORBIDDEN", role: t(`node.role.${role}`) })} />
    </section>
  );
}

function SignInForm() {
  const { t } = useI18n();
  const errorText = useNodeErrorText();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [totp, setTotp] = useState("");
  const signIn = useMutation({
    mutationFn: () => sessionApi.signIn({ email, password, totp }),
    onSuccess: (user) => {
      setPassword("");
      setTotp("");
      // Nothing read under an earlier session (perhaps another user's) is shown under this one.
      queryClient.removeQueries({ predicate: (query) => JSON.stringify(query.queryKey) !== JSON.stringify(NODE_SESSION_KEY) });
      queryClient.setQueryData(NODE_SESSION_KEY, user);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate();
  };
  return (
    <section aria-labelledby="signin-title" className="card">
      <h1 id="signin-title">{t("node.signIn.title")}</h1>
      {signIn.isError ? <Alert text={errorText(signIn.error)} /> : null}
      <form onSubmit={submit}>
        <label htmlFor="signin-email">{t("node.signIn.email")}</label>
        <input id="signin-email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="signin-password">{t("node.signIn.password")}</label>
        <input id="signin-password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <label htmlFor="signin-totp">{t("node.signIn.totp")}</label>
        <input id="signin-totp" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6}" maxLength={6} required value={totp} onChange={(e) => setTotp(e.target.value)} />
        <button type="submit" className="primary" disabled={signIn.isPending}>
          {t("node.signIn.submit")}
        </button>
      </form>
    </section>
  );
}

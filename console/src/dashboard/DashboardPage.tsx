/**
 * The merchant dashboard: sign-in (e-mail, password, TOTP code), the invitation page, and once signed
 * in the overview, payments, balance and developers pages. Whether a session exists is asked of the gateway (the cookie
 * is HttpOnly); a 401 from any page's request brings the sign-in form back.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { ApiError, dashboardApi, type DashboardUser } from "../api/dashboard.ts";
import { Alert } from "../components/Alert.tsx";
import { useI18n } from "../i18n/i18n.tsx";
import { DevelopersPage } from "./DevelopersPage.tsx";
import { DisputesPage } from "./DisputesPage.tsx";
import { MoneyPage } from "./MoneyPage.tsx";
import { OverviewPage } from "./OverviewPage.tsx";
import { useErrorText } from "./errors.ts";
import { PaymentPage } from "./PaymentPage.tsx";
import { PaymentsPage } from "./PaymentsPage.tsx";
import { ReconciliationPage } from "./ReconciliationPage.tsx";
import { TopupsPage } from "./TopupsPage.tsx";
import { TransfersPage } from "./TransfersPage.tsx";
import { Link, navigate, useLocation } from "./router.tsx";

export const SESSION_KEY = ["dashboard", "session"] as const;

export function DashboardPage() {
  const { path } = useLocation();
  if (path === "/dashboard/invite") return <InvitePage />;
  return <SignedIn />;
}

function SignedIn() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const session = useQuery({
    queryKey: SESSION_KEY,
    queryFn: async (): Promise<DashboardUser | null> => {
      try {
        return await dashboardApi.session();
      } catch (error) {
        if (error instanceof ApiError && error.code === "SESSION_REQUIRED") return null;
        throw error;
      }
    },
    retry: false,
    staleTime: Infinity,
    refetchOnWindowFocus: false,
  });
  if (session.isPending) return <p>{t("loading")}</p>;
  if (session.isError) return <Alert text={errorText(session.error)} />;
  if (!session.data) return <SignInForm />;
  return <Frame user={session.data} />;
}

function Frame({ user }: { user: DashboardUser }) {
  const { t } = useI18n();
  const { path } = useLocation();
  const queryClient = useQueryClient();
  const signOut = useMutation({
    mutationFn: () => dashboardApi.signOut(),
    onSettled: () => {
      queryClient.clear();
      queryClient.setQueryData(SESSION_KEY, null);
      navigate("/dashboard");
    },
  });
  const payment = /^\/dashboard\/payments\/([^/]+)$/.exec(path);
  let page;
  if (payment?.[1]) page = <PaymentPage id={decodeURIComponent(payment[1])} role={user.role} />;
  else if (path === "/dashboard/developers") page = <DevelopersPage role={user.role} />;
  else if (path === "/dashboard/payments") page = <PaymentsPage />;
  else if (path === "/dashboard/money") page = <MoneyPage />;
  else if (path === "/dashboard/disputes") page = <DisputesPage />;
  else if (path === "/dashboard/topups") page = <TopupsPage role={user.role} />;
  else if (path === "/dashboard/transfers") page = <TransfersPage role={user.role} />;
  else if (path === "/dashboard/reconciliation") page = <ReconciliationPage />;
  else page = <OverviewPage />;
  return (
    <div className="dashboard">
      <nav aria-label={t("dash.nav")} className="dash-nav">
        <Link to="/dashboard">{t("dash.nav.overview")}</Link>
        <Link to="/dashboard/payments">{t("dash.nav.payments")}</Link>
        <Link to="/dashboard/disputes">{t("dash.nav.disputes")}</Link>
        <Link to="/dashboard/money">{t("dash.nav.money")}</Link>
        <Link to="/dashboard/topups">{t("dash.nav.topups")}</Link>
        <Link to="/dashboard/transfers">{t("dash.nav.transfers")}</Link>
        <Link to="/dashboard/reconciliation">{t("dash.nav.reconciliation")}</Link>
        <Link to="/dashboard/developers">{t("dash.nav.developers")}</Link>
        <span className="who" title={user.email}>
          {t("dash.signedInAs", { email: user.email, role: t(`role.${user.role}`) })}
        </span>
        <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
          {t("dash.signOut")}
        </button>
      </nav>
      {page}
    </div>
  );
}

function SignInForm() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [totp, setTotp] = useState("");
  const signIn = useMutation({
    mutationFn: () => dashboardApi.signIn({ email, password, totp }),
    onSuccess: (user) => {
      setPassword("");
      setTotp("");
      queryClient.setQueryData(SESSION_KEY, user);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate();
  };
  return (
    <section aria-labelledby="signin-title" className="card">
      <h1 id="signin-title">{t("dash.signIn.title")}</h1>
      {signIn.isError ? <Alert text={errorText(signIn.error)} /> : null}
      <form onSubmit={submit}>
        <label htmlFor="signin-email">{t("dash.signIn.email")}</label>
        <input id="signin-email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="signin-password">{t("dash.signIn.password")}</label>
        <input id="signin-password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <label htmlFor="signin-totp">{t("dash.signIn.totp")}</label>
        <input id="signin-totp" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6}" maxLength={6} required value={totp} onChange={(e) => setTotp(e.target.value)} />
        <button type="submit" className="primary" disabled={signIn.isPending}>
          {t("dash.signIn.submit")}
        </button>
      </form>
    </section>
  );
}

function InvitePage() {
  const { t } = useI18n();
  const errorText = useErrorText();
  const { hash } = useLocation();
  // The token travels in the fragment, which browsers never send to a server or in a Referer.
  const token = new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [mismatch, setMismatch] = useState(false);
  const accept = useMutation({ mutationFn: () => dashboardApi.acceptInvitation(token, password) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setMismatch(password !== repeat);
    if (password === repeat) accept.mutate();
  };
  if (accept.data) {
    const secret = new URL(accept.data.otpauthUri).searchParams.get("secret") ?? "";
    return (
      <section aria-labelledby="invite-title" className="card">
        <h1 id="invite-title">{t("dash.invite.done")}</h1>
        <p>{t("dash.invite.enrol")}</p>
        <dl className="facts">
          <dt>{t("dash.invite.uri")}</dt>
          <dd className="address">{accept.data.otpauthUri}</dd>
          <dt>{t("dash.invite.secret")}</dt>
          <dd className="address" aria-label={t("dash.invite.secret")}>
            {secret}
          </dd>
        </dl>
        <p>{t("dash.invite.once")}</p>
        <Link to="/dashboard">{t("dash.invite.toSignIn")}</Link>
      </section>
    );
  }
  return (
    <section aria-labelledby="invite-title" className="card">
      <h1 id="invite-title">{t("dash.invite.title")}</h1>
      {!token ? <Alert text={t("dash.invite.noToken")} /> : null}
      {mismatch ? <Alert text={t("dash.invite.mismatch")} /> : null}
      {accept.isError ? <Alert text={errorText(accept.error)} /> : null}
      <form onSubmit={submit}>
        <label htmlFor="invite-password">{t("dash.invite.password")}</label>
        <input id="invite-password" type="password" autoComplete="new-password" minLength={12} required value={password} onChange={(e) => setPassword(e.target.value)} />
        <label htmlFor="invite-repeat">{t("dash.invite.repeat")}</label>
        <input id="invite-repeat" type="password" autoComplete="new-password" required value={repeat} onChange={(e) => setRepeat(e.target.value)} />
        <button type="submit" className="primary" disabled={!token || accept.isPending}>
          {t("dash.invite.submit")}
        </button>
      </form>
    </section>
  );
}

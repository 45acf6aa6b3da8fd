/** The merchant dashboard's frame; its pages arrive with dashboard sign-in on the gateway. */
import { useI18n } from "../i18n/i18n.tsx";

export function DashboardPage() {
  const { t } = useI18n();
  return (
    <section aria-labelledby="dashboard-title" className="card">
      <h1 id="dashboard-title">{t("dashboard.title")}</h1>
      <p>{t("dashboard.signInUnavailable")}</p>
    </section>
  );
}

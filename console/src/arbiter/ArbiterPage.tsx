/** The arbiter's view: disputes waiting for a decision. */
import { useI18n } from "../i18n/i18n.tsx";

export function ArbiterPage() {
  const { t } = useI18n();
  return (
    <section className="card">
      <h1>{t("node.nav.disputes")}</h1>
    </section>
  );
}

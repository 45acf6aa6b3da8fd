/** The institution console (operators' pages): filled in by the institution console's pages. */
import { useI18n } from "../i18n/i18n.tsx";

export function InstitutionPage() {
  const { t } = useI18n();
  return (
    <section className="card">
      <h1>{t("institution.title")}</h1>
    </section>
  );
}

/** The regulator console's pages under /console/regulator. */
import type { MessageKey } from "../i18n/messages.ts";
import { useI18n } from "../i18n/i18n.tsx";

export const REGULATOR_PAGES: { to: string; label: MessageKey }[] = [
  { to: "/console/regulator", label: "reg.nav.alerts" },
  { to: "/console/regulator/audit", label: "reg.nav.audit" },
  { to: "/console/regulator/cycles", label: "reg.nav.cycles" },
  { to: "/console/regulator/reserves", label: "reg.nav.reserves" },
  { to: "/console/regulator/reports", label: "reg.nav.reports" },
];

export function RegulatorPage({ path }: { path: string }) {
  const { t } = useI18n();
  const current = REGULATOR_PAGES.find((p) => p.to === path) ?? REGULATOR_PAGES[0];
  return (
    <section className="card">
      <h1>{current ? t(current.label) : null}</h1>
    </section>
  );
}

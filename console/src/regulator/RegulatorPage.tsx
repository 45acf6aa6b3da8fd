/** The regulator console's pages under /console/regulator. */
import type { MessageKey } from "../i18n/messages.ts";
import { AlertPage, AlertsPage } from "./AlertsPage.tsx";
import { AuditPage, PaymentHistoryPage } from "./AuditPage.tsx";
import { CyclePage, CyclesPage } from "./CyclesPage.tsx";
import { ReportsPage, ReservesPage } from "./ReservesPage.tsx";

export const REGULATOR_PAGES: { to: string; label: MessageKey }[] = [
  { to: "/console/regulator", label: "reg.nav.alerts" },
  { to: "/console/regulator/audit", label: "reg.nav.audit" },
  { to: "/console/regulator/cycles", label: "reg.nav.cycles" },
  { to: "/console/regulator/reserves", label: "reg.nav.reserves" },
  { to: "/console/regulator/reports", label: "reg.nav.reports" },
];

export function RegulatorPage({ path }: { path: string }) {
  const rest = path.replace(/^\/console\/regulator\/?/, "");
  const [page, id] = rest.split("/").map(decodeURIComponent);
  if (page === "alerts" && id) return <AlertPage id={id} />;
  if (page === "payments" && id) return <PaymentHistoryPage id={id} />;
  if (page === "cycles" && id) return <CyclePage id={id} />;
  if (page === "audit") return <AuditPage />;
  if (page === "cycles") return <CyclesPage />;
  if (page === "reserves") return <ReservesPage />;
  if (page === "reports") return <ReportsPage />;
  return <AlertsPage />;
}

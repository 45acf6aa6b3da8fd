/** Messages of the regulator console and the arbiter view. */
export const regulatorEn = {
  "reg.nav.alerts": "Alerts",
  "reg.nav.audit": "Audit",
  "reg.nav.cycles": "Settlement",
  "reg.nav.reserves": "Reserves",
  "reg.nav.reports": "Reports",
} as const;

export const regulatorZhCN: Record<keyof typeof regulatorEn, string> = {
  "reg.nav.alerts": "预警",
  "reg.nav.audit": "审计",
  "reg.nav.cycles": "清算",
  "reg.nav.reserves": "备付金",
  "reg.nav.reports": "报表",
};

/** Messages of the institution console (operators' pages). */
export const institutionEn = {
  "institution.title": "Institution",
} as const;

export const institutionZhCN: Record<keyof typeof institutionEn, string> = {
  "institution.title": "机构",
};

/** The page frame: a header with the language switch, then the page's main content. */
import type { ReactNode } from "react";

import { useI18n } from "../i18n/i18n.tsx";
import { LOCALES, type Locale } from "../i18n/messages.ts";

export function Layout({ children }: { children: ReactNode }) {
  const { t, locale, setLocale } = useI18n();
  return (
    <>
      <header className="topbar">
        <span className="brand">{t("app.title")}</span>
        <label className="lang">
          <span>{t("lang.label")}</span>
          <select value={locale} onChange={(event) => setLocale(event.target.value as Locale)}>
            {LOCALES.map((l) => (
              <option key={l} value={l} lang={l}>
                {t(`lang.${l}`)}
              </option>
            ))}
          </select>
        </label>
      </header>
      <main id="main">{children}</main>
    </>
  );
}

/** A refusal in words: the catalogue's sentence for its stable code, or the code itself in a general sentence. */
import { ApiError } from "../api/dashboard.ts";
import { useI18n } from "../i18n/i18n.tsx";
import { en, type MessageKey } from "../i18n/messages.ts";

export function useErrorText(): (error: unknown) => string {
  const { t } = useI18n();
  return (error) => {
    if (!(error instanceof ApiError)) return t("error.unknown", { code: error instanceof Error ? error.name : "UNKNOWN" });
    if (error.code === "NETWORK") return t("error.network");
    const key = `dash.error.${error.code}`;
    if (key in en) {
      const retry = error.meta["retryAfterSeconds"];
      return t(key as MessageKey, { minutes: typeof retry === "number" ? Math.max(1, Math.ceil(retry / 60)) : 1, ...stringsOf(error.meta) });
    }
    return t("error.unknown", { code: error.code });
  };
}

function stringsOf(meta: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(meta).filter((e): e is [string, string] => typeof e[1] === "string"));
}

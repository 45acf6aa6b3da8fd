/** A node's refusal in words: the catalogue's sentence for its stable code, or the code in a general sentence. */
import { ApiError } from "../api/node.ts";
import { useI18n } from "../i18n/i18n.tsx";
import { en, type MessageKey } from "../i18n/messages.ts";

export function useNodeErrorText(): (error: unknown) => string {
  const { t } = useI18n();
  return (error) => {
    if (!(error instanceof ApiError)) return t("node.error.unknown", { code: error instanceof Error ? error.message : "UNKNOWN" });
    const retry = error.meta["retryAfterSeconds"];
    const values = { minutes: typeof retry === "number" ? Math.max(1, Math.ceil(retry / 60)) : 1, code: error.code };
    for (const key of [`node.error.${error.code}`, `reg.error.${error.code}`]) if (key in en) return t(key as MessageKey, values);
    return t("node.error.unknown", values);
  };
}

/** Pieces the regulator's and the arbiter's pages share: token formats, addresses, times, a dispute's reason and notes. */
import { useQuery } from "@tanstack/react-query";
import { decodeBytes32String } from "ethers";

import { regulatorApi, type DisputeNote, type TokenSummary } from "../api/regulator.ts";
import { sessionApi } from "../api/node.ts";
import { formatMinorUnits, shortAddress } from "../format.ts";
import { useI18n } from "../i18n/i18n.tsx";

/** The node's tokens by address (lower-case), for amounts in their own units. */
export function useTokens(): Map<string, TokenSummary> {
  const tokens = useQuery({ queryKey: ["node", "tokens"], queryFn: () => regulatorApi.tokens(), staleTime: Infinity });
  return new Map((tokens.data?.tokens ?? []).map((t) => [t.token.toLowerCase(), t]));
}

export function useNetwork() {
  return useQuery({ queryKey: ["node", "network"], queryFn: () => sessionApi.network(), staleTime: Infinity });
}

/** An amount in minor units, exactly, in the token's major units ("¥1,234.56"). */
export function money(amount: string, token: string | undefined, tokens: Map<string, TokenSummary>): string {
  const t = token ? tokens.get(token.toLowerCase()) : undefined;
  return t ? formatMinorUnits(amount, t.decimals, t.symbol) : formatMinorUnits(amount, 0);
}

export function Address({ value }: { value: string }) {
  return (
    <span className="address" title={value}>
      {shortAddress(value)}
    </span>
  );
}

/** Full hex, wrapped (hashes and signatures a regulator may need to copy). */
export function Hex({ value, label }: { value: string; label?: string }) {
  return (
    <span className="address" aria-label={label}>
      {value}
    </span>
  );
}

/** Chain time (unix seconds) in UTC. */
export function chainTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** A signed bytes32 reason: a short string as text, anything else (a hash of longer words) as hex. */
function signedReason(reason: string): string {
  try {
    return decodeBytes32String(reason) || reason;
  } catch {
    return reason;
  }
}

/** The payer's dispute reason: its words when the node has them (as text, never HTML), else the signed bytes32. */
export function PayerReason({ reason, text }: { reason: string | null | undefined; text: string | null | undefined }) {
  if (text) return <span className="note">{text}</span>;
  if (!reason) return <>—</>;
  const shown = signedReason(reason);
  return shown === reason ? <Hex value={reason} /> : <span className="note">{shown}</span>;
}

/** The merchant's notes, oldest first, as plain text. */
export function DisputeNotes({ notes }: { notes: DisputeNote[] }) {
  const { t } = useI18n();
  if (notes.length === 0) return <p>{t("arb.noNotes")}</p>;
  return (
    <ol className="rows" aria-label={t("arb.notes")}>
      {notes.map((note) => (
        <li key={note.id}>
          <time dateTime={new Date(note.createdAtMs).toISOString()}>{t("arb.noteAt", { time: new Date(note.createdAtMs).toLocaleString() })}</time>
          <p className="note">{note.text}</p>
          {note.evidence.length > 0 ? <p>{t("arb.evidence", { refs: note.evidence.join(", ") })}</p> : null}
        </li>
      ))}
    </ol>
  );
}


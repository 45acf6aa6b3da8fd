/** Pieces the regulator's and the arbiter's pages share: token formats, addresses, times, downloads. */
import { useQuery } from "@tanstack/react-query";

import { regulatorApi, type TokenSummary } from "../api/regulator.ts";
import { sessionApi } from "../api/node.ts";
import { formatMinorUnits, shortAddress } from "../format.ts";

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

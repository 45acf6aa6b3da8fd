/**
 * Token read endpoints of the node API: each settlement token's indexed state (supply per custodian,
 * attested reserves and when, frozen accounts, recent events) merged with what the chain says now
 * (total supply, paused), and one account's balance and freeze state.
 */
import { getAddress } from "ethers";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { tokenRoutes } from "../../core/api/tokens.js";
import { SettlenetError } from "../../core/errors.js";
import type { TokenDeployment } from "../../core/protocol/deployment.js";
import type { TokenRepository } from "../storage/tokens.js";

/** What the token routes read. */
export interface TokenApiModules {
  repository: TokenRepository;
  /** The deployment's settlement tokens. */
  tokens: TokenDeployment[];
  /** The token as the chain has it now. */
  onChainToken(token: string): Promise<{ totalSupply: string; paused: boolean }>;
  /** An account's balance and freeze state on the chain now. */
  onChainAccount(token: string, account: string): Promise<{ balance: string; frozen: boolean }>;
}

const MAX_FROZEN_LISTED = 500;

/** Registers GET /v1/tokens, /v1/tokens/:token, /v1/tokens/:token/events and /v1/tokens/:token/accounts/:address. */
export function registerTokenRoutes(app: FastifyInstance, modules: TokenApiModules): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const known = (token: string): TokenDeployment => {
    const found = modules.tokens.find((t) => t.address.toLowerCase() === token.toLowerCase());
    if (!found) throw new SettlenetError("TOKEN_NOT_FOUND", `${token} is not a settlement token of this deployment`, { token });
    return found;
  };

  api.route({
    ...tokenRoutes.listTokens,
    handler: async () => ({
      tokens: modules.tokens.map((t) => ({ token: getAddress(t.address), symbol: t.symbol, name: t.name, decimals: t.decimals })),
    }),
  });

  api.route({
    ...tokenRoutes.getToken,
    handler: async (request) => {
      const t = known(request.params.token);
      const [indexed, frozen, onChain] = await Promise.all([
        modules.repository.get(t.address),
        modules.repository.listFrozen(t.address, MAX_FROZEN_LISTED),
        modules.onChainToken(t.address),
      ]);
      return {
        token: getAddress(t.address),
        symbol: t.symbol,
        name: t.name,
        decimals: t.decimals,
        onChain,
        totalSupply: indexed?.totalSupply ?? "0",
        custodians: Object.values(indexed?.custodians ?? {}),
        latestAttestationAt: indexed?.latestAttestationAt ?? 0,
        frozenAccounts: frozen,
        indexedBlock: indexed?.updatedBlock ?? null,
      };
    },
  });

  api.route({
    ...tokenRoutes.listTokenEvents,
    handler: async (request) => {
      const t = known(request.params.token);
      return { events: await modules.repository.listEvents(t.address, request.query.limit) };
    },
  });

  api.route({
    ...tokenRoutes.getTokenAccount,
    handler: async (request) => {
      const t = known(request.params.token);
      const account = getAddress(request.params.address);
      const [onChain, frozenRecord] = await Promise.all([modules.onChainAccount(t.address, account), modules.repository.frozenAccount(t.address, account)]);
      return { token: getAddress(t.address), account, balance: onChain.balance, frozen: onChain.frozen, freeze: frozenRecord ?? null };
    },
  });
}

/**
 * Validation of token operations (mint, burn, attestReserves, freeze, redeem): the token-specific half of the
 * shared validation core (validate.ts routes here after the schema, and recovers the signature with
 * the rest of the group's). The signer's role and the account
 * whose balance changes come from each kind's descriptor in core/operations. Checks run cheapest first:
 *
 *   token registered → id → seen → accounts (permitted, not frozen) → deadline → signature → role → nonce
 *
 * Unlike escrow operations the message does not name its signer (any custodian may mint), so the
 * signer is known only after recovery, and the role and the nonce (in that token's nonce space) are
 * checked after it, as for an arbiter's resolve. A redemption names its signer (the holder) and the
 * custodian it draws on; the custodian is checked before the signature, the signer after. A signature that recovers to an address the registry
 * knows nothing about is a bad signature (tampered, or signed for another chain or token); one that
 * recovers to a known participant without the role is NOT_CUSTODIAN / NOT_REGULATOR. A reserve
 * attestation must recover to the attestor the registry names for the custodian it names, whoever
 * else the signer is (NOT_RESERVE_ATTESTOR). Reserves
 * (ReservesExceeded, BurnExceedsOutstanding) and the freeze state (FreezeStateUnchanged) are left to
 * the chain: they depend on operations still pending (an attestation accepted just before a mint),
 * and the relayer records the decoded revert.
 */
import { ZeroHash } from "ethers";

import { tokenDescriptorFor, tokenOperationDigest, type TokenOperation } from "../../core/operations/index.js";
import type { ValidationContext } from "../services.js";
import { nonceRefusal, refusal, type ValidationPath } from "./refusal.js";
import type { PreparedOperation } from "./validate.js";

/**
 * The checks of a parsed token operation that need no signer; its `finish` checks the signer's role
 * and nonce once the group's signatures are recovered. Throws an OperationError with a code from
 * OPERATION_CODES.
 */
export async function prepareTokenOperation(
  op: TokenOperation,
  ctx: ValidationContext,
  path: ValidationPath,
  signatureBytes?: Uint8Array,
): Promise<PreparedOperation> {
  const { registry } = ctx;
  const tokenName = ctx.tokenNames?.get(op.token.toLowerCase());
  if (!registry.isSettlementToken(op.token) || tokenName === undefined) {
    throw refusal("UNSUPPORTED_TOKEN", path, `token ${op.token} is not a settlement token of this deployment`, { token: op.token });
  }
  const id = tokenOperationDigest(op, { chainId: ctx.chainId, tokenName });

  if (await ctx.storage.operations.has(id)) throw refusal("DUPLICATE", path, `operation ${id} already received`, { id });

  // The accounts whose balance changes must be permitted and unfrozen (SettlementToken._update).
  const descriptor = tokenDescriptorFor(op);
  const moved = descriptor.movedAccount?.(op);
  if (moved !== undefined) {
    const account = registry.account(moved);
    const permitted = (account?.active ?? false) || registry.institutionOfSigner(moved)?.active === true;
    if (!permitted) throw refusal("ACCOUNT_NOT_PERMITTED", path, `${moved} is not a registered, active participant`, { account: moved, id });
    if (registry.isFrozen(op.token, moved)) throw refusal("ACCOUNT_FROZEN", path, `${moved} is frozen on ${op.token}`, { account: moved, token: op.token, id });
  }

  // A redemption draws on a custodian's outstanding supply: it must be one (SettlementToken._redeem).
  if (op.kind === "redeem" && !registry.isCustodian(op.token, op.custodian)) {
    throw refusal("NOT_CUSTODIAN", path, `${op.custodian} is not a custodian of ${op.token}`, { custodian: op.custodian, token: op.token, id });
  }

  const now = ctx.nowSeconds();
  // The token reverts only when block.timestamp > deadline.
  if (BigInt(now) > op.deadline) {
    throw refusal("EXPIRED", path, `deadline ${op.deadline} has passed (now ${now})`, { deadline: op.deadline.toString(), now, id });
  }

  return {
    id,
    paymentId: ZeroHash,
    op,
    signature: signatureBytes ?? op.signature,
    async finish(signer) {
      if (signer === null) throw refusal("BAD_SIGNATURE", path, "no signer was recovered", { id });
      if (descriptor.signer === "holder") {
        const holder = descriptor.signerAccount?.(op);
        if (holder === undefined || holder.toLowerCase() !== signer.toLowerCase()) {
          throw refusal("BAD_SIGNATURE", path, `${op.kind} signed by ${signer}, not by the holder ${String(holder)}`, { signer, expected: holder, id });
        }
      } else if (descriptor.signer === "regulator") {
        if (!registry.isRegulator(signer)) throw roleRefusal(op, signer, ctx, path, id);
      } else if (op.kind === "attestReserves") {
        // Only the custodian's independent attestor; the chain also checks the custodian role and the statement's order.
        const attestor = registry.reserveAttestorOf(op.custodian);
        if (attestor === undefined || attestor.toLowerCase() !== signer.toLowerCase()) {
          throw refusal("NOT_RESERVE_ATTESTOR", path, `attestReserves signed by ${signer}, not the reserve attestor of ${op.custodian}`, { signer, custodian: op.custodian, id });
        }
      } else {
        const institution = registry.custodianInstitutionOf(signer);
        if (!institution?.active || !registry.isCustodian(op.token, institution.id)) throw roleRefusal(op, signer, ctx, path, id);
      }
      if (await ctx.storage.operations.nonceSeen(signer, op.nonce, op.token)) throw await nonceRefusal(signer, op.nonce, id, ctx, path, op.token);
      return { id, paymentId: ZeroHash, op, signer };
    },
  };
}

/** NOT_CUSTODIAN / NOT_REGULATOR for a known participant; BAD_SIGNATURE for an address nobody registered. */
function roleRefusal(op: TokenOperation, signer: string, ctx: ValidationContext, path: ValidationPath, id: string) {
  const { registry } = ctx;
  const known =
    registry.account(signer) !== undefined ||
    registry.custodianInstitutionOf(signer) !== undefined ||
    registry.institutionOfSigner(signer) !== undefined ||
    registry.isRegulator(signer) ||
    registry.isArbiter(signer) ||
    registry.operators().some((operator) => operator.signer.toLowerCase() === signer.toLowerCase());
  if (!known) return refusal("BAD_SIGNATURE", path, `signature recovers to ${signer}, which is no registered participant`, { signer, id });
  return tokenDescriptorFor(op).signer === "regulator"
    ? refusal("NOT_REGULATOR", path, `${op.kind} signed by ${signer}, not a regulator`, { signer, id })
    : refusal("NOT_CUSTODIAN", path, `${op.kind} signed by ${signer}, not an active custodian of ${op.token}`, { signer, token: op.token, id });
}

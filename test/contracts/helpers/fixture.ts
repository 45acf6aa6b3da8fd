/** Shared contract-test world: a deployed, wired network with institutions, merchants and funded payers. */
import type { Signer } from "ethers";
import type { PaymentTerms } from "../../../core/operations/index.js";
import type { World } from "../../../scripts/lib/contract-world.js";

export {
  DAY,
  MAX_FEE_BPS,
  MERCHANT_FEE_BPS,
  OperationKind,
  PAYER_FUNDS,
  PaymentStatus,
  RESERVES,
  attest,
  deployWorld,
  ethers,
  makeTerms,
  networkHelpers,
  operation,
  signAction,
  signTerms,
  type ActionName,
  type World,
} from "../../../scripts/lib/contract-world.js";

/** Pays `terms` directly as the payer and returns the payment id. */
export async function payHeld(world: World, terms: PaymentTerms, payer: Signer = world.payer): Promise<string> {
  const id = (await world.escrow.paymentIdOf(terms)) as string;
  await (await world.as(world.escrow, payer).pay(terms, "0x")).wait();
  return id;
}

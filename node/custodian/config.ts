/**
 * The custodian service's section of a node's config (`custodian`): present only on the custodian
 * institution's node. Its key is the custodian key the registry names for the institution (never the
 * operator key), in its own keystore with its own password variable.
 */
import { z } from "zod";

export const custodianConfigSchema = z.strictObject({
  /** ethers JSON keystore of the custodian key (relative: against the config file's folder). */
  keyFile: z.string().min(1),
  keyPasswordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).default("SETTLENET_CUSTODIAN_KEY_PASSWORD"),
  /** The custodian's bank: the service reads its transfers (signed requests) and acts only on what the bank itself reports. */
  bank: z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    /** This service's client id and HMAC secret at the bank (absent only for a bank without client authentication, in tests). */
    client: z.strictObject({ id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/), secret: z.string().min(32) }).optional(),
    timeoutMs: z.number().int().min(100).default(10_000),
  }),
  /** How often the bank's transfers are read and open mints advanced. */
  pollIntervalMs: z.number().int().min(20).default(1_000),
  /** Mint operations signed for one transfer before it ends `failed` with an alert. */
  maxMintAttempts: z.number().int().min(1).max(100).default(5),
  /** Validity of each mint operation (chain time): a failed attempt is replaced only once it has expired, so two can never both execute. */
  mintDeadlineSeconds: z.number().int().min(1).max(86_400).default(300),
});

export type CustodianConfig = z.infer<typeof custodianConfigSchema>;

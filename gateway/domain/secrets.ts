/**
 * Secrets at rest (merchant signing keys, API key secrets, TOTP secrets): sealed with core's
 * SecretBox under the gateway's master key, which lives only in the environment.
 */
import { SettlenetError } from "../../core/errors.js";
import { SecretBox, parseMasterKey } from "../../core/auth/secrets.js";

export { SecretBox, parseMasterKey, sealedSecretSchema, type SealedSecret } from "../../core/auth/secrets.js";

/** The SecretBox for the master key in environment variable `envName`. */
export function secretBoxFromEnv(envName: string, env: NodeJS.ProcessEnv = process.env): SecretBox {
  const value = env[envName];
  if (value === undefined || value === "") {
    throw new SettlenetError("MASTER_KEY_MISSING", `environment variable ${envName} must hold the gateway master key (32 bytes, hex or base64)`, { envName });
  }
  return new SecretBox(parseMasterKey(value));
}

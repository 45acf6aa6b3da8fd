/** Real node API credentials for tests that build the node API in-process: a credentials file in a temporary folder, one token per role. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { bearer, type NodeApiRole } from "../../core/api/auth.js";
import { CredentialVerifier } from "../../node/api/credentials.js";
import { ensureNodeCredentials, type NodeClientCredentials } from "../../scripts/lib/launch/nodes.js";

export interface TestCredentials {
  file: string;
  verifier: CredentialVerifier;
  tokens: NodeClientCredentials;
  /** The Authorization header of `role`'s token. */
  as(role: NodeApiRole): { authorization: string };
  cleanup(): Promise<void>;
}

export async function testCredentials(): Promise<TestCredentials> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-credentials-"));
  const file = join(dir, "credentials.json");
  const tokens = await ensureNodeCredentials(file, join(dir, "client-credentials.json"));
  return {
    file,
    verifier: new CredentialVerifier(file),
    tokens,
    as: (role) => ({ authorization: bearer(tokens[role]) }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The node's libp2p identity: an Ed25519 key created on first start and reused afterwards, so the
 * peer id registered in ParticipantRegistry stays valid across restarts.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";

import { SettlenetError } from "../../core/errors.js";

export type { PrivateKey };

/** Loads the peer key from `file` (libp2p protobuf encoding), creating it (mode 0600) if absent. */
export async function loadOrCreatePeerKey(file: string): Promise<PrivateKey> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new SettlenetError("PEER_KEY_UNREADABLE", `cannot read peer key file ${file}: ${(error as Error).message}`, { file }, { cause: error });
    }
    const key = await generateKeyPair("Ed25519");
    await writeKeyFile(file, privateKeyToProtobuf(key));
    return key;
  }
  try {
    return privateKeyFromProtobuf(bytes);
  } catch (error) {
    // Never regenerate over a bad file: the registered peer id would silently change.
    throw new SettlenetError("PEER_KEY_INVALID", `peer key file ${file} is not a libp2p private key`, { file }, { cause: error });
  }
}

/** The libp2p peer id (base58 string) of a private key. */
export function peerIdOf(key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString();
}

/** Writes through a synced temporary file and a rename, so a crash never leaves a truncated key behind. */
async function writeKeyFile(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(temporary, "wx", 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, file);
}

/**
 * `tsx bench/signature-groups.ts [--signatures=6000] [--sizes=1,2,3,4,8,16,32]`: process CPU (every
 * thread) per recovered signature when groups of each size go through the node's signature worker pool
 * with every group sent to a worker (`inlineMax: 0`) and with the pool's default (groups of up to 32
 * recovered on the calling thread). Groups of that size are what a node validates below a few hundred
 * payments per second: API calls and gossip messages. Every signer recovered wrong fails the run.
 */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";

import { SigningKey, hexlify, keccak256, randomBytes } from "ethers";
import { pino } from "pino";

import { SignatureWorkerPool, recoverSigner } from "../node/validation/signature.js";

const { values } = parseArgs({ options: { signatures: { type: "string", default: "6000" }, sizes: { type: "string", default: "1,2,3,4,8,16,32" } }, strict: true });
const total = Number(values.signatures);
const sizes = values.sizes.split(",").map(Number);

const key = new SigningKey(hexlify(randomBytes(32)));
const items = Array.from({ length: Math.max(...sizes) }, () => {
  const digest = keccak256(randomBytes(32));
  return { digest, signature: key.sign(digest).serialized };
});
const first = items[0] as { digest: string; signature: string };
const expected = recoverSigner(first.digest, first.signature);
const logger = pino({ level: "silent" });
const workers = availableParallelism();
const pools = { "every group to a worker": new SignatureWorkerPool({ workers, inlineMax: 0 }, { logger }), "default (up to 32 on the calling thread)": new SignatureWorkerPool({ workers }, { logger }) };
let failures = 0;
process.stdout.write(`signature groups: ${total} signatures per size, ${workers} workers\n`);
for (const size of sizes) {
  for (const [name, pool] of Object.entries(pools)) {
    const rounds = Math.ceil(total / size);
    await pool.recover(items.slice(0, size)); // warm
    const before = process.cpuUsage();
    for (let r = 0; r < rounds; r++) {
      const results = await pool.recover(items.slice(0, size));
      for (const result of results) if (result !== expected) failures++;
    }
    const cpu = process.cpuUsage(before);
    process.stdout.write(`group of ${size}, ${name.padEnd(35)}: ${((cpu.user + cpu.system) / (rounds * size)).toFixed(1).padStart(6)} µs CPU per signature\n`);
  }
}
await Promise.all(Object.values(pools).map((pool) => pool.close()));
process.stdout.write(`failures: ${failures}\n`);
if (failures > 0) process.exitCode = 1;

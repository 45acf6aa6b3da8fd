/**
 * The launcher's local chain and deployed scenario (scripts/lib/launch/), for node, gateway and
 * end-to-end tests: an EDR chain served over JSON-RPC in the test process, and a consortium on it
 * whose every actor's private key is known.
 */
import { startAnvil } from "../../scripts/lib/launch/anvil.js";
import { startChain, type LocalChain } from "../../scripts/lib/launch/chain.js";

export { startChain, type LocalChain };

/** True when the tests run against anvil with real block times (`npm run test:anvil`). */
export const ON_ANVIL = process.env["SETTLENET_TEST_CHAIN"] === "anvil";

/**
 * The chain of end-to-end tests: EDR in this process (a block per transaction), or with
 * SETTLENET_TEST_CHAIN=anvil an anvil sealing a block every second, chain id 4242, 10 funded accounts.
 */
export function startTestChain(): Promise<LocalChain> {
  return ON_ANVIL ? startAnvil({ blockTime: 1, chainId: 4242, accounts: 10 }) : startChain();
}
export { deployScenario, devWallet, type Scenario, type ScenarioOptions } from "../../scripts/lib/launch/consortium.js";

/**
 * The launcher's local chain and deployed scenario (scripts/lib/launch/), for node, gateway and
 * end-to-end tests: an EDR chain served over JSON-RPC in the test process, and a consortium on it
 * whose every actor's private key is known.
 */
export { startChain, type LocalChain } from "../../scripts/lib/launch/chain.js";
export { deployScenario, devWallet, type Scenario, type ScenarioOptions } from "../../scripts/lib/launch/consortium.js";

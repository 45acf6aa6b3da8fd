/**
 * A test network whose institution 0 runs the custodian service (node/custodian/) with its own
 * custodian key, reading the bank simulator over HTTP: the bank listens on a port chosen before the
 * nodes start (their config names it) and reads the scenario's chain for redemptions.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ChainRedemptions } from "../../bank-sim/redemptions.js";
import type { BankSimulatorOptions } from "../../bank-sim/simulator.js";
import { writeOperatorKeystore } from "../../core/keys.js";
import type { CustodianConfig } from "../../node/custodian/config.js";
import { DEV_ACCOUNTS } from "../../scripts/lib/launch/consortium.js";
import { startBankSimulator, type BankSimulatorHandle } from "../gateway/parts.js";
import { freePort, launchNetwork, type NetworkOptions, type TestNetwork } from "./network.js";

/** The password launchNetwork gives every node in SETTLENET_KEY_PASSWORD. */
const PASSWORD = "e2e-password";

export interface CustodianNetwork {
  net: TestNetwork;
  bank: BankSimulatorHandle;
  /** The bank simulator's data directory (to start it again on the same data). */
  bankDir: string;
  /** The custodian key (registered for institution 0, held only by institution 0's node). */
  custodianKey: string;
  close(): Promise<void>;
}

/** Launches the network with the custodian service on institution-0 and the bank simulator it reads. */
export async function launchCustodianNetwork(
  options: NetworkOptions & { bankLatencyMs: BankSimulatorOptions["latencyMs"]; custodian?: Partial<Pick<CustodianConfig, "maxMintAttempts" | "mintDeadlineSeconds" | "pollIntervalMs">> },
): Promise<CustodianNetwork> {
  const { bankLatencyMs, custodian, ...networkOptions } = options;
  const dir = await mkdtemp(join(tmpdir(), "settlenet-custodian-"));
  const key = DEV_ACCOUNTS.custodian();
  const keyFile = join(dir, "custodian.json");
  await writeOperatorKeystore(keyFile, key.privateKey, PASSWORD, true);
  const bankPort = await freePort();
  const net = await launchNetwork({
    ...networkOptions,
    custodianKey: key.address,
    nodeConfig: {
      ...networkOptions.nodeConfig,
      "institution-0": {
        ...networkOptions.nodeConfig?.["institution-0"],
        custodian: { keyFile, keyPasswordEnv: "SETTLENET_KEY_PASSWORD", bank: { url: `http://127.0.0.1:${bankPort}` }, pollIntervalMs: 200, ...custodian },
      },
    },
  });
  const redemptions = ChainRedemptions.connect(net.scenario.chain.url, BigInt(net.scenario.deployment.chainId), { deployment: net.scenario.deployment, confirmations: 0 });
  const bankDir = join(dir, "bank");
  const bank = await startBankSimulator(bankDir, { latencyMs: bankLatencyMs, failureRate: 0 }, bankPort, redemptions);
  return {
    net,
    bank,
    bankDir,
    custodianKey: key.address,
    async close() {
      await bank.stop();
      redemptions.close();
      await net.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

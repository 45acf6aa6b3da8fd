/** Wires the custodian service into a node (node.ts) and serves its records on the node API. */
import { join } from "node:path";

import type { AbstractProvider } from "ethers";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";

import { custodyRoutes } from "../../core/api/custody.js";
import { SettlenetError } from "../../core/errors.js";
import { loadOperatorWallet } from "../../core/keys.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import type { RunningCompliance } from "../compliance/service.js";
import type { OperationPipeline } from "../pipeline.js";
import type { RegistryView } from "../services.js";
import type { NodeStorage } from "../storage/db.js";
import { CustodianBank } from "./bank.js";
import type { CustodianConfig } from "./config.js";
import { CustodianService, custodyView } from "./service.js";
import { CustodyStore, type CustodyRecord } from "./store.js";

export interface RunningCustodian {
  service: CustodianService;
  /** Up to `limit` custody records still minting. */
  minting(limit: number): Promise<CustodyRecord[]>;
  /** Starts reading the bank (once the node acknowledges operations). */
  start(): void;
  stop(): Promise<void>;
}

/** Loads the custodian key, opens the custody store (`<dataDir>/custody`) and builds the service (not started). */
export async function startCustodian(
  config: CustodianConfig,
  options: { dataDir: string; deployment: Deployment },
  modules: { provider: AbstractProvider; registry: RegistryView; pipeline: OperationPipeline; storage: NodeStorage; compliance: RunningCompliance; chainNow: () => number | undefined; logger: Logger },
): Promise<RunningCustodian> {
  const wallet = await loadOperatorWallet(config.keyFile, config.keyPasswordEnv);
  const institution = modules.registry.custodianInstitutionOf(wallet.address);
  if (!institution) {
    throw new SettlenetError("CUSTODIAN_KEY_UNKNOWN", `the custodian key ${wallet.address} is not the custodian key of any institution (settlenet custodian key)`, { key: wallet.address });
  }
  const store = await CustodyStore.open(join(options.dataDir, "custody"));
  const service = new CustodianService(
    { deployment: options.deployment, pollIntervalMs: config.pollIntervalMs, maxMintAttempts: config.maxMintAttempts, mintDeadlineSeconds: config.mintDeadlineSeconds },
    {
      store,
      bank: new CustodianBank({ url: config.bank.url, client: config.bank.client, timeoutMs: config.bank.timeoutMs }),
      wallet,
      provider: modules.provider,
      registry: modules.registry,
      submit: (inputs) => modules.pipeline.submit(inputs),
      operation: (id) => modules.storage.operations.get(id),
      raise: (alerts) => modules.compliance.raise(alerts),
      chainNow: modules.chainNow,
      logger: modules.logger,
    },
  );
  modules.logger.info({ custodianKey: wallet.address, institution: institution.id, bank: config.bank.url }, "custodian service ready");
  return {
    service,
    minting: (limit) => store.minting(limit),
    start: () => service.start(),
    async stop() {
      await service.stop();
      await store.close();
    },
  };
}

/** GET /v1/custody/transfers/:bankRef (404 on a node without the custodian service). */
export async function registerCustodyRoutes(app: FastifyInstance, custodian: RunningCustodian | undefined): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().route({
    ...custodyRoutes.getCustodyTransfer,
    handler: async (request) => {
      const record = await custodian?.service.get(request.params.bankRef);
      if (!record) throw new SettlenetError("CUSTODY_TRANSFER_NOT_FOUND", `no custody record of ${request.params.bankRef} here`, { bankRef: request.params.bankRef });
      return custodyView(record);
    },
  });
}

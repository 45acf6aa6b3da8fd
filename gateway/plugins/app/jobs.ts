/**
 * The gateway's background jobs, created once: the change feed follower (orders follow the node),
 * webhook delivery, the dropped-order reconciler, the auto-release keeper and the money tick (the last
 * two only with money modules), the overdue check, and the pruning of request records. They start when the app is ready
 * and stop when it closes, before the database does. The follower, keeper, reconciler and dispatcher
 * are decorated for admin commands and tests.
 */
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Registry } from "prom-client";

import { feedConfigSchema, keeperConfigSchema, overdueConfigSchema, reconcileConfigSchema, webhookConfigSchema } from "../../config.js";
import { FeedFollower } from "../../jobs/feed.js";
import { ReleaseKeeper } from "../../jobs/keeper.js";
import { MoneyTick } from "../../jobs/money-tick.js";
import { OverdueWatch } from "../../jobs/overdue.js";
import { RequestRecordPruner } from "../../jobs/prune.js";
import { Reconciler } from "../../jobs/reconciler.js";
import { WebhookDispatcher } from "../../jobs/webhooks.js";
import type { GatewayAppModules, GatewayAppOptions } from "../../options.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The change feed follower (runs from onReady to onClose). */
    feedFollower: FeedFollower;
    /** The webhook dispatcher (runs from onReady to onClose). */
    webhookDispatcher: WebhookDispatcher;
    /** The dropped-order reconciler (runs from onReady to onClose). */
    reconciler: Reconciler;
    /** The auto-release keeper (runs from onReady to onClose), absent without money modules. */
    releaseKeeper: ReleaseKeeper | undefined;
    /** Alerts for money stuck in an intermediate state (runs from onReady to onClose); the payout and top-up views ask it. */
    overdueWatch: OverdueWatch;
  }
}

export interface JobsOptions {
  options: Pick<GatewayAppOptions, "deployment" | "webhooks" | "reconcile" | "keeper" | "moneyTickMs" | "pruneIntervalMs" | "feed" | "overdue">;
  modules: Pick<GatewayAppModules, "storage" | "secrets" | "node" | "logger" | "money" | "resolve"> & { now: () => number; metrics: Registry };
}

/** Creates the jobs and ties them to the app's lifecycle. */
export const jobsPlugin = fp<JobsOptions>(
  async (app: FastifyInstance, { options, modules }) => {
    const { storage, secrets, node, logger, now, metrics, money } = modules;
    const { payments, payerActions, allowances, nodeSubmitter: submitter } = app;
    const moneyService = app.money;
    const reconcile = { ...reconcileConfigSchema.parse({}), ...options.reconcile };

    const webhookModules = { storage, secrets, logger: logger.child({ module: "webhooks" }), now, ...(modules.resolve ? { resolve: modules.resolve } : {}) };
    const dispatcher = new WebhookDispatcher({ ...webhookConfigSchema.parse({}), ...options.webhooks }, { ...webhookModules, metrics });
    const reconciler = new Reconciler(reconcile, {
      storage,
      node,
      submitter,
      whenIdle: (id, fn) => payments.whenIdle(id, fn),
      logger: logger.child({ module: "reconciler" }),
      metrics,
      now,
    });
    const follower = new FeedFollower(
      { ...feedConfigSchema.parse({}), ...options.feed, dropAfterSeconds: reconcile.dropAfterSeconds },
      { storage, node, logger: logger.child({ module: "feed" }), metrics, now, onRepair: (kind) => reconciler.countRepair(kind) },
    );
    const keeper = money
      ? new ReleaseKeeper(
          { ...keeperConfigSchema.parse({}), ...options.keeper, deployment: options.deployment },
          { storage, node, submitter, payments, chain: money.chain, logger: logger.child({ module: "keeper" }), metrics, now },
        )
      : undefined;
    const moneyTick =
      money && moneyService && payerActions && allowances
        ? new MoneyTick(
            { deployment: options.deployment, tickMs: options.moneyTickMs ?? 1_000 },
            { storage, money: moneyService, payerActions, allowances, bank: money.bank, logger: logger.child({ module: "money" }) },
          )
        : undefined;
    const overdue = new OverdueWatch({ ...overdueConfigSchema.parse({}), ...options.overdue }, { storage, logger: logger.child({ module: "overdue" }), metrics, now });
    const pruner = new RequestRecordPruner({ intervalMs: options.pruneIntervalMs ?? 60_000 }, { storage, logger, now });

    app.decorate("feedFollower", follower);
    app.decorate("webhookDispatcher", dispatcher);
    app.decorate("reconciler", reconciler);
    app.decorate("releaseKeeper", keeper);
    app.decorate("overdueWatch", overdue);

    app.addHook("onReady", async () => {
      await moneyTick?.start();
      await pruner.start();
      follower.start();
      dispatcher.start();
      reconciler.start();
      keeper?.start();
      overdue.start();
    });
    app.addHook("onClose", async () => {
      pruner.stop();
      await Promise.all([follower.stop(), moneyTick?.stop(), dispatcher.stop(), reconciler.stop(), keeper?.stop(), overdue.stop()]);
    });
  },
  { name: "jobs", fastify: "5.x", dependencies: ["services"] },
);

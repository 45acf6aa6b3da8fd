/**
 * Risk rules changed at runtime: a versioned document signed by consortium governance (an account
 * holding the registry's DEFAULT_ADMIN_ROLE, checked on the chain when a document arrives, never on
 * the payment path) replaces node.json's `risk` rules on every node alike.
 *
 * A document reaches a node from an operator (PUT /v1/admin/risk-rules) or from a peer (the
 * risk-rules topic). Either way the node checks the signature and that the version is above the one
 * it applies, stores it with an audit-log entry in one synced batch, applies it from the next
 * validation on, and forwards it. Each node re-publishes the document it applies every
 * `rebroadcastMs`, so a node that was down or not yet connected gets the newest one; a restarted node
 * applies its stored one before it validates anything.
 */
import { getAddress, type TypedDataDomain } from "ethers";
import { z } from "zod";

import type { AuditEntry } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import { riskRulesDomain, riskRulesSigner, rulesHash, rulesOf, signedRiskRules, type SignedRiskRules } from "../../core/protocol/risk-rules.js";
import { Serial } from "../../core/serial.js";
import type { GossipValidationResult } from "../p2p/network.js";
import type { Logger } from "../services.js";
import type { NodeStorage } from "../storage/db.js";
import type { RiskEngine } from "../validation/risk.js";

export const RISK_RULES_TOPIC = "/settlenet/risk-rules/1";

/**
 * The gossip message: the signed document, and when this node sent it. Gossip ids hash the data, so
 * the send time makes each re-publication a new message rather than a duplicate peers drop unseen.
 */
const messageSchema = z.strictObject({ v: z.literal(1), sentAtMs: z.number().int().nonnegative(), signed: signedRiskRules });

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** What GET /v1/admin/risk-rules answers. */
export interface RiskRulesView {
  /** 0: node.json's rules (no signed document applied yet). */
  version: number;
  source: "config" | "signed";
  /** keccak256 of the applied document's rules (signed documents only). */
  rulesHash?: string;
  signer?: string;
  signed?: SignedRiskRules;
}

export interface RiskRulesOptions {
  chainId: bigint;
  registry: string;
  rebroadcastMs: number;
}

export interface RiskRulesModules {
  storage: NodeStorage;
  risk: RiskEngine;
  /** True if `account` is consortium governance now (a chain read). */
  isGovernance(account: string): Promise<boolean>;
  logger: Logger;
}

/** The signed risk rules of one node (see the module comment). */
export class RiskRulesService {
  private readonly domain: TypedDataDomain;
  private applied: { signed: SignedRiskRules; signer: string } | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** One document at a time: two versions arriving together are stored and applied in order. */
  private readonly serial = new Serial();
  private publisher: ((data: Uint8Array) => Promise<unknown>) | undefined;

  constructor(
    private readonly options: RiskRulesOptions,
    private readonly modules: RiskRulesModules,
  ) {
    this.domain = riskRulesDomain(options.chainId, options.registry);
  }

  /** Applies the stored document, if any: call before the node validates anything. */
  async load(): Promise<void> {
    const stored = await this.modules.storage.riskRules();
    if (!stored) return;
    this.applied = { signed: stored, signer: riskRulesSigner(stored, this.domain) };
    this.modules.risk.apply(rulesOf(stored.document.rules));
    this.modules.logger.info({ version: stored.document.version }, "signed risk rules applied from storage");
  }

  /** Where applied documents are published (the gossip network, once it runs). */
  setPublisher(publish: (data: Uint8Array) => Promise<unknown>): void {
    this.publisher = publish;
  }

  /** Starts re-publishing the applied document every `rebroadcastMs`. */
  start(): void {
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.publish().finally(() => {
          if (this.timer) tick();
        });
      }, this.options.rebroadcastMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The rules this node applies. */
  view(): RiskRulesView {
    const applied = this.applied;
    if (!applied) return { version: 0, source: "config" };
    return { version: applied.signed.document.version, source: "signed", rulesHash: rulesHash(applied.signed.document.rules), signer: applied.signer, signed: applied.signed };
  }

  /**
   * A document from an operator: RISK_RULES_BAD_SIGNATURE (not signed by governance) or
   * RISK_RULES_STALE (version not above the applied one) change nothing; else stored, logged under
   * `actor`, applied and gossiped.
   */
  async submit(signed: SignedRiskRules, actor: { actor: string; role: string }): Promise<{ view: RiskRulesView; entry: AuditEntry }> {
    const signer = await this.verify(signed);
    const entry = await this.serial.run(() => this.store(signed, signer, actor));
    await this.publish();
    return { view: this.view(), entry };
  }

  /** A document from a peer: reject a malformed one; ignore one not newer or not signed by governance now; else apply and forward. */
  async onGossip(fromPeerId: string, data: Uint8Array): Promise<GossipValidationResult> {
    let signed: SignedRiskRules;
    try {
      signed = messageSchema.parse(JSON.parse(decoder.decode(data))).signed;
    } catch {
      return "reject";
    }
    if (signed.document.version <= (this.applied?.signed.document.version ?? 0)) return "ignore";
    let signer: string;
    try {
      signer = await this.verify(signed);
    } catch (error) {
      // Ignored, not rejected: a document governance signed before a key rotation is not governance's
      // now, yet a peer re-publishing it did nothing wrong. It is never applied either way.
      this.modules.logger.warn({ err: error, from: fromPeerId }, "risk-rules document not applied");
      return "ignore";
    }
    try {
      await this.serial.run(() => this.store(signed, signer, { actor: `peer:${fromPeerId}`, role: "gossip" }));
      return "accept";
    } catch (error) {
      if (error instanceof SettlenetError && error.code === "RISK_RULES_STALE") return "ignore";
      this.modules.logger.error({ err: error, from: fromPeerId }, "could not store a risk-rules document");
      return "ignore";
    }
  }

  /** The governance signer of `signed`, or RISK_RULES_BAD_SIGNATURE. */
  private async verify(signed: SignedRiskRules): Promise<string> {
    let signer: string;
    try {
      signer = riskRulesSigner(signed, this.domain);
    } catch {
      throw new SettlenetError("RISK_RULES_BAD_SIGNATURE", "the risk-rules signature does not recover");
    }
    if (!(await this.modules.isGovernance(signer))) {
      throw new SettlenetError("RISK_RULES_BAD_SIGNATURE", `risk rules signed by ${signer}, which is not consortium governance`, { signer });
    }
    return signer;
  }

  private async store(signed: SignedRiskRules, signer: string, actor: { actor: string; role: string }): Promise<AuditEntry> {
    const hash = rulesHash(signed.document.rules);
    const result = await this.modules.storage.storeRiskRules(signed, {
      ...actor,
      action: "riskRules.apply",
      target: String(signed.document.version),
      details: { version: signed.document.version, rulesHash: hash, signer: getAddress(signer) },
    });
    if (!result.stored) {
      throw new SettlenetError("RISK_RULES_STALE", `version ${signed.document.version} is not above the applied version ${result.current}`, {
        version: signed.document.version,
        current: result.current,
      });
    }
    // Applied only once durable: a crash before leaves the old rules, stored and applied alike.
    this.applied = { signed, signer };
    this.modules.risk.apply(rulesOf(signed.document.rules));
    this.modules.logger.info({ version: signed.document.version, rulesHash: hash, by: actor.actor }, "risk rules applied");
    return result.entry;
  }

  /** Publishes the applied document (nothing before one); failures only logged: the next round retries. */
  private async publish(): Promise<void> {
    const applied = this.applied;
    if (!applied || !this.publisher) return;
    try {
      await this.publisher(encoder.encode(JSON.stringify({ v: 1, sentAtMs: Date.now(), signed: applied.signed })));
    } catch (error) {
      this.modules.logger.debug({ err: error }, "risk-rules publish failed");
    }
  }
}

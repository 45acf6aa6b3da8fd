/**
 * In-memory mirror of ParticipantRegistry (accounts, node operators, roles, settlement tokens, custodian
 * keys and reserve attestors) and of
 * every settlement token's freeze list and custodians, rebuilt by replaying events from the deployment block and kept
 * current by polling. Validation reads it synchronously on every operation; the p2p layer listens to
 * its changes to drop suspended peers within seconds.
 */
import { Interface, ZeroAddress, getAddress, id as keccakId, type AbstractProvider, type Log, type LogDescription } from "ethers";
import type { Logger } from "pino";

import { loadArtifact } from "../../core/protocol/artifacts.js";
import { ACCOUNT_KINDS, STATUS_ACTIVE } from "../../core/protocol/registry.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { Serial } from "../../core/serial.js";
import type { AccountInfo, NodeOperator, RegistryView } from "../services.js";
import type { ChainHeads } from "./heads.js";

export interface ChainRegistryViewOptions {
  deployment: Deployment;
  /** How often to look for new events. */
  pollIntervalMs?: number;
  /** Largest block range per eth_getLogs request (RPC providers cap it). */
  maxBlockRange?: number;
}

export interface ChainRegistryViewModules {
  provider: AbstractProvider;
  logger: Logger;
  /** The node's head poll: the view catches up when it sees a new block instead of on a timer of its own. */
  heads?: ChainHeads;
}


const REGULATOR_ROLE = keccakId("REGULATOR_ROLE");
const ARBITER_ROLE = keccakId("ARBITER_ROLE");

const REGISTRY_EVENTS = [
  "InstitutionRegistered",
  "RegulatorRegistered",
  "MerchantRegistered",
  "CustomerRegistered",
  "AccountStatusChanged",
  "MerchantFeeUpdated",
  "KycLevelUpdated",
  "InstitutionKeyRotated",
  "PeerIdUpdated",
  "ProtocolAccountRegistered",
  "SettlementTokenRegistered",
  "RoleGranted",
  "RoleRevoked",
  "ReserveAttestorSet",
  "CustodianKeySet",
] as const;

const key = (address: string) => address.toLowerCase();

/** Registry events replayed into memory; see the module comment. */
export class ChainRegistryView implements RegistryView {
  private readonly deployment: Deployment;
  private readonly pollIntervalMs: number;
  private readonly maxBlockRange: number;
  private readonly provider: AbstractProvider;
  private readonly logger: Logger;
  private readonly registryAddress: string;
  private readonly registryAbi = new Interface(loadArtifact("ParticipantRegistry").abi);
  private readonly tokenAbi = new Interface(loadArtifact("SettlementToken").abi);
  private readonly registryTopics: string[];
  private readonly freezeTopic: string;
  private readonly custodianTopic: string;

  // Mirror state; every key lower-case, every stored address checksummed. Records are frozen and
  // replaced on change, so callers can keep what they read.
  private readonly accounts = new Map<string, Readonly<AccountInfo>>();
  private readonly nodes = new Map<string, Readonly<NodeOperator>>();
  private readonly regulators = new Set<string>();
  private readonly arbiters = new Set<string>();
  private readonly settlementTokens = new Set<string>();
  private readonly frozen = new Map<string, Set<string>>();
  /** token → custodian institution ids (SettlementToken.CustodianChanged). */
  private readonly custodians = new Map<string, Set<string>>();
  /** institution id → its custodian key (ParticipantRegistry.CustodianKeySet). */
  private readonly custodianKeys = new Map<string, string>();
  /** institution id → its reserve attestor (ParticipantRegistry.ReserveAttestorSet). */
  private readonly attestors = new Map<string, string>();
  /** Tokens whose FreezeChanged events are followed (the deployment's, then any registered later). */
  private readonly watchedTokens = new Set<string>();

  private nextBlock: number;
  private peerIds: ReadonlySet<string> = new Set();
  private readonly listeners: (() => void)[] = [];
  private readonly serial = new Serial();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly heads: ChainHeads | undefined;

  constructor(options: ChainRegistryViewOptions, modules: ChainRegistryViewModules) {
    this.deployment = options.deployment;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.maxBlockRange = options.maxBlockRange ?? 2000;
    this.provider = modules.provider;
    this.heads = modules.heads;
    this.logger = modules.logger.child({ module: "registry-view" });
    this.registryAddress = getAddress(options.deployment.contracts.registry);
    this.nextBlock = options.deployment.deploymentBlock;
    for (const token of Object.values(options.deployment.tokens)) this.watchedTokens.add(key(token.address));
    this.registryTopics = REGISTRY_EVENTS.map((name) => this.registryAbi.getEvent(name)?.topicHash ?? missing(name));
    this.freezeTopic = this.tokenAbi.getEvent("FreezeChanged")?.topicHash ?? missing("FreezeChanged");
    this.custodianTopic = this.tokenAbi.getEvent("CustodianChanged")?.topicHash ?? missing("CustodianChanged");
  }

  // ---------------------------------------------------------------- RegistryView reads

  account(address: string): AccountInfo | undefined {
    return this.accounts.get(key(address));
  }

  isFrozen(token: string, account: string): boolean {
    return this.frozen.get(key(token))?.has(key(account)) ?? false;
  }

  isRegulator(address: string): boolean {
    return this.regulators.has(key(address));
  }

  isCustodian(token: string, institution: string): boolean {
    return this.custodians.get(key(token))?.has(key(institution)) ?? false;
  }

  custodiansOf(token: string): string[] {
    return [...(this.custodians.get(key(token)) ?? [])].map((id) => getAddress(id));
  }

  institutionOfSigner(signer: string): NodeOperator | undefined {
    for (const node of this.nodes.values()) if (!node.regulator && key(node.signer) === key(signer)) return node;
    return undefined;
  }

  custodianInstitutionOf(custodianKey: string): NodeOperator | undefined {
    for (const [institution, k] of this.custodianKeys) if (k === key(custodianKey)) return this.nodes.get(institution);
    const institution = this.institutionOfSigner(custodianKey);
    // An institution with a custodian key mints and burns with that key only.
    return institution && !this.custodianKeys.has(key(institution.id)) ? institution : undefined;
  }

  reserveAttestorOf(institution: string): string | undefined {
    const attestor = this.attestors.get(key(institution));
    return attestor === undefined ? undefined : getAddress(attestor);
  }

  isArbiter(address: string): boolean {
    return this.arbiters.has(key(address));
  }

  isSettlementToken(token: string): boolean {
    return this.settlementTokens.has(key(token));
  }

  operators(): NodeOperator[] {
    return [...this.nodes.values()];
  }

  activeInstitutions(): NodeOperator[] {
    return this.operators()
      .filter((node) => !node.regulator && node.active)
      .sort((a, b) => (key(a.id) < key(b.id) ? -1 : key(a.id) > key(b.id) ? 1 : 0));
  }

  allowedPeerIds(): ReadonlySet<string> {
    return this.peerIds;
  }

  /** Last block whose events are reflected in the mirror. */
  get syncedBlock(): number {
    return this.nextBlock - 1;
  }

  // ---------------------------------------------------------------- lifecycle

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Loads the whole state (throws if the chain cannot be read), cross-checks it, then polls. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.refresh();
    await this.crossCheckNodes();
    this.running = true;
    this.logger.info(
      { block: this.syncedBlock, accounts: this.accounts.size, operators: this.nodes.size, allowedPeers: this.peerIds.size },
      "registry mirror loaded",
    );
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.serial.idle();
  }

  /** Catches up with the chain; concurrent calls run one after another. Rejects on RPC failure. */
  refresh(): Promise<void> {
    return this.refreshTo(undefined);
  }

  /** Catches up with `head` if given (what the head poll saw), else with the head read from the chain. */
  private refreshTo(head: number | undefined): Promise<void> {
    return this.serial.run(() => this.catchUp(head));
  }

  private schedule(): void {
    if (!this.running) return;
    if (this.heads) {
      void this.follow(this.heads);
      return;
    }
    this.timer = setTimeout(() => {
      this.refresh()
        .catch((error: unknown) => {
          // Keep serving the last state; the next poll retries from the same block.
          this.logger.warn({ err: error, nextBlock: this.nextBlock }, "registry refresh failed");
        })
        .finally(() => this.schedule());
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  /**
   * Catches up once the node's head poll has seen a new block and the poll interval has passed since
   * the last refresh (blocks come faster under load than registry changes need reading); after a
   * failure, again after the poll interval.
   */
  private async follow(heads: ChainHeads): Promise<void> {
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, ms);
        this.timer.unref();
      });
    while (this.running) {
      const seen = heads.seen;
      const startedAt = Date.now();
      try {
        await this.refreshTo(heads.latest);
        await heads.changed(seen);
        const wait = startedAt + this.pollIntervalMs - Date.now();
        if (wait > 0 && this.running) await pause(wait);
      } catch (error) {
        this.logger.warn({ err: error, nextBlock: this.nextBlock }, "registry refresh failed");
        await pause(this.pollIntervalMs);
      }
    }
  }

  private async catchUp(knownHead: number | undefined): Promise<void> {
    const head = knownHead ?? (await this.provider.getBlockNumber());
    let changed = false;
    try {
      while (this.nextBlock <= head) {
        const from = this.nextBlock;
        const to = Math.min(head, from + this.maxBlockRange - 1);
        const logs = await this.fetchRange(from, to);
        // Applied synchronously: readers never see half a range.
        for (const log of logs) changed = this.apply(log) || changed;
        this.nextBlock = to + 1;
      }
    } finally {
      if (changed) this.changed();
    }
  }

  /** Registry and token logs of [from, to] in chain order, plus the full freeze history of tokens registered in it. */
  private async fetchRange(from: number, to: number): Promise<Log[]> {
    const logs = await this.provider.getLogs({
      address: [this.registryAddress, ...this.watchedTokens],
      topics: [[...this.registryTopics, this.freezeTopic, this.custodianTopic]],
      fromBlock: from,
      toBlock: to,
    });
    const newTokens = new Set<string>();
    for (const log of logs) {
      if (key(log.address) !== key(this.registryAddress)) continue;
      const parsed = this.parse(this.registryAbi, log);
      if (parsed?.name === "SettlementTokenRegistered") {
        const token = key(String(parsed.args.getValue("token")));
        if (!this.watchedTokens.has(token)) newTokens.add(token);
      }
    }
    if (newTokens.size === 0) return logs;
    // A token admitted after deployment: its freezes may predate its registration.
    const history = await this.provider.getLogs({
      address: [...newTokens],
      topics: [[this.freezeTopic, this.custodianTopic]],
      fromBlock: this.deployment.deploymentBlock,
      toBlock: to,
    });
    for (const token of newTokens) this.watchedTokens.add(token);
    return [...logs, ...history].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  }

  private parse(abi: Interface, log: Log): LogDescription | null {
    try {
      return abi.parseLog({ topics: [...log.topics], data: log.data });
    } catch (error) {
      this.logger.warn({ err: error, address: log.address, block: log.blockNumber, tx: log.transactionHash }, "undecodable log skipped");
      return null;
    }
  }

  /** Applies one event; returns whether the mirror changed. */
  private apply(log: Log): boolean {
    if (key(log.address) !== key(this.registryAddress)) {
      const parsed = this.parse(this.tokenAbi, log);
      if (parsed?.name === "CustodianChanged") {
        return this.setCustodian(log.address, String(parsed.args.getValue("institution")), Boolean(parsed.args.getValue("custodian")));
      }
      if (parsed?.name !== "FreezeChanged") return false;
      return this.setFrozen(log.address, String(parsed.args.getValue("account")), Boolean(parsed.args.getValue("frozen")));
    }
    const parsed = this.parse(this.registryAbi, log);
    if (!parsed) return false;
    const a = parsed.args;
    const addr = (name: string) => getAddress(String(a.getValue(name)));
    const num = (name: string) => Number(a.getValue(name));
    switch (parsed.name) {
      case "InstitutionRegistered": {
        const account = addr("account");
        this.setAccount(account, { kind: "institution", active: true, kycLevel: 0, feeBps: 0, institution: account });
        this.setNode({ id: account, signer: account, peerId: String(a.getValue("peerId")), name: String(a.getValue("name")), regulator: false, active: true });
        return true;
      }
      case "RegulatorRegistered": {
        const account = addr("account");
        this.setNode({ id: account, signer: account, peerId: String(a.getValue("peerId")), name: String(a.getValue("name")), regulator: true, active: true });
        return true;
      }
      case "MerchantRegistered":
        this.setAccount(addr("account"), { kind: "merchant", active: true, kycLevel: num("kycLevel"), feeBps: num("feeBps"), institution: addr("institution") });
        return true;
      case "CustomerRegistered":
        this.setAccount(addr("account"), { kind: "customer", active: true, kycLevel: num("kycLevel"), feeBps: 0, institution: addr("institution") });
        return true;
      case "ProtocolAccountRegistered":
        this.setAccount(addr("account"), { kind: "protocol", active: true, kycLevel: 0, feeBps: 0, institution: ZeroAddress });
        return true;
      case "AccountStatusChanged": {
        const account = addr("account");
        const active = BigInt(a.getValue("status") as bigint) === STATUS_ACTIVE;
        const kind = ACCOUNT_KINDS[num("kind")] ?? "none";
        // Kind none: a regulator's node (regulators have no account record).
        if (kind !== "none") this.patchAccount(account, { active });
        if (kind === "none" || kind === "institution") this.patchNode(account, { active });
        return true;
      }
      case "MerchantFeeUpdated":
        this.patchAccount(addr("account"), { feeBps: num("feeBps") });
        return true;
      case "KycLevelUpdated":
        this.patchAccount(addr("account"), { kycLevel: num("kycLevel") });
        return true;
      case "InstitutionKeyRotated":
        this.patchNode(addr("institution"), { signer: addr("newSigner") });
        return true;
      case "PeerIdUpdated":
        this.patchNode(addr("account"), { peerId: String(a.getValue("peerId")) });
        return true;
      case "SettlementTokenRegistered":
        this.settlementTokens.add(key(addr("token")));
        return true;
      case "ReserveAttestorSet":
      case "CustodianKeySet": {
        const institution = key(addr("institution"));
        const map = parsed.name === "ReserveAttestorSet" ? this.attestors : this.custodianKeys;
        const value = key(addr(parsed.name === "ReserveAttestorSet" ? "attestor" : "key"));
        if (value === key(ZeroAddress)) map.delete(institution);
        else map.set(institution, value);
        return true;
      }
      case "RoleGranted":
      case "RoleRevoked": {
        const role = String(a.getValue("role"));
        const members = role === REGULATOR_ROLE ? this.regulators : role === ARBITER_ROLE ? this.arbiters : undefined;
        if (!members) return false;
        const account = key(addr("account"));
        if (parsed.name === "RoleGranted") members.add(account);
        else members.delete(account);
        return true;
      }
      default:
        return false;
    }
  }

  private setAccount(address: string, info: AccountInfo): void {
    this.accounts.set(key(address), Object.freeze(info));
  }

  private patchAccount(address: string, patch: Partial<AccountInfo>): void {
    const current = this.accounts.get(key(address));
    if (!current) {
      this.logger.warn({ account: address }, "registry event for an account never registered");
      return;
    }
    this.setAccount(address, { ...current, ...patch });
  }

  private setNode(node: NodeOperator): void {
    this.nodes.set(key(node.id), Object.freeze(node));
  }

  private patchNode(id: string, patch: Partial<NodeOperator>): void {
    const current = this.nodes.get(key(id));
    if (!current) {
      this.logger.warn({ operator: id }, "registry event for a node operator never registered");
      return;
    }
    this.setNode({ ...current, ...patch });
  }

  private setFrozen(token: string, account: string, frozen: boolean): boolean {
    let set = this.frozen.get(key(token));
    if (!set) this.frozen.set(key(token), (set = new Set()));
    if (set.has(key(account)) === frozen) return false;
    if (frozen) set.add(key(account));
    else set.delete(key(account));
    return true;
  }

  private setCustodian(token: string, institution: string, custodian: boolean): boolean {
    let set = this.custodians.get(key(token));
    if (!set) this.custodians.set(key(token), (set = new Set()));
    if (set.has(key(institution)) === custodian) return false;
    if (custodian) set.add(key(institution));
    else set.delete(key(institution));
    return true;
  }

  /** Recomputes derived state and tells listeners. */
  private changed(): void {
    const allowed = new Set<string>();
    for (const node of this.nodes.values()) {
      // A regulator node whose key lost REGULATOR_ROLE (revoked by governance) is no regulator.
      if (node.active && (!node.regulator || this.regulators.has(key(node.signer)))) allowed.add(node.peerId);
    }
    this.peerIds = allowed;
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: error }, "registry change listener failed");
      }
    }
  }

  /**
   * Compares the replayed operators with `registry.nodes()` at the same block. A difference means
   * events were missed (a lossy RPC) or mis-decoded: the contract's answer wins and is logged.
   */
  private async crossCheckNodes(): Promise<void> {
    const blockTag = this.syncedBlock;
    let records: NodeOperator[];
    try {
      const data = await this.provider.call({ to: this.registryAddress, data: this.registryAbi.encodeFunctionData("nodes"), blockTag });
      const [list] = this.registryAbi.decodeFunctionResult("nodes", data) as unknown as [
        { account: string; signer: string; peerId: string; name: string; regulator: boolean; active: boolean }[],
      ];
      records = list.map((r) => ({
        id: getAddress(r.account),
        signer: getAddress(r.signer),
        peerId: r.peerId,
        name: r.name,
        regulator: r.regulator,
        active: r.active,
      }));
    } catch (error) {
      this.logger.warn({ err: error, block: blockTag }, "could not cross-check node operators with registry.nodes()");
      return;
    }
    let differences = 0;
    for (const record of records) {
      const mirrored = this.nodes.get(key(record.id));
      const fields = (Object.keys(record) as (keyof NodeOperator)[]).filter((field) => mirrored?.[field] !== record[field]);
      if (fields.length === 0) continue;
      differences += 1;
      this.logger.warn({ operator: record.id, fields, block: blockTag }, "replayed node operator differs from registry.nodes(); using the contract's");
      this.setNode(record);
    }
    // Roles are not in nodes(): ask for each regulator key (arbiters cannot be enumerated).
    for (const record of records.filter((r) => r.regulator)) {
      const hasRole = await this.hasRole(REGULATOR_ROLE, record.signer, blockTag);
      if (hasRole === undefined || hasRole === this.regulators.has(key(record.signer))) continue;
      differences += 1;
      this.logger.warn({ operator: record.id, hasRole, block: blockTag }, "replayed regulator role differs from registry.hasRole(); using the contract's");
      if (hasRole) this.regulators.add(key(record.signer));
      else this.regulators.delete(key(record.signer));
    }
    const onChain = new Set(records.map((record) => key(record.id)));
    for (const id of [...this.nodes.keys()].filter((id) => !onChain.has(id))) {
      differences += 1;
      this.logger.warn({ operator: id, block: blockTag }, "replayed node operator unknown to registry.nodes(); dropped");
      this.nodes.delete(id);
    }
    if (differences > 0) this.changed();
  }

  private async hasRole(role: string, account: string, blockTag: number): Promise<boolean | undefined> {
    try {
      const data = await this.provider.call({ to: this.registryAddress, data: this.registryAbi.encodeFunctionData("hasRole", [role, account]), blockTag });
      return Boolean(this.registryAbi.decodeFunctionResult("hasRole", data)[0]);
    } catch (error) {
      this.logger.warn({ err: error, account, block: blockTag }, "could not cross-check a role with registry.hasRole()");
      return undefined;
    }
  }
}

function missing(name: string): never {
  throw new Error(`event ${name} is missing from the contract ABI; rebuild the artifacts`);
}

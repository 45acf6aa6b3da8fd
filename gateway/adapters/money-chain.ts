/**
 * What money movement reads from and sends to the chain directly: token balances, allowances and
 * ERC-2612 nonces, the registry's payout-account reference and account kind, chain time (deadlines
 * are computed from the latest block, not the wall clock), and the one transaction the gateway sends
 * itself: a merchant's `permit`, submitted by the configured permit relayer (merchants hold no gas,
 * and the node relays only escrow and token operations).
 */
import { Contract, JsonRpcProvider, MaxUint256, Network, Signature, type HDNodeWallet, type Wallet } from "ethers";
import type { Logger } from "pino";

import { SettlenetError } from "../../core/errors.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment, TokenDeployment } from "../../core/protocol/deployment.js";
import { DOMAIN_VERSION, PERMIT_TYPES, UNLIMITED_ALLOWANCE } from "../../core/protocol/eip712.js";


/** Chain reads and permit submission for money movement. */
export class MoneyChain {
  readonly provider: JsonRpcProvider;
  private readonly registry: Contract;
  private readonly tokens = new Map<string, Contract>();
  private readonly permitLocks = new Map<string, Promise<unknown>>();
  private readonly relayer: Wallet | HDNodeWallet | undefined;
  private readonly logger: Logger;

  constructor(
    rpcUrl: string,
    private readonly deployment: Deployment,
    modules: { permitRelayer?: Wallet | HDNodeWallet | undefined; logger: Logger },
    /** Receipt polling (a permit waits for its receipt; ethers' default is 4 s). */
    options: { pollingInterval?: number } = {},
  ) {
    this.logger = modules.logger;
    this.provider = new JsonRpcProvider(rpcUrl, Network.from(BigInt(deployment.chainId)), {
      staticNetwork: true,
      cacheTimeout: -1,
      ...(options.pollingInterval ? { pollingInterval: options.pollingInterval } : {}),
    });
    this.registry = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, this.provider);
    this.relayer = modules.permitRelayer?.connect(this.provider);
  }

  /** Latest block timestamp in unix seconds (what the contracts compare deadlines with). */
  async now(): Promise<bigint> {
    const block = await this.read(() => this.provider.getBlock("latest"));
    return BigInt(block?.timestamp ?? Math.floor(Date.now() / 1000));
  }

  async balanceOf(token: TokenDeployment, account: string): Promise<bigint> {
    return this.read(async () => (await this.token(token).getFunction("balanceOf")(account)) as bigint);
  }

  async allowance(token: TokenDeployment, owner: string, spender: string): Promise<bigint> {
    return this.read(async () => (await this.token(token).getFunction("allowance")(owner, spender)) as bigint);
  }

  /** Whether a regulator froze `account` on the token at `tokenAddress` (SettlementToken.isFrozen). */
  async isFrozen(tokenAddress: string, account: string): Promise<boolean> {
    const token = Object.values(this.deployment.tokens).find((t) => t.address.toLowerCase() === tokenAddress.toLowerCase());
    if (!token) throw new SettlenetError("UNSUPPORTED_CURRENCY", `${tokenAddress} is not a settlement token here`, { token: tokenAddress });
    return this.read(async () => (await this.token(token).getFunction("isFrozen")(account)) as boolean);
  }

  /** The registry's payout-account reference of a merchant (bytes32). */
  async payoutAccountOf(merchant: string): Promise<string> {
    return this.read(async () => (await this.registry.getFunction("payoutAccountOf")(merchant)) as string);
  }

  /** The current signing key of institution `institution`. */
  async signerOf(institution: string): Promise<string> {
    return this.read(async () => (await this.registry.getFunction("signerOf")(institution)) as string);
  }

  /**
   * Makes sure `owner` has an unlimited allowance to `spender` on `token`: if not, `owner` signs an
   * ERC-2612 permit and the permit relayer submits it (one at a time per owner: permits use sequential
   * nonces). ALLOWANCE_UNAVAILABLE when there is no relayer or the permit does not take.
   */
  ensureAllowance(token: TokenDeployment, owner: Wallet | HDNodeWallet, spender: string): Promise<void> {
    const key = `${token.address}:${owner.address}`.toLowerCase();
    const previous = this.permitLocks.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.permit(token, owner, spender));
    const tail = run.catch(() => undefined);
    this.permitLocks.set(key, tail);
    void tail.then(() => {
      if (this.permitLocks.get(key) === tail) this.permitLocks.delete(key);
    });
    return run;
  }

  /** The next ERC-2612 nonce of `owner` on `token`. */
  async permitNonce(token: TokenDeployment, owner: string): Promise<bigint> {
    return this.read(async () => (await this.token(token).getFunction("nonces")(owner)) as bigint);
  }

  /**
   * Submits a permit `owner` signed elsewhere (a payer's wallet, through the hosted checkout) with the
   * permit relayer, and waits for its receipt. ALLOWANCE_UNAVAILABLE when there is no relayer or the
   * permit does not take.
   */
  submitPermit(token: TokenDeployment, permit: { owner: string; spender: string; value: bigint; deadline: bigint; signature: string }): Promise<void> {
    const key = `${token.address}:${permit.owner}`.toLowerCase();
    const previous = this.permitLocks.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.sendPermit(token, permit));
    const tail = run.catch(() => undefined);
    this.permitLocks.set(key, tail);
    void tail.then(() => {
      if (this.permitLocks.get(key) === tail) this.permitLocks.delete(key);
    });
    return run;
  }

  async close(): Promise<void> {
    this.provider.destroy();
  }

  private async permit(token: TokenDeployment, owner: Wallet | HDNodeWallet, spender: string): Promise<void> {
    if ((await this.allowance(token, owner.address, spender)) >= UNLIMITED_ALLOWANCE) return;
    const relayer = this.relayer;
    if (!relayer) {
      throw new SettlenetError("ALLOWANCE_UNAVAILABLE", `${owner.address} has no allowance to ${spender} and no permit relayer is configured`, { owner: owner.address, spender });
    }
    const contract = this.token(token);
    try {
      const nonce = (await contract.getFunction("nonces")(owner.address)) as bigint;
      const deadline = (await this.now()) + 3_600n;
      const domain = { name: token.name, version: DOMAIN_VERSION, chainId: BigInt(this.deployment.chainId), verifyingContract: token.address };
      const signature = Signature.from(await owner.signTypedData(domain, PERMIT_TYPES, { owner: owner.address, spender, value: MaxUint256, nonce, deadline }));
      const tx = (await (contract.connect(relayer) as Contract).getFunction("permit")(owner.address, spender, MaxUint256, deadline, signature.v, signature.r, signature.s)) as {
        hash: string;
        wait(): Promise<{ status: number | null } | null>;
      };
      const receipt = await tx.wait();
      if (receipt?.status !== 1) throw new Error(`permit transaction ${tx.hash} failed`);
      this.logger.info({ owner: owner.address, spender, token: token.symbol, txHash: tx.hash }, "permit submitted");
    } catch (error) {
      throw new SettlenetError("ALLOWANCE_UNAVAILABLE", `the permit of ${owner.address} to ${spender} failed: ${(error as Error).message}`, { owner: owner.address, spender }, { cause: error });
    }
  }

  private async sendPermit(token: TokenDeployment, permit: { owner: string; spender: string; value: bigint; deadline: bigint; signature: string }): Promise<void> {
    const { owner, spender, value, deadline } = permit;
    if ((await this.allowance(token, owner, spender)) >= UNLIMITED_ALLOWANCE) return;
    const relayer = this.relayer;
    if (!relayer) throw new SettlenetError("ALLOWANCE_UNAVAILABLE", `${owner} has no allowance to ${spender} and no permit relayer is configured`, { owner, spender });
    try {
      const signature = Signature.from(permit.signature);
      const tx = (await (this.token(token).connect(relayer) as Contract).getFunction("permit")(owner, spender, value, deadline, signature.v, signature.r, signature.s)) as {
        hash: string;
        wait(): Promise<{ status: number | null } | null>;
      };
      const receipt = await tx.wait();
      if (receipt?.status !== 1) throw new Error(`permit transaction ${tx.hash} failed`);
      this.logger.info({ owner, spender, token: token.symbol, txHash: tx.hash }, "permit submitted");
    } catch (error) {
      throw new SettlenetError("ALLOWANCE_UNAVAILABLE", `the permit of ${owner} to ${spender} failed: ${(error as Error).message}`, { owner, spender }, { cause: error });
    }
  }

  private token(token: TokenDeployment): Contract {
    let contract = this.tokens.get(token.address);
    if (!contract) {
      contract = new Contract(token.address, loadArtifact("SettlementToken").abi, this.provider);
      this.tokens.set(token.address, contract);
    }
    return contract;
  }

  private async read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new SettlenetError("CHAIN_UNAVAILABLE", `cannot read the chain: ${(error as Error).message}`, {}, { cause: error });
    }
  }
}

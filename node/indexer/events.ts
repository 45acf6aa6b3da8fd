/**
 * Event logs of one contract, fetched and decoded for the indexers at the cost a node can afford on
 * every payment: `eth_getLogs` answers are read as the JSON-RPC returns them when the provider can
 * send raw requests (ethers' log objects checksum every log's address), each topic maps to its event
 * once (ethers' `parseLog` hashes every event signature again for every log), and events whose data
 * holds only static types are read word by word, addresses checksummed through a cache. Other events
 * (with `bytes` or arrays in their data) go through ethers' ABI decoder.
 */
import { getAddress, type AbstractProvider, type EventFragment, type Interface } from "ethers";

import { SettlenetError } from "../../core/errors.js";

/** The parts of a log the indexers use. */
export interface ChainLog {
  address: string;
  topics: readonly string[];
  data: string;
  blockNumber: number;
  transactionHash: string;
  /** Position of the log in its block. */
  index: number;
  removed: boolean;
}

/** A decoded event: its name, its arguments by name (integers as bigint, addresses checksummed) and their order. */
export interface DecodedEvent {
  name: string;
  /** Argument names in the event's order. */
  names: readonly string[];
  arg(name: string): unknown;
}

interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  transactionHash: string;
  logIndex: string;
  removed?: boolean;
}

/** A provider that sends raw JSON-RPC requests (ethers' JsonRpcApiProvider does). */
interface RawSender {
  send(method: string, params: unknown[]): Promise<unknown>;
}

export function canSend(provider: AbstractProvider): provider is AbstractProvider & RawSender {
  return typeof (provider as Partial<RawSender>).send === "function";
}

const toHex = (n: number) => `0x${n.toString(16)}`;

/** Logs of `address` (one contract or several) with a first topic in `topics`, in blocks [fromBlock, toBlock]. */
export async function fetchLogs(provider: AbstractProvider, filter: { address: string | string[]; topics: string[]; fromBlock: number; toBlock: number }): Promise<ChainLog[]> {
  if (!canSend(provider)) {
    const logs = await provider.getLogs({ address: filter.address, fromBlock: filter.fromBlock, toBlock: filter.toBlock, topics: [filter.topics] });
    return logs.map((log) => ({ address: log.address, topics: log.topics, data: log.data, blockNumber: log.blockNumber, transactionHash: log.transactionHash, index: log.index, removed: log.removed }));
  }
  const raw = await provider.send("eth_getLogs", [{ address: filter.address, fromBlock: toHex(filter.fromBlock), toBlock: toHex(filter.toBlock), topics: [filter.topics] }]);
  if (!Array.isArray(raw)) throw new SettlenetError("RPC_INCONSISTENT", "eth_getLogs did not answer a list", {});
  return (raw as RawLog[]).map((log) => ({
    address: log.address,
    topics: log.topics,
    data: log.data,
    blockNumber: Number(log.blockNumber),
    transactionHash: log.transactionHash,
    index: Number(log.logIndex),
    removed: log.removed === true,
  }));
}

const STATIC_WORD = /^(address|bool|bytes([1-9]|[12][0-9]|3[0-2])|u?int(8|16|24|32|40|48|56|64|72|80|88|96|104|112|120|128|136|144|152|160|168|176|184|192|200|208|216|224|232|240|248|256)?)$/;
/** Addresses seen, checksummed (a node meets the same payers, merchants and tokens again and again). */
const CHECKSUM_CACHE_LIMIT = 100_000;

/** How one event's arguments are read: from topics and data words, or (dynamic data) by ethers. */
interface EventLayout {
  fragment: EventFragment;
  names: readonly string[];
  /** Static data: each argument's source (a topic or a data word) and type; undefined when the data is dynamic. */
  fields: { name: string; type: string; topic: number | undefined; word: number }[] | undefined;
}

/** Decodes the events `names` of a contract ABI; see the module comment. */
export class EventDecoder {
  private readonly byTopic = new Map<string, EventLayout>();
  private readonly checksums = new Map<string, string>();

  constructor(
    private readonly iface: Interface,
    names: readonly string[],
  ) {
    for (const name of names) {
      const fragment = iface.getEvent(name);
      if (!fragment) throw new SettlenetError("ABI_MISMATCH", `the ABI lacks event ${name}`, { event: name });
      const staticData = fragment.inputs.every((input) => input.indexed || STATIC_WORD.test(input.type));
      let topic = 1;
      let word = 0;
      const fields = staticData
        ? fragment.inputs.map((input) => ({ name: input.name, type: input.type, topic: input.indexed ? topic++ : undefined, word: input.indexed ? -1 : word++ }))
        : undefined;
      this.byTopic.set(fragment.topicHash.toLowerCase(), { fragment, names: fragment.inputs.map((input) => input.name), fields });
    }
  }

  /** The first topics of the events, for a log filter. */
  get topics(): string[] {
    return [...this.byTopic.keys()];
  }

  /** The event of `log`, or undefined if it is none of the decoder's events. */
  decode(log: Pick<ChainLog, "topics" | "data">): DecodedEvent | undefined {
    const topic = log.topics[0]?.toLowerCase();
    const layout = topic === undefined ? undefined : this.byTopic.get(topic);
    if (!layout) return undefined;
    const { fragment, names, fields } = layout;
    if (!fields) {
      const result = this.iface.decodeEventLog(fragment, log.data, log.topics);
      return { name: fragment.name, names, arg: (name) => result.getValue(name) as unknown };
    }
    const values = new Map<string, unknown>();
    for (const field of fields) {
      const hex = field.topic !== undefined ? log.topics[field.topic]?.slice(2) : log.data.slice(2 + field.word * 64, 2 + (field.word + 1) * 64);
      if (hex === undefined || hex.length !== 64) throw new SettlenetError("RPC_INCONSISTENT", `a ${fragment.name} log is shorter than its event`, { event: fragment.name });
      values.set(field.name, this.word(field.type, hex));
    }
    return { name: fragment.name, names, arg: (name) => values.get(name) };
  }

  private word(type: string, hex: string): unknown {
    if (type === "address") return this.checksum(`0x${hex.slice(24).toLowerCase()}`);
    if (type === "bool") return BigInt(`0x${hex}`) !== 0n;
    if (type.startsWith("bytes")) return `0x${hex.slice(0, 2 * Number(type.slice(5)))}`;
    const value = BigInt(`0x${hex}`);
    if (type.startsWith("int")) return BigInt.asIntN(Number(type.slice(3) || 256), value);
    return value;
  }

  private checksum(address: string): string {
    let checksummed = this.checksums.get(address);
    if (checksummed === undefined) {
      if (this.checksums.size >= CHECKSUM_CACHE_LIMIT) this.checksums.clear();
      checksummed = getAddress(address);
      this.checksums.set(address, checksummed);
    }
    return checksummed;
  }
}

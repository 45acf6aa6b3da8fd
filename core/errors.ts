/**
 * One error base class for the whole project: a stable string `code` plus structured metadata.
 * Tests assert on codes, HTTP answers carry the code in an RFC 9457 problem document, and gossip
 * validation tags each error with the gossipsub action it maps to.
 */
export class SettlenetError extends Error {
  readonly code: string;
  readonly meta: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, meta: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.meta = meta;
  }
}

/** Gossip validation outcome of a refused operation (accept is the absence of an error). */
export const ValidationAction = { IGNORE: "ignore", REJECT: "reject" } as const;
export type ValidationAction = (typeof ValidationAction)[keyof typeof ValidationAction];

/**
 * A refused operation. REJECT: the message itself is invalid (malformed, bad signature, unknown
 * signer, a limit broken on its own); the forwarding peer is penalised. IGNORE: duplicate, already
 * executed, stale, or a refusal that depends on this node's local view; nobody is penalised.
 */
export class OperationError extends SettlenetError {
  readonly action: ValidationAction;

  constructor(action: ValidationAction, code: string, message: string, meta: Record<string, unknown> = {}) {
    super(code, message, meta);
    this.action = action;
  }
}

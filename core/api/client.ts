/**
 * The one typed client of a node's HTTP API (used by the gateway, the node's CLIs, the demo, the
 * benchmarks and the tests). Requests are built from the contract's route definitions and every
 * answer is parsed with the route's answer schema. Failures are coded: a node that cannot be reached,
 * answers 5xx (503 NOT_READY while it catches up) or answers outside the contract is NODE_UNAVAILABLE
 * (with the node's code when it sent one); a request sent but not answered (the time limit passed, or
 * the connection broke) is NODE_TIMEOUT, because the node may still have applied it; a request the
 * node refuses (4xx), or turns away for now (503 with Retry-After: admission control, code
 * RELAY_BACKLOG, nothing stored — send the same operations again after that long), is a NodeApiError
 * with the node's own code and status (and `retryAfterSeconds`; `isRetryLater` and `backlogRetryAfter`
 * read it). Lookups of one resource answer undefined when the node has none.
 */
import { Readable } from "node:stream";

import { request as httpRequest, type Dispatcher } from "undici";
import type { z } from "zod";

import { SettlenetError } from "../errors.js";
import type { OperationInput } from "../operations/index.js";
import type { PaymentRecord, StoredOperation } from "../records.js";
import type { RecordJson } from "../settlement/records.js";
import type { Statement } from "../settlement/statement.js";
import type { auditListQuery, PaymentHistory } from "./audit.js";
import type { ChangesPage } from "./changes.js";
import { problemSchema, type ContentAnswer, type NodeRoute, type Page, type Problem, type RouteSchema } from "./common.js";
import type { AlertRecord, alertAckBody, alertListQuery, alertReportQuery } from "./compliance.js";
import type { CustodyTransfer } from "./custody.js";
import { disputeNoteViewSchema, type DisputeNoteView, type DisputeView, type disputeListQuery } from "./disputes.js";
import type { DisputeNote } from "../protocol/dispute-note.js";
import { RELAY_BACKLOG, RETRY_AFTER_HEADER, acceptedSchema, batchAnswerSchema, type BatchAnswer } from "./operations.js";
import type { OverdueReport } from "./overdue.js";
import type { paymentListQuery, NodePayment } from "./payments.js";
import type { AmlReport, ReservesReport } from "./reserves.js";
import { NODE_API_ROUTES as routes, accessOf } from "./routes.js";
import { bearer, tokenFor, type ClientCredentials } from "./auth.js";
import type { AuditLogPage, RiskRulesViewBody, auditLogQuery } from "./admin.js";
import type { SignedRiskRules } from "../protocol/risk-rules.js";
import type { HealthReport, PeerInfo } from "./service.js";
import type { CycleState, CycleView, RecordProof, SettlementAlert } from "./settlement.js";
import type { TokenAccount, TokenEvent, TokenSummary, TokenView } from "./tokens.js";
import type { NodeUserView, createNodeUserBody } from "./users.js";

export type { NodePayment, Problem, StoredOperation };

/** A single submission: accepted with the operation id, or refused with the node's problem document. */
export type SubmitResult = { accepted: true; id: string } | { accepted: false; problem: Problem };

/** The party a statement is about: one merchant or one institution. */
export type StatementParty = { merchant: string } | { institution: string };

export interface NodeApiClientOptions {
  /** The node API's base URL, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** Limit per request (the backup download, a stream, has none); default 30 s. */
  timeoutMs?: number;
  /**
   * The node API credential(s) to send: one token, or one per role (each request carries the token of
   * a role its route allows). Without one, every route but health answers 401 UNAUTHENTICATED.
   */
  credentials?: ClientCredentials;
}

/**
 * The node refused a request: its problem document's code, the HTTP status and the document. With
 * `retryAfterSeconds` (a 503 with Retry-After) the refusal is for now only: the same request may be
 * sent again after that delay.
 */
export class NodeApiError extends SettlenetError {
  readonly status: number;
  readonly problem: Problem;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, problem: Problem, retryAfterSeconds?: number) {
    super(problem.code, problem.title, { status, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
    this.status = status;
    this.problem = problem;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** True if `error` says the node turned the request away for now (retry after `retryAfterSeconds`). */
export function isRetryLater(error: unknown): error is NodeApiError & { retryAfterSeconds: number } {
  return error instanceof NodeApiError && error.retryAfterSeconds !== undefined;
}

/** Connection errors after which the request may have reached the node (any other failure happened before sending). */
const MAYBE_SENT = new Set(["UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/** The Retry-After header's delay in whole seconds (delay-seconds or an HTTP date), if any. */
function retryAfterOf(header: string | null): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

interface Request {
  params?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Added to the client's time limit (a long poll's wait). */
  extraTimeMs?: number;
  /** Gives up the request (a long poll of a client that stops). */
  signal?: AbortSignal | undefined;
}

interface Answer {
  status: number;
  /** Media type without parameters. */
  mediaType: string;
  /** The Retry-After header, in seconds. */
  retryAfterSeconds: number | undefined;
  /** Parsed JSON for JSON media types, the text otherwise. */
  body: unknown;
  text: string;
}

const JSON_TYPES: ReadonlySet<string> = new Set(["application/json", "application/problem+json"]);

/** An HTTP answer as undici's `request` gives it: status, headers, the body as a Node stream. */
type RawAnswer = Dispatcher.ResponseData;

/** A header of a raw answer (the first value if repeated), or null. */
function headerOf(response: RawAnswer, name: string): string | null {
  const value = response.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

/** The JSON schema of a route's 200 answer (its application/json content, for routes that also answer CSV). */
type Json200<S extends RouteSchema> = S["response"]["200"] extends infer A
  ? A extends z.ZodType
    ? A
    : A extends { content: { "application/json": { schema: infer J extends z.ZodType } } }
      ? J
      : never
  : never;

/** The 200 answer's JSON schema of a route. */
function json200<S extends RouteSchema>(route: NodeRoute<S>): Json200<S> {
  const declared = route.schema.response["200"];
  const schema = declared && "content" in declared ? (declared as ContentAnswer).content["application/json"]?.schema : declared;
  if (!schema) throw new SettlenetError("INTERNAL", `${route.method} ${route.url} declares no JSON answer`);
  return schema as Json200<S>;
}

/** Requests a client sent, by the route's operation id, and answers it checked against the contract. */
export interface NodeClientWork {
  requests: Map<string, number>;
  parsed: number;
}

/** Talks to one node. */
export class NodeApiClient {
  private readonly timeoutMs: number;
  /** What this client did (counts only; the gateway serves them as metrics). */
  readonly work: NodeClientWork = { requests: new Map(), parsed: 0 };

  constructor(private readonly options: NodeApiClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  // ---------------------------------------------------------------- operations

  /** Submits one operation: accepted with its id, or refused with the node's problem document. */
  async submit(op: OperationInput): Promise<SubmitResult> {
    const route = routes.submitOperations;
    const answer = await this.send(route, { body: op });
    if (answer.status === 202) return { accepted: true, id: this.parse(route, acceptedSchema, answer).id };
    if (answer.status >= 400 && answer.status < 500) return { accepted: false, problem: this.parse(route, problemSchema, answer) };
    throw this.failure(route, answer);
  }

  /** Submits a batch (validated, stored and gossiped together): one result per operation, in order. */
  async submitBatch(ops: OperationInput[]): Promise<BatchAnswer> {
    const route = routes.submitOperations;
    const answer = await this.send(route, { body: { operations: ops } });
    // 422 is also the status of a refused single operation: only a batch answer is a batch's result.
    if ((answer.status === 202 || answer.status === 422) && !problemSchema.safeParse(answer.body).success) return this.parse(route, batchAnswerSchema, answer);
    throw this.failure(route, answer);
  }

  /** The node's record of one operation (status, relay, execution, failure), or undefined if it has none. */
  operation(id: string): Promise<StoredOperation | undefined> {
    return this.lookup(routes.getOperation, { params: { id } });
  }

  // ---------------------------------------------------------------- payments and audit

  /** The node's view of a payment (indexed record, escrow state now, operations), or undefined if it knows nothing of it. */
  payment(paymentId: string): Promise<NodePayment | undefined> {
    return this.lookup(routes.getPayment, { params: { id: paymentId } });
  }

  /** One page of the payments the node indexed, newest first, filtered by merchant, payer or institution. */
  payments(query: z.input<typeof paymentListQuery>): Promise<Page<PaymentRecord>> {
    return this.read(routes.listPayments, { query });
  }

  /** A payment's full history (operations in chain order and escrow events), or undefined if unknown. */
  paymentHistory(paymentId: string): Promise<PaymentHistory | undefined> {
    return this.lookup(routes.getPaymentHistory, { params: { id: paymentId } });
  }

  /** One page of the audit payment query (by account, merchant or institution and time). */
  auditPayments(query: z.input<typeof auditListQuery>): Promise<Page<PaymentRecord>> {
    return this.read(routes.listAuditPayments, { query });
  }

  // ---------------------------------------------------------------- disputes

  /** One page of the dispute queue (open, oldest first) or of the resolved disputes (newest first). */
  disputes(query: z.input<typeof disputeListQuery> = {}): Promise<Page<DisputeView>> {
    return this.read(routes.listDisputes, { query });
  }

  /** The merchant's notes on a payment's dispute, oldest first. */
  async disputeNotes(paymentId: string): Promise<DisputeNoteView[]> {
    return (await this.read(routes.listDisputeNotes, { params: { id: paymentId } })).items;
  }

  /** Submits a merchant's signed note: the stored note (`created` false when the node had it already), or a NodeApiError with the node's code. */
  async submitDisputeNote(note: DisputeNote): Promise<{ note: DisputeNoteView; created: boolean }> {
    const route = routes.submitDisputeNote;
    const answer = await this.send(route, { params: { id: note.paymentId }, body: note });
    if (answer.status !== 200 && answer.status !== 201) throw this.failure(route, answer);
    return { note: this.parse(route, disputeNoteViewSchema, answer), created: answer.status === 201 };
  }

  // ---------------------------------------------------------------- change feed

  /**
   * The node's changes after `after` (absent: from the oldest kept), in order; with `waitMs` the node
   * holds the request until a change follows or the wait ends. A cursor the node cannot continue from
   * is a NodeApiError FEED_CURSOR_EXPIRED (410) whose problem's `latest` says where the feed is now.
   */
  changes(query: { after?: string | undefined; limit?: number; waitMs?: number } = {}, signal?: AbortSignal): Promise<ChangesPage> {
    return this.read(routes.listChanges, { query: { after: query.after, limit: query.limit, waitMs: query.waitMs }, extraTimeMs: query.waitMs ?? 0, signal });
  }

  // ---------------------------------------------------------------- settlement

  /** One page of the cycles this node built, newest first. */
  cycles(query: { cursor?: string; limit?: number } = {}): Promise<Page<CycleState>> {
    return this.read(routes.listCycles, { query });
  }

  /** One cycle with its attestations, or undefined if this node has none (not closed yet, or empty). */
  cycle(cycleId: string): Promise<CycleView | undefined> {
    return this.lookup(routes.getCycle, { params: { id: cycleId } });
  }

  /** One page of a cycle's records, in tree order. */
  cycleRecords(cycleId: string, query: { cursor?: string; limit?: number } = {}): Promise<Page<RecordJson>> {
    return this.read(routes.listCycleRecords, { params: { id: cycleId }, query });
  }

  /** The Merkle inclusion proof of one record of a finalized cycle. */
  recordProof(cycleId: string, query: { kind: string; recordId: string }): Promise<RecordProof> {
    return this.read(routes.getRecordProof, { params: { id: cycleId }, query });
  }

  /** The settlement statement of `merchant` for cycle `cycleId`, or undefined if the node has no such cycle. */
  statement(cycleId: string, merchant: string): Promise<Statement | undefined> {
    return this.cycleStatement(cycleId, { merchant });
  }

  /** The statement of a merchant or an institution in a cycle, or undefined if the node has no such cycle. */
  cycleStatement(cycleId: string, party: StatementParty): Promise<Statement | undefined> {
    return this.lookup(routes.getStatement, { params: { id: cycleId }, query: { ...party, format: "json" } });
  }

  /** The statement as the node renders it (JSON or CSV text), checked against the contract. */
  async cycleStatementText(cycleId: string, party: StatementParty, format: "json" | "csv"): Promise<string> {
    return this.text(routes.getStatement, { params: { id: cycleId }, query: { ...party, format } });
  }

  /** One page of settlement alerts, newest cycle first, optionally of one cycle. */
  settlementAlerts(query: { cycle?: string; cursor?: string; limit?: number } = {}): Promise<Page<SettlementAlert>> {
    return this.read(routes.listSettlementAlerts, { query });
  }

  // ---------------------------------------------------------------- compliance, reserves, reports

  /** One page of compliance alerts, newest first. */
  alerts(query: z.input<typeof alertListQuery> = {}): Promise<Page<AlertRecord>> {
    return this.read(routes.listAlerts, { query });
  }

  /** One alert, or undefined if this node has none with this id. */
  alert(id: string): Promise<AlertRecord | undefined> {
    return this.lookup(routes.getAlert, { params: { id } });
  }

  /** Acknowledges an alert (once; ALERT_ALREADY_ACKNOWLEDGED after). */
  acknowledgeAlert(id: string, ack: z.input<typeof alertAckBody>): Promise<AlertRecord> {
    return this.read(routes.acknowledgeAlert, { params: { id }, body: ack });
  }

  /** What the node's custodian service did with bank transfer `bankRef`; undefined if nothing (yet). */
  custodyTransfer(bankRef: string): Promise<CustodyTransfer | undefined> {
    return this.lookup(routes.getCustodyTransfer, { params: { bankRef } });
  }

  /** Proof of reserves at the chain head. */
  reserves(): Promise<ReservesReport> {
    return this.read(routes.getReserves, {});
  }

  /** The AML report (every alert matching the filter; AML category unless named). */
  amlReport(query: Omit<z.input<typeof alertReportQuery>, "format"> = {}): Promise<AmlReport> {
    return this.read(routes.amlReport, { query: { ...query, format: "json" } });
  }

  /** The AML report as the node renders it (JSON or CSV text), checked against the contract. */
  amlReportText(query: z.input<typeof alertReportQuery> & { format: "json" | "csv" }): Promise<string> {
    return this.text(routes.amlReport, { query });
  }

  /** The reserves report as the node renders it (JSON or CSV text), checked against the contract. */
  reservesReportText(format: "json" | "csv"): Promise<string> {
    return this.text(routes.reservesReport, { query: { format } });
  }

  // ---------------------------------------------------------------- tokens

  /** The deployment's settlement tokens. */
  async tokens(): Promise<TokenSummary[]> {
    return (await this.read(routes.listTokens, {})).tokens;
  }

  /** A settlement token's indexed state merged with the chain's. */
  token(token: string): Promise<TokenView> {
    return this.read(routes.getToken, { params: { token } });
  }

  /** The newest `limit` (at most 500) indexed events of `token`, newest first. */
  async tokenEvents(token: string, limit: number): Promise<TokenEvent[]> {
    return (await this.read(routes.listTokenEvents, { params: { token }, query: { limit } })).events;
  }

  /** An account's balance and freeze state on-chain now, with the indexed freeze. */
  tokenAccount(token: string, account: string): Promise<TokenAccount> {
    return this.read(routes.getTokenAccount, { params: { token, address: account } });
  }

  // ---------------------------------------------------------------- service and admin

  /** Connected peers. */
  async peers(): Promise<PeerInfo[]> {
    return (await this.read(routes.listPeers, {})).peers;
  }

  /** The node's health report, ready or not (the node answers 503 with it while catching up). */
  async health(): Promise<HealthReport> {
    const route = routes.health;
    // 503 with a health report is an answer here, not a failure.
    const answer = await this.answerOf(route, await this.fetch(route, {}, true), true);
    if (answer.status === 503 && !problemSchema.safeParse(answer.body).success) return this.parse(route, route.schema.response[503], answer);
    if (answer.status !== 200) throw this.failure(route, answer);
    return this.parse(route, route.schema.response[200], answer);
  }

  /** The node's Prometheus metrics (text exposition format). */
  metrics(): Promise<string> {
    return this.text(routes.metrics, {});
  }

  /** Streams a backup of the node's database (NDJSON); the caller checks it (see node/backup). */
  async backup(): Promise<ReadableStream<Uint8Array>> {
    const route = routes.downloadBackup;
    const response = await this.fetch(route, {}, false);
    if (response.statusCode !== 200) throw this.failure(route, await this.answerOf(route, response));
    return Readable.toWeb(response.body) as ReadableStream<Uint8Array>;
  }

  /** One page of the node's audit log (oldest first) with its head. */
  auditLog(query: z.input<typeof auditLogQuery> = {}): Promise<AuditLogPage> {
    return this.read(routes.listAuditLog, { query });
  }

  /** The risk rules the node applies. */
  riskRules(): Promise<RiskRulesViewBody> {
    return this.read(routes.getRiskRules, {});
  }

  /** Submits a signed risk-rules document (operator role). */
  putRiskRules(signed: SignedRiskRules): Promise<RiskRulesViewBody> {
    return this.read(routes.putRiskRules, { body: signed });
  }

  /** Money stuck in an intermediate state as of the node's last overdue check, oldest first (operator role). */
  overdue(limit?: number): Promise<OverdueReport> {
    return this.read(routes.listOverdue, { query: { limit } });
  }

  /** The people who sign in to the node (operator role). */
  async nodeUsers(): Promise<NodeUserView[]> {
    return (await this.read(routes.listNodeUsers, {})).users;
  }

  /** Creates a node user enrolled at once; the answer's otpauth URI is the only copy of its TOTP secret. */
  async createNodeUser(body: z.input<typeof createNodeUserBody>): Promise<{ user: NodeUserView; otpauthUri: string }> {
    const route = routes.createNodeUser;
    const answer = await this.send(route, { body });
    if (answer.status !== 201) throw this.failure(route, answer);
    return this.parse(route, route.schema.response[201], answer);
  }

  /** Disables (or with `disabled` false, enables) a node user. */
  setNodeUserDisabled(id: string, disabled: boolean): Promise<NodeUserView> {
    return this.read(disabled ? routes.disableNodeUser : routes.enableNodeUser, { params: { id } });
  }

  /** Removes a node user, ending its sessions. */
  removeNodeUser(id: string): Promise<{ id: string; removed: true }> {
    return this.read(routes.removeNodeUser, { params: { id } });
  }

  // ---------------------------------------------------------------- requests and answers

  /** The 200 answer of `route`, parsed with its JSON schema. */
  private async read<S extends RouteSchema>(route: NodeRoute<S>, request: Request): Promise<z.infer<Json200<S>>> {
    const answer = await this.send(route, request);
    if (answer.status !== 200) throw this.failure(route, answer);
    return this.parse(route, json200(route), answer);
  }

  /** Like `read`, but undefined when the node answers 404 (it has no such resource). */
  private async lookup<S extends RouteSchema>(route: NodeRoute<S>, request: Request): Promise<z.infer<Json200<S>> | undefined> {
    const answer = await this.send(route, request);
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw this.failure(route, answer);
    return this.parse(route, json200(route), answer);
  }

  /** A 200 answer's text, exactly as served, after checking it against the schema of its media type. */
  private async text(route: NodeRoute, request: Request): Promise<string> {
    const answer = await this.send(route, request);
    if (answer.status !== 200) throw this.failure(route, answer);
    const declared = route.schema.response["200"];
    const content = declared && "content" in declared ? declared.content : undefined;
    const schema = content?.[answer.mediaType]?.schema;
    if (!schema) throw this.unavailable(`${route.method} ${route.url} answered ${answer.mediaType}, which the contract does not list`);
    this.parse(route, schema, answer);
    return answer.text;
  }

  private async send(route: NodeRoute, request: Request): Promise<Answer> {
    return this.answerOf(route, await this.fetch(route, request, true));
  }

  /**
   * Sends one request with undici's `request` (Node's fetch builds WHATWG Request, Headers and stream
   * objects and a resource timing entry per call: a share of the gateway's CPU per payment). Kept-alive
   * connections of undici's global dispatcher, which trusts what Node trusts (NODE_EXTRA_CA_CERTS).
   */
  private async fetch(route: NodeRoute, request: Request, timed: boolean): Promise<RawAnswer> {
    const operation = route.schema.operationId;
    this.work.requests.set(operation, (this.work.requests.get(operation) ?? 0) + 1);
    const path = route.url.replace(/:(\w+)/g, (_match, name: string) => {
      const value = request.params?.[name];
      if (value === undefined) throw new SettlenetError("INVALID_ARGUMENT", `${route.url} needs ${name}`, { param: name });
      return encodeURIComponent(value);
    });
    const url = new URL(path, this.options.baseUrl);
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const limitMs = this.timeoutMs + (request.extraTimeMs ?? 0);
    const token = tokenFor(this.options.credentials, accessOf(route.schema.operationId) ?? []);
    const headers: Record<string, string> = token === undefined ? {} : { authorization: bearer(token) };
    if (request.body !== undefined) headers["content-type"] = "application/json";
    try {
      return await httpRequest(url, {
        method: route.method as Dispatcher.HttpMethod,
        headers,
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
        ...(timed ? { signal: request.signal ? AbortSignal.any([AbortSignal.timeout(limitMs), request.signal]) : AbortSignal.timeout(limitMs) } : {}),
      });
    } catch (error) {
      if ((error as Error).name === "TimeoutError") throw this.noAnswer(`${route.method} ${route.url}: no answer within ${limitMs} ms`, error);
      const failed = error as { code?: unknown; cause?: { code?: unknown } };
      const code = failed.code ?? failed.cause?.code;
      if (typeof code === "string" && MAYBE_SENT.has(code)) {
        throw this.noAnswer(`${route.method} ${route.url}: the connection broke before an answer: ${(error as Error).message}`, error);
      }
      throw this.unavailable(`node unreachable: ${(error as Error).message}`, undefined, error);
    }
  }

  /** Reads the answer; a 5xx is NODE_UNAVAILABLE unless the caller takes it as an answer (`keep5xx`). */
  private async answerOf(route: NodeRoute, response: RawAnswer, keep5xx = false): Promise<Answer> {
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw this.noAnswer(`${route.method} ${route.url}: the answer broke off: ${(error as Error).message}`, error);
    }
    const mediaType = headerOf(response, "content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
    let body: unknown = text;
    if (JSON_TYPES.has(mediaType) || (mediaType === "" && text !== "")) {
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch (error) {
        throw this.unavailable(`node answered ${response.statusCode} with non-JSON`, undefined, error);
      }
    }
    const answer = { status: response.statusCode, mediaType, body, text, retryAfterSeconds: retryAfterOf(headerOf(response, RETRY_AFTER_HEADER.toLowerCase())) };
    if (answer.status >= 500 && !keep5xx) throw this.failure(route, answer);
    return answer;
  }

  private parse<T extends z.ZodType>(route: NodeRoute, schema: T, answer: Answer): z.infer<T> {
    this.work.parsed += 1;
    const result = schema.safeParse(answer.body);
    if (!result.success) {
      throw this.unavailable(`${route.method} ${route.url} answered a document outside the contract`, undefined, undefined, {
        issues: result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`),
      });
    }
    return result.data;
  }

  /** The error for an answer that is not the expected success. */
  private failure(route: NodeRoute, answer: Answer): SettlenetError {
    const problem = problemSchema.safeParse(answer.body);
    if (answer.status >= 400 && answer.status < 500 && problem.success) return new NodeApiError(answer.status, problem.data);
    if (answer.status === 503 && answer.retryAfterSeconds !== undefined) {
      // Turned away for now (admission control): retryable after the delay, whatever the node's code.
      const document = problem.success
        ? problem.data
        : { type: "about:blank", title: "the node is busy; retry later", status: 503, code: "NODE_BUSY" };
      return new NodeApiError(503, document, answer.retryAfterSeconds);
    }
    const said = problem.success ? ` ${problem.data.code}: ${problem.data.title}` : "";
    const retry = answer.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: answer.retryAfterSeconds };
    return this.unavailable(`${route.method} ${route.url} answered ${answer.status}${said}`, problem.success ? problem.data.code : undefined, undefined, retry);
  }

  /** NODE_TIMEOUT: the request went out and no answer came; the node may have applied it. */
  private noAnswer(message: string, cause: unknown): SettlenetError {
    return new SettlenetError("NODE_TIMEOUT", message, { outcome: "unknown" }, { cause });
  }

  private unavailable(message: string, nodeCode?: string, cause?: unknown, detail: Record<string, unknown> = {}): SettlenetError {
    return new SettlenetError("NODE_UNAVAILABLE", message, { ...(nodeCode ? { nodeCode } : {}), ...detail }, cause === undefined ? undefined : { cause });
  }
}

/**
 * The seconds after which to submit again if `error` is a submission refused by the node's admission
 * control (503 RELAY_BACKLOG: nothing was stored); undefined for any other error.
 */
export function backlogRetryAfter(error: unknown): number | undefined {
  if (!(error instanceof NodeApiError) || error.code !== RELAY_BACKLOG) return undefined;
  return error.retryAfterSeconds ?? 1;
}

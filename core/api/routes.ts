/**
 * Every route of the node API, grouped by resource, with the OpenAPI document's tags and description.
 * The node serves exactly these (its OpenAPI test checks both ways) and NodeApiClient calls them.
 */
import { OPERATION_CODES } from "../protocol/codes.js";
import { adminRoutes } from "./admin.js";
import { NODE_API_ROLES, NODE_USER_ROLES, type RouteAccess } from "./auth.js";
import { auditRoutes } from "./audit.js";
import { changeRoutes } from "./changes.js";
import { complianceRoutes } from "./compliance.js";
import { consoleRoutes } from "./console.js";
import { custodyRoutes } from "./custody.js";
import { disputeRoutes } from "./disputes.js";
import { onboardingRoutes } from "./onboarding.js";
import { operationRoutes } from "./operations.js";
import { overdueRoutes } from "./overdue.js";
import { paymentRoutes } from "./payments.js";
import { reservesRoutes } from "./reserves.js";
import { serviceRoutes } from "./service.js";
import { sessionRoutes } from "./session.js";
import { settlementRoutes } from "./settlement.js";
import { tokenRoutes } from "./tokens.js";
import { userRoutes } from "./users.js";

export const NODE_API_ROUTES = {
  ...operationRoutes,
  ...paymentRoutes,
  ...disputeRoutes,
  ...changeRoutes,
  ...auditRoutes,
  ...settlementRoutes,
  ...complianceRoutes,
  ...reservesRoutes,
  ...tokenRoutes,
  ...custodyRoutes,
  ...serviceRoutes,
  ...adminRoutes,
  ...userRoutes,
  ...onboardingRoutes,
  ...consoleRoutes,
  ...overdueRoutes,
  ...sessionRoutes,
};
export type NodeApiOperation = keyof typeof NODE_API_ROUTES;

const READERS = ["gateway", "regulator", "operator"] as const;
const OVERSIGHT = ["regulator", "operator"] as const;
/** Readers of payments and their operations, and arbiters, who decide disputed payments. */
const PAYMENT_READERS = [...READERS, "arbiter"] as const;
const PEOPLE = ["regulator", "operator", "arbiter"] as const;
const ANYONE = ["gateway", "regulator", "operator", "arbiter", "metrics"] as const;

/**
 * Who may call each route (the node answers 401 UNAUTHENTICATED without a valid credential or session
 * and 403 FORBIDDEN to a role not listed). A signed-in user holds one role and gets exactly that role's
 * routes, as a bearer credential of that role would. Routes outside the contract (the OpenAPI
 * document, /docs) take any valid credential or session.
 */
export const NODE_API_ACCESS: Record<NodeApiOperation, RouteAccess> = {
  submitOperations: ["gateway", "regulator", "arbiter"],
  getOperation: PAYMENT_READERS,
  getPayment: PAYMENT_READERS,
  listPayments: PAYMENT_READERS,
  listDisputes: PAYMENT_READERS,
  listDisputeNotes: PAYMENT_READERS,
  submitDisputeNote: ["gateway"],
  listChanges: READERS,
  getPaymentHistory: OVERSIGHT,
  listAuditPayments: OVERSIGHT,
  listCycles: READERS,
  getCycle: READERS,
  listCycleRecords: READERS,
  getRecordProof: READERS,
  getStatement: READERS,
  listSettlementAlerts: OVERSIGHT,
  listAlerts: OVERSIGHT,
  getAlert: OVERSIGHT,
  acknowledgeAlert: OVERSIGHT,
  getReserves: OVERSIGHT,
  amlReport: OVERSIGHT,
  reservesReport: OVERSIGHT,
  listTokens: PAYMENT_READERS,
  getToken: READERS,
  listTokenEvents: READERS,
  getTokenAccount: READERS,
  getCustodyTransfer: READERS,
  listPeers: READERS,
  health: "public",
  metrics: ["metrics", "operator"],
  downloadBackup: ["operator"],
  listAuditLog: OVERSIGHT,
  getRiskRules: OVERSIGHT,
  putRiskRules: ["operator"],
  listNodeUsers: ["operator"],
  createNodeUser: ["operator"],
  disableNodeUser: ["operator"],
  enableNodeUser: ["operator"],
  removeNodeUser: ["operator"],
  getRegistryAccount: ["operator"],
  registerMerchant: ["operator"],
  updateMerchant: ["operator"],
  registerCustomer: ["operator"],
  updateCustomer: ["operator"],
  setAccountStatus: ["operator"],
  getMetricsSummary: ["operator"],
  listFailedOperations: ["operator"],
  listOverdue: ["operator"],
  signIn: "public",
  getSession: ANYONE,
  signOut: PEOPLE,
};

/** The access of the route with this OpenAPI operation id (undefined: not a contract route). */
export function accessOf(operationId: string | undefined): RouteAccess | undefined {
  return operationId !== undefined && Object.hasOwn(NODE_API_ACCESS, operationId) ? NODE_API_ACCESS[operationId as NodeApiOperation] : undefined;
}

export const NODE_API_TAGS = [
  { name: "operations", description: "Signed operations: submit (one or a batch) and follow them" },
  { name: "payments", description: "Payments as indexed from the escrow, merged with its state now" },
  { name: "disputes", description: "The dispute queue and the merchants' signed notes on disputes (not chain operations: stored and gossiped by nodes, never relayed)" },
  { name: "changes", description: "The change feed: operation status and payment state changes in order, followed with a cursor" },
  { name: "audit", description: "Payment histories and queries for auditors and regulators" },
  { name: "settlement", description: "Settlement cycles, Merkle proofs of their records, statements and settlement alerts" },
  { name: "compliance", description: "AML and proof-of-reserves alerts" },
  { name: "reserves", description: "Proof of reserves and the compliance reports" },
  { name: "tokens", description: "Settlement tokens: supply, custodians, reserves, freezes and events" },
  { name: "service", description: "Health, peers and metrics" },
  { name: "session", description: "Sign-in of people (regulators, operators, arbiters): password and TOTP, a session cookie and its CSRF token" },
  { name: "admin", description: "Operators' routes: backup, the node's audit log of admin, compliance and backup actions, the signed risk rules, the people who sign in, and onboarding of the institution's merchants and customers" },
];

/** The OpenAPI document's description: how the node answers, and every operation refusal code. */
export const NODE_API_DESCRIPTION = `HTTP API of a Settlenet institution (or regulator) node.

Every route but \`/health\` and sign-in needs a bearer credential (\`Authorization: Bearer snc_…\`, issued with
\`settlenet node credentials create\`) bound to one role: ${NODE_API_ROLES.map((r) => `\`${r}\``).join(", ")}; or, for people, the
session cookie of \`POST /v1/session\` (a user made with \`settlenet node user create\`, role ${NODE_USER_ROLES.map((r) => `\`${r}\``).join(" or ")}),
with the session's CSRF token in \`x-csrf-token\` on every POST, PUT and DELETE. Without a valid credential
or session the node answers 401 \`UNAUTHENTICATED\` (a missing or wrong CSRF token: 403 \`CSRF_TOKEN_INVALID\`);
a role the route does not list gets 403 \`FORBIDDEN\`. Each route's description names its roles.

Money is minor units as decimal strings. Errors are RFC 9457 problem documents (\`application/problem+json\`)
with a stable \`code\`. While the node catches up with the chain and its peers, every route but \`/health\`,
\`/metrics\`, \`/v1/peers\` and this document answers 503 \`NOT_READY\`. A regulator node is read-only: it
refuses every operation but a regulator's freeze (which it gossips for the institutions to relay) with 403 \`READ_ONLY\`.

Refusal codes of a submitted operation (the same table decides gossip verdicts):

${Object.entries(OPERATION_CODES)
  .map(([code, { http, summary }]) => `- \`${code}\` (${http}): ${summary}`)
  .join("\n")}`;

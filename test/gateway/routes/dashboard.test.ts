/**
 * The dashboard's server side over HTTP (Fastify inject on the real app, LevelDB, an in-process
 * chain, two merchants): sign-in with password and TOTP, the session cookie, CSRF, lock-out,
 * invitations and roles, API keys through a session, /v1 reached with a session and kept to the
 * user's merchant, and every action in the hash-chained audit log without a secret in it.
 */
import { createHash } from "node:crypto";

import { expect } from "chai";

import { setMerchantStatus } from "../../../gateway/domain/merchants.js";
import { createOwner } from "../../../gateway/domain/users.js";
import { totpCode } from "../../../core/auth/totp.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { gatewayFixture, paymentBody, signedInject, type GatewayFixture, type TestMerchant } from "../fixture.js";

interface Session {
  cookie: string;
  csrf: string;
}
interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, unknown>;
}

const PASSWORD_A = "owner-a password 1";
const PASSWORD_B = "owner-b password 1";

describe("gateway: dashboard users, sessions, CSRF and session access to /v1", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let scenario: Scenario;
  let gw: GatewayFixture;
  let shopA: TestMerchant;
  let shopB: TestMerchant;
  let payer: string;
  // The gateway's clock: each sign-in moves it to the next TOTP step, so every code is fresh.
  const clock = { ms: Date.now() };
  const secrets: Record<string, string> = {};

  before(async function () {
    chain = await startChain();
    scenario = await deployScenario(chain, { institutions: 1, merchants: 2, payers: 1 });
    gw = await gatewayFixture({
      scenario,
      now: () => clock.ms,
      app: { dashboard: { maxFailures: 3, lockoutSeconds: 600, sessionIdleSeconds: 900, sessionAbsoluteSeconds: 7200 }, signInRateLimit: { max: 1_000, timeWindowMs: 60_000 } },
    });
    [shopA, shopB] = gw.merchants as [TestMerchant, TestMerchant];
    payer = scenario.payers[0]?.address ?? "";
    const modules = { storage: gw.storage, secrets: gw.secrets, now: () => clock.ms };
    for (const [merchant, email, password] of [
      [shopA.id, "owner@a.example", PASSWORD_A],
      [shopB.id, "owner@b.example", PASSWORD_B],
    ] as const) {
      const owner = await createOwner(merchant, { email, password }, { actor: "local:test", role: "admin" }, modules, { invitationTtlSeconds: 3600 });
      if (!("totpSecret" in owner)) throw new Error("expected an enrolled owner");
      secrets[email] = owner.totpSecret;
    }
  });
  after(async function () {
    await gw?.close();
    await chain?.close();
  });

  const send = async (method: "GET" | "POST" | "PATCH" | "DELETE", url: string, options: { session?: Session; csrf?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.session) headers["cookie"] = options.session.cookie;
    const csrf = options.csrf === undefined ? options.session?.csrf : options.csrf;
    if (csrf !== null && csrf !== undefined && method !== "GET") headers["x-csrf-token"] = csrf;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const response = await gw.app.inject({ method, url, headers, ...(options.body !== undefined ? { payload: JSON.stringify(options.body) } : {}) });
    return { status: response.statusCode, body: (response.body ? response.json() : {}) as Record<string, unknown>, headers: response.headers };
  };
  const nextStep = () => {
    clock.ms += 30_000;
  };
  const attempt = (email: string, password: string, code?: string) => {
    nextStep();
    return send("POST", "/dashboard/api/session", { body: { email, password, totp: code ?? totpCode(secrets[email] ?? "", clock.ms) } });
  };
  const signIn = async (email: string, password: string): Promise<Session & { answer: Answer }> => {
    const answer = await attempt(email, password);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(201);
    const setCookie = String(answer.headers["set-cookie"]);
    return { cookie: setCookie.split(";")[0] ?? "", csrf: String(answer.body["csrfToken"]), answer };
  };
  // Signed with the gateway's clock, which the tests move past the allowed skew from the wall clock.
  const signed = (merchant: Pick<TestMerchant, "keyId" | "secret">, method: "GET" | "POST", path: string, body?: unknown, options: Parameters<typeof signedInject>[5] = {}) =>
    signedInject(gw.app, merchant, method, path, body, { timestamp: Math.floor(clock.ms / 1000), ...options });
  const tokenOf = (session: Session) => session.cookie.slice(session.cookie.indexOf("=") + 1);
  const auditEntries = async () => (await gw.storage.audit.list({ limit: 10_000 })).entries;

  it("signs in with password and TOTP into a __Host- cookie (HttpOnly, Secure, SameSite=Strict, Path=/) whose token is stored only hashed", async function () {
    const session = await signIn("owner@a.example", PASSWORD_A);
    const setCookie = String(session.answer.headers["set-cookie"]);
    expect(setCookie).to.match(/^__Host-settlenet_session=sess_[A-Za-z0-9_-]{43};/);
    const attributes = setCookie.split(";").slice(1).map((a) => a.trim());
    expect(attributes).to.include.members(["Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=7200"]);
    expect(attributes.some((a) => a.toLowerCase().startsWith("domain"))).to.equal(false);
    expect(session.answer.body["user"]).to.deep.include({ email: "owner@a.example", role: "owner", merchantId: shopA.id, status: "active" });

    const token = tokenOf(session);
    expect(await gw.storage.users.getSession(token)).to.equal(undefined);
    expect(await gw.storage.users.getSession(createHash("sha256").update(token).digest("hex"))).to.deep.include({ merchantId: shopA.id });

    const who = await send("GET", "/dashboard/api/session", { session });
    expect(who.status).to.equal(200);
    expect(who.body["user"]).to.deep.include({ email: "owner@a.example", role: "owner" });
    expect(who.body["csrfToken"]).to.equal(session.csrf);
    expect(Date.parse(String(who.body["expiresAt"]))).to.equal(clock.ms + 900_000);

    const anonymous = await send("GET", "/dashboard/api/session");
    expect([anonymous.status, anonymous.body["code"]]).to.deep.equal([401, "SESSION_REQUIRED"]);
    const forged = await send("GET", "/dashboard/api/session", { headers: { cookie: `__Host-settlenet_session=sess_${"A".repeat(43)}` } });
    expect([forged.status, forged.body["code"]]).to.deep.equal([401, "SESSION_REQUIRED"]);
  });

  it("keeps the password hashed and the TOTP secret sealed at rest", async function () {
    const user = await gw.storage.users.byEmail("owner@a.example");
    const stored = JSON.stringify(user);
    expect(stored).to.not.include(PASSWORD_A);
    expect(stored).to.not.include(secrets["owner@a.example"]);
    expect(user?.password?.alg).to.equal("scrypt");
    expect(user?.totp).to.have.keys(["v", "iv", "tag", "data"]);
  });

  it("answers an unknown e-mail, a wrong password, a wrong code and a reused code alike", async function () {
    const unknown = await attempt("nobody@a.example", PASSWORD_A, "123456");
    const badPassword = await attempt("owner@a.example", "not the password");
    const wrongCode = totpCode(secrets["owner@a.example"] ?? "", clock.ms + 600_000);
    const badCode = await attempt("owner@a.example", PASSWORD_A, wrongCode);
    const used = await signIn("owner@a.example", PASSWORD_A);
    const reused = await send("POST", "/dashboard/api/session", { body: { email: "owner@a.example", password: PASSWORD_A, totp: totpCode(secrets["owner@a.example"] ?? "", clock.ms) } });
    for (const answer of [unknown, badPassword, badCode, reused]) {
      expect([answer.status, answer.body["code"], answer.body["title"]]).to.deep.equal([401, "SIGNIN_FAILED", unknown.body["title"]]);
      expect(answer.headers["set-cookie"]).to.equal(undefined);
    }
    expect(used.answer.status).to.equal(201);
    // The success in between reset the count: two more failures do not lock the account.
    expect((await gw.storage.users.byEmail("owner@a.example"))?.failures).to.equal(1);
    await signIn("owner@a.example", PASSWORD_A);
    expect((await gw.storage.users.byEmail("owner@a.example"))?.failures).to.equal(0);
  });

  it("accepts a code once when two sign-ins race with it", async function () {
    nextStep();
    const body = { email: "owner@a.example", password: PASSWORD_A, totp: totpCode(secrets["owner@a.example"] ?? "", clock.ms) };
    const answers = await Promise.all([send("POST", "/dashboard/api/session", { body }), send("POST", "/dashboard/api/session", { body })]);
    expect(answers.map((a) => a.status).sort()).to.deep.equal([201, 401]);
    await signIn("owner@a.example", PASSWORD_A);
  });

  it("locks an account after 3 failures in a row, refuses even the right credentials until the lock ends, and records it", async function () {
    for (let i = 0; i < 3; i += 1) expect((await attempt("owner@b.example", "wrong password!")).body["code"]).to.equal("SIGNIN_FAILED");
    const refused = await attempt("owner@b.example", PASSWORD_B);
    expect([refused.status, refused.body["code"]]).to.deep.equal([429, "SIGNIN_LOCKED"]);
    expect(refused.body["retryAfterSeconds"]).to.be.within(1, 600);
    expect(refused.headers["set-cookie"]).to.equal(undefined);
    const locked = await gw.storage.users.byEmail("owner@b.example");
    expect(locked?.lockedUntilMs).to.be.a("number");

    clock.ms = (locked?.lockedUntilMs ?? 0) + 1;
    await signIn("owner@b.example", PASSWORD_B);
    const entries = await auditEntries();
    const lockout = entries.filter((e) => e.action === "user.lockout");
    expect(lockout).to.have.length(1);
    expect(lockout[0]?.details).to.deep.include({ userId: locked?.id, failures: 3, reason: "password" });
    expect(entries.filter((e) => e.action === "session.signInRefused").map((e) => e.details?.["reason"])).to.deep.equal(["locked"]);
  });

  it("refuses a state-changing request that carries the session cookie without the session's CSRF token, changing nothing", async function () {
    const a = await signIn("owner@a.example", PASSWORD_A);
    const b = await signIn("owner@b.example", PASSWORD_B);
    const before = (await send("GET", "/v1/payments", { session: a })).body["items"] as unknown[];
    const withoutToken = await send("POST", "/v1/payments", { session: a, csrf: null, body: paymentBody(payer, "csrf-1"), headers: { "idempotency-key": "csrf-1" } });
    const othersToken = await send("POST", "/v1/payments", { session: a, csrf: b.csrf, body: paymentBody(payer, "csrf-1"), headers: { "idempotency-key": "csrf-1" } });
    const signOut = await send("DELETE", "/dashboard/api/session", { session: a, csrf: "x" });
    for (const answer of [withoutToken, othersToken, signOut]) expect([answer.status, answer.body["code"]]).to.deep.equal([403, "CSRF_TOKEN_INVALID"]);
    expect((await send("GET", "/v1/payments", { session: a })).body["items"]).to.have.length(before.length);
    expect((await send("GET", "/dashboard/api/session", { session: a })).status).to.equal(200);

    const created = await send("POST", "/v1/payments", { session: a, body: paymentBody(payer, "csrf-1"), headers: { "idempotency-key": "csrf-1" } });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
  });

  it("lets a session use /v1 as its user's merchant, and one merchant's user never reads another's payment, by URL or by listing", async function () {
    const a = await signIn("owner@a.example", PASSWORD_A);
    const b = await signIn("owner@b.example", PASSWORD_B);
    const bySession = await send("POST", "/v1/payments", { session: a, body: paymentBody(payer, "iso-1"), headers: { "idempotency-key": "iso-1" } });
    expect(bySession.status).to.equal(201);
    const byKey = await signed(shopA, "POST", "/v1/payments", paymentBody(payer, "iso-2"));
    expect(byKey.status).to.equal(201);

    // The API key and the session see the same merchant's payments.
    expect((await signed(shopA, "GET", `/v1/payments/${String(bySession.body["id"])}`)).status).to.equal(200);
    expect((await send("GET", `/v1/payments/${String(byKey.body["id"])}`, { session: a })).status).to.equal(200);

    for (const id of [bySession.body["id"], byKey.body["id"]]) {
      const byUrl = await send("GET", `/v1/payments/${String(id)}`, { session: b });
      expect([byUrl.status, byUrl.body["code"]]).to.deep.equal([404, "PAYMENT_NOT_FOUND"]);
      const refund = await send("POST", `/v1/payments/${String(id)}/cancel`, { session: b, body: {}, headers: { "idempotency-key": `x-${String(id)}` } });
      expect([refund.status, refund.body["code"]]).to.deep.equal([404, "PAYMENT_NOT_FOUND"]);
      expect((await signed(shopB, "GET", `/v1/payments/${String(id)}`)).status).to.equal(404);
    }
    const listB = (await send("GET", "/v1/payments?limit=100", { session: b })).body["items"] as { id: string }[];
    expect(listB.map((p) => p.id)).to.not.include.members([bySession.body["id"], byKey.body["id"]]);
    const listA = (await send("GET", "/v1/payments?limit=100", { session: a })).body["items"] as { id: string }[];
    expect(listA.map((p) => p.id)).to.include.members([bySession.body["id"], byKey.body["id"]]);
    // A signed request is the API key's, whatever cookie comes with it.
    const mixed = await signed(shopB, "GET", `/v1/payments/${String(bySession.body["id"])}`, undefined, { headers: { cookie: a.cookie } });
    expect(mixed.status).to.equal(404);
  });

  let operatorId = "";
  let viewer: Session;
  let operator: Session;

  it("lets an owner invite users with roles; the invitee sets a password and gets its TOTP enrolment once", async function () {
    const owner = await signIn("owner@a.example", PASSWORD_A);
    const invites: Record<string, string> = {};
    for (const [email, role] of [
      ["ops@a.example", "operator"],
      ["viewer@a.example", "read-only"],
    ] as const) {
      const invited = await send("POST", "/dashboard/api/users", { session: owner, body: { email, role } });
      expect(invited.status, JSON.stringify(invited.body)).to.equal(201);
      expect(invited.body["user"]).to.deep.include({ email, role, status: "invited", merchantId: shopA.id });
      invites[email] = String(invited.body["invitationToken"]);
      if (role === "operator") operatorId = String((invited.body["user"] as { id: string }).id);
    }
    const taken = await send("POST", "/dashboard/api/users", { session: owner, body: { email: "OWNER@b.example", role: "operator" } });
    expect([taken.status, taken.body["code"]]).to.deep.equal([409, "USER_EXISTS"]);

    // Not signed in: the invitee cannot sign in before accepting.
    expect((await attempt("ops@a.example", "whatever password", "000000")).body["code"]).to.equal("SIGNIN_FAILED");
    for (const email of ["ops@a.example", "viewer@a.example"]) {
      const accepted = await send("POST", "/dashboard/api/invitations/accept", { body: { token: invites[email], password: `${email} password` } });
      expect(accepted.status, JSON.stringify(accepted.body)).to.equal(201);
      const uri = new URL(String(accepted.body["otpauthUri"]));
      expect(uri.protocol).to.equal("otpauth:");
      secrets[email] = uri.searchParams.get("secret") ?? "";
      const again = await send("POST", "/dashboard/api/invitations/accept", { body: { token: invites[email], password: `${email} password` } });
      expect([again.status, again.body["code"]]).to.deep.equal([410, "INVITATION_INVALID"]);
    }
    operator = await signIn("ops@a.example", "ops@a.example password");
    viewer = await signIn("viewer@a.example", "viewer@a.example password");
    const users = (await send("GET", "/dashboard/api/users", { session: owner })).body["items"] as { email: string; role: string; status: string }[];
    expect(users.map((u) => [u.email, u.role, u.status]).sort()).to.deep.equal([
      ["ops@a.example", "operator", "active"],
      ["owner@a.example", "owner", "active"],
      ["viewer@a.example", "read-only", "active"],
    ]);
    expect(JSON.stringify(users)).to.not.match(/password|totp|salt/i);
  });

  it("keeps read-only users to reads, operators to payments, webhooks and events, and users and keys to owners", async function () {
    expect((await send("GET", "/v1/payments", { session: viewer })).status).to.equal(200);
    expect((await send("GET", "/v1/balance", { session: viewer })).status).to.not.equal(403);
    const viewerPost = await send("POST", "/v1/payments", { session: viewer, body: paymentBody(payer, "ro-1"), headers: { "idempotency-key": "ro-1" } });
    expect([viewerPost.status, viewerPost.body["code"]]).to.deep.equal([403, "ROLE_FORBIDDEN"]);

    const operatorPost = await send("POST", "/v1/payments", { session: operator, body: paymentBody(payer, "op-1"), headers: { "idempotency-key": "op-1" } });
    expect(operatorPost.status).to.equal(201);
    const payout = await send("POST", "/v1/payouts", { session: operator, body: { amount: "100", currency: "CNY", bankAccount: "6222000000000001" }, headers: { "idempotency-key": "op-po" } });
    expect([payout.status, payout.body["code"]]).to.deep.equal([403, "ROLE_FORBIDDEN"]);

    for (const session of [operator, viewer]) {
      for (const [method, url, body] of [
        ["GET", "/dashboard/api/users", undefined],
        ["POST", "/dashboard/api/users", { email: "x@a.example", role: "owner" }],
        ["GET", "/dashboard/api/keys", undefined],
        ["POST", "/dashboard/api/keys", {}],
      ] as const) {
        const answer = await send(method, url, { session, ...(body ? { body } : {}) });
        expect([answer.status, answer.body["code"]], `${method} ${url}`).to.deep.equal([403, "ROLE_FORBIDDEN"]);
      }
    }
    expect((await gw.storage.users.byEmail("x@a.example"))).to.equal(undefined);
  });

  it("applies a role change to live sessions at once, removes users with their sessions, and never leaves a merchant without an owner", async function () {
    const owner = await signIn("owner@a.example", PASSWORD_A);
    const viewerId = String(((await send("GET", "/dashboard/api/session", { session: viewer })).body["user"] as { id: string }).id);
    const promoted = await send("PATCH", `/dashboard/api/users/${viewerId}`, { session: owner, body: { role: "operator" } });
    expect([promoted.status, promoted.body["role"]]).to.deep.equal([200, "operator"]);
    expect((await send("POST", "/v1/payments", { session: viewer, body: paymentBody(payer, "ro-2"), headers: { "idempotency-key": "ro-2" } })).status).to.equal(201);

    const removed = await send("DELETE", `/dashboard/api/users/${operatorId}`, { session: owner });
    expect(removed.status).to.equal(200);
    const gone = await send("GET", "/v1/payments", { session: operator });
    expect([gone.status, gone.body["code"]]).to.deep.equal([401, "SESSION_REQUIRED"]);

    const ownerId = String(((owner as Session & { answer: Answer }).answer.body["user"] as { id: string }).id);
    const demote = await send("PATCH", `/dashboard/api/users/${ownerId}`, { session: owner, body: { role: "read-only" } });
    expect([demote.status, demote.body["code"]]).to.deep.equal([409, "LAST_OWNER"]);
    const removeSelf = await send("DELETE", `/dashboard/api/users/${ownerId}`, { session: owner });
    expect([removeSelf.status, removeSelf.body["code"]]).to.deep.equal([409, "LAST_OWNER"]);

    // Another merchant's user is not found, even by its id.
    const b = await signIn("owner@b.example", PASSWORD_B);
    const across = await send("PATCH", `/dashboard/api/users/${viewerId}`, { session: b, body: { role: "owner" } });
    expect([across.status, across.body["code"]]).to.deep.equal([404, "USER_NOT_FOUND"]);
    expect((await gw.storage.users.get(viewerId))?.role).to.equal("operator");
  });

  it("refuses an expired or unknown invitation token, leaving the invited user without a password", async function () {
    const owner = await signIn("owner@a.example", PASSWORD_A);
    const invited = await send("POST", "/dashboard/api/users", { session: owner, body: { email: "late@a.example", role: "operator" } });
    expect(Date.parse(String(invited.body["expiresAt"]))).to.equal(clock.ms + 72 * 3600_000);
    clock.ms += 72 * 3600_000;
    const late = await send("POST", "/dashboard/api/invitations/accept", { body: { token: invited.body["invitationToken"], password: "a late password" } });
    const unknown = await send("POST", "/dashboard/api/invitations/accept", { body: { token: `inv_${"b".repeat(43)}`, password: "a late password" } });
    for (const answer of [late, unknown]) expect([answer.status, answer.body["code"]]).to.deep.equal([410, "INVITATION_INVALID"]);
    const user = await gw.storage.users.byEmail("late@a.example");
    expect([user?.status, user?.password]).to.deep.equal(["invited", undefined]);
  });

  it("lets an owner create, rotate and revoke API keys online, for its own merchant only", async function () {
    const owner = await signIn("owner@a.example", PASSWORD_A);
    const created = await send("POST", "/dashboard/api/keys", { session: owner, body: {} });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const key = { keyId: String(created.body["keyId"]), secret: String(created.body["secret"]) };
    expect(created.body["merchantId"]).to.equal(shopA.id);
    expect((await signed(key, "GET", "/v1/payments")).status).to.equal(200);
    const listed = (await send("GET", "/dashboard/api/keys", { session: owner })).body["items"] as { keyId: string }[];
    expect(listed.map((k) => k.keyId)).to.include(key.keyId);
    expect(JSON.stringify(listed)).to.not.include(key.secret);

    const b = await signIn("owner@b.example", PASSWORD_B);
    const across = await send("POST", `/dashboard/api/keys/${key.keyId}/revoke`, { session: b });
    expect([across.status, across.body["code"]]).to.deep.equal([404, "KEY_NOT_FOUND"]);
    expect((await signed(key, "GET", "/v1/payments")).status).to.equal(200);

    const revoked = await send("POST", `/dashboard/api/keys/${key.keyId}/revoke`, { session: owner });
    expect(revoked.status).to.equal(200);
    expect((await signed(key, "GET", "/v1/payments")).body["code"]).to.equal("AUTH_KEY_REVOKED");

    const rotated = await send("POST", "/dashboard/api/keys/rotate", { session: owner, body: { overlapSeconds: 60 } });
    expect(rotated.status).to.equal(201);
    expect((rotated.body["retired"] as { keyId: string }[]).map((k) => k.keyId)).to.include(shopA.keyId);
  });

  it("refuses bad input with a coded error and changes nothing", async function () {
    const owner = await signIn("owner@a.example", PASSWORD_A);
    const users = async () => JSON.stringify(await gw.storage.users.listByMerchant(shopA.id));
    const head = async () => (await gw.storage.audit.head()).seq;
    const before = [await users(), await head()];
    const cases: [string, Answer][] = [
      ["sign-in with an extra field", await send("POST", "/dashboard/api/session", { body: { email: "owner@a.example", password: PASSWORD_A, totp: "123456", remember: true } })],
      ["sign-in with a 5-digit code", await send("POST", "/dashboard/api/session", { body: { email: "owner@a.example", password: PASSWORD_A, totp: "12345" } })],
      ["invite with an unknown role", await send("POST", "/dashboard/api/users", { session: owner, body: { email: "new@a.example", role: "admin" } })],
      ["invite without an e-mail", await send("POST", "/dashboard/api/users", { session: owner, body: { email: "not an address", role: "operator" } })],
      ["role change with a malformed id", await send("PATCH", "/dashboard/api/users/usr_zz", { session: owner, body: { role: "owner" } })],
      ["accept with a short password", await send("POST", "/dashboard/api/invitations/accept", { body: { token: `inv_${"a".repeat(43)}`, password: "short" } })],
      ["key rotation with a negative overlap", await send("POST", "/dashboard/api/keys/rotate", { session: owner, body: { overlapSeconds: -1 } })],
    ];
    for (const [what, answer] of cases) expect([answer.status, answer.body["code"]], what).to.deep.equal([400, "MALFORMED"]);
    const unknownUser = await send("PATCH", `/dashboard/api/users/usr_${"0".repeat(24)}`, { session: owner, body: { role: "owner" } });
    expect([unknownUser.status, unknownUser.body["code"]]).to.deep.equal([404, "USER_NOT_FOUND"]);
    expect([await users(), await head()]).to.deep.equal(before);
  });

  it("ends a session at sign-out (clearing the cookie), when idle too long, and at its absolute expiry", async function () {
    const session = await signIn("owner@a.example", PASSWORD_A);
    const out = await send("DELETE", "/dashboard/api/session", { session });
    expect(out.status).to.equal(204);
    expect(String(out.headers["set-cookie"])).to.match(/^__Host-settlenet_session=; .*Max-Age=0/);
    expect((await send("GET", "/dashboard/api/session", { session })).body["code"]).to.equal("SESSION_REQUIRED");

    const idle = await signIn("owner@a.example", PASSWORD_A);
    clock.ms += 899_000;
    expect((await send("GET", "/dashboard/api/session", { session: idle })).status).to.equal(200);
    clock.ms += 900_000;
    expect((await send("GET", "/v1/payments", { session: idle })).body["code"]).to.equal("SESSION_REQUIRED");

    const busy = await signIn("owner@a.example", PASSWORD_A);
    for (let i = 0; i < 8; i += 1) {
      clock.ms += 800_000;
      expect((await send("GET", "/dashboard/api/session", { session: busy })).status, `after ${i + 1} × 800 s`).to.equal(200);
    }
    clock.ms += 800_000;
    expect((await send("GET", "/dashboard/api/session", { session: busy })).body["code"]).to.equal("SESSION_REQUIRED");
  });

  it("records every sign-in, failure, lock-out, invitation, role change, removal and key action in the audit chain, without a secret", async function () {
    const entries = await auditEntries();
    const actions = new Set(entries.map((e) => e.action));
    for (const action of [
      "user.createOwner",
      "session.signIn",
      "session.signInFailed",
      "user.lockout",
      "session.signInRefused",
      "user.invite",
      "user.invitationAccept",
      "user.roleChange",
      "user.remove",
      "session.signOut",
      "apiKey.create",
      "apiKey.revoke",
      "apiKey.rotate",
    ]) {
      expect(actions, action).to.include(action);
    }
    const ownerA = await gw.storage.users.byEmail("owner@a.example");
    const keyActions = entries.filter((e) => e.action.startsWith("apiKey.") && e.actor.startsWith("user:"));
    expect(keyActions.map((e) => [e.actor, e.role, e.action])).to.deep.equal([
      [`user:${ownerA?.id}`, "owner", "apiKey.create"],
      [`user:${ownerA?.id}`, "owner", "apiKey.revoke"],
      [`user:${ownerA?.id}`, "owner", "apiKey.rotate"],
    ]);
    expect((await gw.storage.audit.verify()).ok).to.equal(true);
    const text = JSON.stringify(entries);
    for (const secret of [PASSWORD_A, PASSWORD_B, ...Object.values(secrets), "sess_", "inv_", "sk_"]) expect(text).to.not.include(secret);
  });

  it("refuses a suspended merchant's sessions at once, and admits them again on reactivation", async function () {
    const b = await signIn("owner@b.example", PASSWORD_B);
    await setMerchantStatus(shopB.id, "suspended", { storage: gw.storage, secrets: gw.secrets });
    try {
      const refused = await send("GET", "/v1/payments", { session: b });
      expect([refused.status, refused.body["code"]]).to.deep.equal([403, "MERCHANT_SUSPENDED"]);
      expect((await send("GET", "/dashboard/api/session", { session: b })).body["code"]).to.equal("MERCHANT_SUSPENDED");
    } finally {
      await setMerchantStatus(shopB.id, "active", { storage: gw.storage, secrets: gw.secrets });
    }
    expect((await send("GET", "/v1/payments", { session: b })).status).to.equal(200);
  });

  it("limits sign-in attempts per client address before any password is checked", async function () {
    const limited = await gatewayFixture({ scenario, app: { signInRateLimit: { max: 2, timeWindowMs: 60_000 } } });
    try {
      const body = { email: "nobody@a.example", password: "irrelevant password", totp: "000000" };
      const answers = [];
      for (let i = 0; i < 3; i += 1) answers.push(await limited.app.inject({ method: "POST", url: "/dashboard/api/session", payload: body }));
      expect(answers.map((a) => a.statusCode)).to.deep.equal([401, 401, 429]);
      expect(answers[2]?.json()).to.deep.include({ code: "RATE_LIMITED" });
      const failures = (await limited.storage.audit.list({ limit: 1000 })).entries.filter((e) => e.action === "session.signInFailed");
      expect(failures).to.have.length(2);
    } finally {
      await limited.close();
    }
  });
});

/**
 * Dashboard users, their sessions and invitations (key layouts: keyspaces.ts), over the shared user
 * repository (core/auth/store.ts); what is the gateway's own is the merchant index (a merchant
 * exists and keeps an owner) and invitations. The checks a change depends on are made inside the
 * change's write section, so two requests racing cannot both pass them.
 */
import type { AuditAction, AuditLog } from "../../core/audit/log.js";
import { LevelUserStore, type UserChange as StoreChange } from "../../core/auth/store.js";
import { SettlenetError } from "../../core/errors.js";
import type { InvitationRecord, SessionRecord, UserRecord } from "../domain/records.js";
import { SEP, prefixRange, type StorageContext, type WriteOp } from "./keyspaces.js";

/** What a change to a user writes (LevelUserRepository.change). */
export type UserChange<T> = StoreChange<UserRecord, T>;

export class LevelUserRepository extends LevelUserStore<UserRecord, SessionRecord> {
  constructor(
    private readonly gateway: StorageContext,
    audit: AuditLog,
  ) {
    const { users, usersByEmail, sessions, sessionsByUser } = gateway.spaces;
    super(gateway, { users, usersByEmail, sessions, sessionsByUser }, audit, { user: (v) => v as UserRecord, session: (v) => v as SessionRecord });
  }

  listByMerchant(merchantId: string): Promise<UserRecord[]> {
    return this.ctx.read(() => this.ofMerchant(merchantId));
  }

  private async ofMerchant(merchantId: string): Promise<UserRecord[]> {
    const keys = await this.gateway.spaces.usersByMerchant.keys(prefixRange(`${merchantId}${SEP}`)).all();
    const users = (await this.gateway.spaces.users.getMany(keys.map((k) => k.slice(merchantId.length + 1)))) as (UserRecord | undefined)[];
    return users.filter((u): u is UserRecord => u !== undefined);
  }

  /** Adds a user (with its invitation, if any); USER_EXISTS if the e-mail is taken. */
  async create(user: UserRecord, invitation: { hash: string; record: InvitationRecord } | undefined, audit: AuditAction): Promise<void> {
    const { usersByMerchant, merchants, invitations, invitationsByUser } = this.gateway.spaces;
    await this.insert(
      user,
      [
        { type: "put", sublevel: usersByMerchant, key: `${user.merchantId}${SEP}${user.id}`, value: "" },
        ...(invitation
          ? ([
              { type: "put", sublevel: invitations, key: invitation.hash, value: invitation.record },
              { type: "put", sublevel: invitationsByUser, key: user.id, value: invitation.hash },
            ] as WriteOp[])
          : []),
      ],
      audit,
      () => new SettlenetError("USER_EXISTS", "a user with this e-mail address already exists", {}),
      async () => {
        if (!(await merchants.has(user.merchantId))) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${user.merchantId}`, { merchantId: user.merchantId });
      },
    );
  }

  getInvitation(hash: string): Promise<InvitationRecord | undefined> {
    return this.ctx.read(() => this.invitation(hash));
  }

  /** The invitation a token hash names (inside a write section). */
  async invitation(hash: string): Promise<InvitationRecord | undefined> {
    return (await this.gateway.spaces.invitations.get(hash)) as InvitationRecord | undefined;
  }

  /** The deletes of a user's pending invitation (inside a write section). */
  async invitationDeletes(userId: string): Promise<WriteOp[]> {
    const { invitations, invitationsByUser } = this.gateway.spaces;
    const hash = (await invitationsByUser.get(userId)) as string | undefined;
    if (hash === undefined) return [];
    return [
      { type: "del", sublevel: invitations, key: hash },
      { type: "del", sublevel: invitationsByUser, key: userId },
    ];
  }

  /** The deletes that remove a user and its indexes (inside a write section). */
  override removalWrites(user: UserRecord): WriteOp[] {
    return [...super.removalWrites(user), { type: "del", sublevel: this.gateway.spaces.usersByMerchant, key: `${user.merchantId}${SEP}${user.id}` }];
  }

  /** Active owners of a merchant other than `exceptUserId` (inside a write section). */
  async otherActiveOwners(merchantId: string, exceptUserId: string): Promise<number> {
    return (await this.ofMerchant(merchantId)).filter((u) => u.id !== exceptUserId && u.role === "owner" && u.status === "active").length;
  }
}

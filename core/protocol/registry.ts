/** ParticipantRegistry's enums as TypeScript sees them (by enum index), for every reader of the registry. */

/** IParticipantRegistry.AccountKind, by enum index. */
export const ACCOUNT_KINDS = ["none", "institution", "merchant", "customer", "protocol"] as const;
export type AccountKindName = (typeof ACCOUNT_KINDS)[number];

/** IParticipantRegistry.AccountStatus, by enum index. */
export const ACCOUNT_STATUSES = ["none", "active", "suspended"] as const;
export type AccountStatusName = (typeof ACCOUNT_STATUSES)[number];

/** IParticipantRegistry.AccountStatus.Active as the contract returns it. */
export const STATUS_ACTIVE = BigInt(ACCOUNT_STATUSES.indexOf("active"));

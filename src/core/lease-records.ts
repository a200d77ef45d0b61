/**
 * The operator's persisted record of its tenants' leases: each TenantQuota's status keeps the billing
 * state of every lease of the tenant not yet in its ledger (`ledger.liveLeases`). A lease can vanish
 * without its finalizer (stripped and deleted at once); the operator that sees it go folds it into the
 * ledger from its in-memory record. This one covers what memory cannot: a restart before that fold was
 * written, and a lease that vanished while no operator ran. Such a lease is billed up to the last usage
 * the operator recorded for it (at most one metering interval short). Pure.
 */
import type { GpuLeaseStatus, TenantQuotaStatus } from "../api/index.ts";
import { type LeaseView, leaseKey, type QuotaView } from "./model.ts";

export type LeaseRecord = NonNullable<NonNullable<TenantQuotaStatus["ledger"]>["liveLeases"]>[number];

/** Most records a ledger holds (the CRD's maxItems); a tenant's leases beyond it go unrecorded. */
export const MAX_LEASE_RECORDS = 10_000;

/** A lease's billing state under the status this plan gives it. */
export function leaseRecord(
  lease: Pick<LeaseView, "uid" | "namespace" | "name">,
  status: GpuLeaseStatus,
): LeaseRecord {
  const perGpuHour = status.pricing?.perGpuHour;
  return {
    uid: lease.uid,
    lease: leaseKey(lease),
    gpuSeconds: status.usage?.gpuSeconds ?? 0,
    ...(perGpuHour !== undefined ? { perGpuHour } : {}),
    ...(status.endReason === "Reclaimed" ? { reclaimed: true } : {}),
  };
}

/** What the operator knows exists or is already accounted for. */
export interface KnownLeases {
  /** UIDs of the leases in the cache and of those the operator saw vanish (in memory). */
  uids: { has(uid: string): boolean };
  /** `namespace/name` of leases in the cache the parser refuses: they exist, so they have not vanished. */
  unreadable: ReadonlySet<string>;
  /** UIDs already in the tenant's ledger. */
  folded: ReadonlySet<string>;
}

/** Records of the quota whose lease is gone without the operator having seen it go. */
export function unwatchedVanished(quota: QuotaView, known: KnownLeases): LeaseRecord[] {
  return (quota.status.ledger?.liveLeases ?? []).filter(
    (record) =>
      !known.uids.has(record.uid) && !known.unreadable.has(record.lease) && !known.folded.has(record.uid),
  );
}

/** The final status a recorded lease is folded into the ledger with: its usage as last recorded. */
export function recordedStatus(record: LeaseRecord, currency: string | undefined): GpuLeaseStatus {
  return {
    phase: "Ended",
    endReason: record.reclaimed ? "Reclaimed" : "Released",
    usage: { gpuSeconds: record.gpuSeconds },
    ...(record.perGpuHour !== undefined
      ? { pricing: { perGpuHour: record.perGpuHour, ...(currency !== undefined ? { currency } : {}) } }
      : {}),
  };
}

/** `namespace` and `name` of a recorded lease (its key is `namespace/name`). */
export function recordedLease(record: LeaseRecord): { uid: string; namespace: string; name: string } {
  const slash = record.lease.indexOf("/");
  return { uid: record.uid, namespace: record.lease.slice(0, slash), name: record.lease.slice(slash + 1) };
}

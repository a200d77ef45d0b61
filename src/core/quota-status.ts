/**
 * A tenant's status: its namespaces, what it holds, and its cumulative usage (ledger of deleted leases
 * plus the leases that still exist). Pure.
 */
import type { GpuLeaseStatus, TenantQuotaStatus } from "../api/index.ts";
import { allocatedGpus, holdsAllocation } from "./accounting.ts";
import { setCondition } from "./conditions.ts";
import { type LeaseRecord, leaseRecord, MAX_LEASE_RECORDS } from "./lease-records.ts";
import { chargeMicros, formatGpuHours, formatMoney, parseMoneyMicros } from "./metering.ts";
import type { ClusterSnapshot, LeaseView, QuotaView } from "./model.ts";

/**
 * Most lease UIDs a ledger holds at once (the CRD's maxItems). A UID stays while its lease object still
 * exists, so the lease can never be folded twice; past this many, further deleted leases wait (their
 * finalizer holds them) until folded leases are gone and their UIDs pruned.
 */
export const MAX_FOLDED_UIDS = 10_000;

/** UIDs of deleted leases already in the ledger (recentUids: the field's name before foldedUids). */
export function foldedUids(quota: QuotaView): Set<string> {
  const ledger = quota.status.ledger;
  return new Set([...(ledger?.foldedUids ?? []), ...(ledger?.recentUids ?? [])]);
}

export interface RetiringLease {
  /** The lease, or the operator's record of it when the object is gone. */
  lease: Pick<LeaseView, "uid" | "namespace" | "name">;
  status: GpuLeaseStatus;
}

function leaseCharge(status: GpuLeaseStatus): bigint {
  return chargeMicros(status.usage?.gpuSeconds ?? 0, parseMoneyMicros(status.pricing?.perGpuHour));
}

/**
 * `leaseStatuses` are the statuses this plan gives the tenant's leases; `retiring` are deleted leases
 * whose usage must be folded into the ledger before their finalizer goes; `liveUids` are the UIDs of
 * every lease that still exists; `carried` are records kept as they are (their lease exists but cannot
 * be read now).
 *
 * Folding is idempotent by construction: a lease is folded only if its UID is not in the ledger, and
 * its UID leaves the ledger only once the lease object is gone (its finalizer went after the fold was
 * written), so no retry, restart or deletion rate can fold one twice.
 */
export function planQuotaStatus(
  snapshot: ClusterSnapshot,
  quota: QuotaView,
  leases: { lease: LeaseView; status: GpuLeaseStatus }[],
  retiring: RetiringLease[],
  liveUids: { has(uid: string): boolean },
  carried: readonly LeaseRecord[] = [],
): TenantQuotaStatus {
  const previous = foldedUids(quota);
  const folded = [...previous].filter((uid) => liveUids.has(uid));
  const ledger = {
    retiredLeases: quota.status.ledger?.retiredLeases ?? 0,
    gpuSeconds: quota.status.ledger?.gpuSeconds ?? 0,
    reclaimedGpuSeconds: quota.status.ledger?.reclaimedGpuSeconds ?? 0,
    chargeMicros: quota.status.ledger?.chargeMicros ?? "0",
    foldedUids: folded,
  };
  let ledgerCharge = BigInt(ledger.chargeMicros);
  for (const { lease, status } of retiring) {
    if (previous.has(lease.uid)) continue;
    if (ledger.foldedUids.length >= MAX_FOLDED_UIDS) break; // the rest wait for room
    const gpuSeconds = status.usage?.gpuSeconds ?? 0;
    ledger.retiredLeases += 1;
    ledger.gpuSeconds += gpuSeconds;
    if (status.endReason === "Reclaimed") ledger.reclaimedGpuSeconds += gpuSeconds;
    ledgerCharge += leaseCharge(status);
    ledger.foldedUids.push(lease.uid);
  }
  ledger.chargeMicros = ledgerCharge.toString();
  const inLedger = new Set(ledger.foldedUids);

  let gpus = 0;
  let reservedGpus = 0;
  let activeLeases = 0;
  let pendingLeases = 0;
  let gpuSeconds = ledger.gpuSeconds;
  let reclaimedGpuSeconds = ledger.reclaimedGpuSeconds;
  let charges = ledgerCharge;
  for (const { lease, status } of leases) {
    if (inLedger.has(lease.uid)) continue; // already in the ledger
    const view = { ...lease, status };
    if (holdsAllocation(view)) {
      gpus += allocatedGpus(view);
      if (lease.spec.class === "Reserved") reservedGpus += allocatedGpus(view);
      activeLeases += 1;
    } else if (status.phase === "Pending" || status.phase === undefined) {
      pendingLeases += 1;
    }
    const used = status.usage?.gpuSeconds ?? 0;
    gpuSeconds += used;
    if (status.endReason === "Reclaimed") reclaimedGpuSeconds += used;
    charges += leaseCharge(status);
  }
  // The record of every lease not in the ledger, from the statuses this plan gives them: what a
  // restarted operator bills a lease by if it finds the lease gone.
  const records: LeaseRecord[] = [];
  const recorded = new Set<string>();
  const record = (entry: LeaseRecord) => {
    if (recorded.has(entry.uid) || inLedger.has(entry.uid) || records.length >= MAX_LEASE_RECORDS) return;
    recorded.add(entry.uid);
    records.push(entry);
  };
  for (const { lease, status } of leases) if (status.phase !== undefined) record(leaseRecord(lease, status));
  for (const { lease, status } of retiring) record(leaseRecord(lease, status)); // waiting for room
  for (const entry of carried) record(entry);
  const namespaces = snapshot.namespaces
    .filter((ns) => ns.tenant === quota.name)
    .map((ns) => ns.name)
    .sort();
  const conditions = setCondition(
    quota.status.conditions,
    namespaces.length === 0
      ? {
          type: "Ready",
          status: "False",
          reason: "NoNamespaces",
          message: `no namespace is labelled gpulease.io/tenant=${quota.name}, so the tenant cannot create leases`,
        }
      : {
          type: "Ready",
          status: "True",
          reason: "Active",
          message: `${namespaces.length} namespace(s) belong to the tenant`,
        },
    snapshot.now,
    quota.generation,
  );
  return {
    observedGeneration: quota.generation,
    conditions,
    namespaces,
    allocated: { gpus, reservedGpus, activeLeases, pendingLeases },
    usage: {
      gpuHours: formatGpuHours(gpuSeconds),
      reclaimedGpuHours: formatGpuHours(reclaimedGpuSeconds),
      charges: formatMoney(charges),
      currency: quota.spec.pricing.currency,
    },
    ledger: records.length > 0 ? { ...ledger, liveLeases: records } : ledger,
  };
}

/**
 * A tenant's status: its namespaces, what it holds, and its cumulative usage (ledger of deleted leases
 * plus the leases that still exist). Pure.
 */
import type { GpuLeaseStatus, TenantQuotaStatus } from "../api/index.ts";
import { allocatedGpus, holdsAllocation } from "./accounting.ts";
import { setCondition } from "./conditions.ts";
import { chargeMicros, formatGpuHours, formatMoney, parseMoneyMicros } from "./metering.ts";
import type { ClusterSnapshot, LeaseView, QuotaView } from "./model.ts";

const RECENT_UIDS = 500;

export interface RetiringLease {
  lease: LeaseView;
  status: GpuLeaseStatus;
}

function leaseCharge(status: GpuLeaseStatus): bigint {
  return chargeMicros(status.usage?.gpuSeconds ?? 0, parseMoneyMicros(status.pricing?.perGpuHour));
}

/**
 * `leaseStatuses` are the statuses this plan gives the tenant's leases; `retiring` are deleted leases
 * whose usage must be folded into the ledger before their finalizer goes.
 */
export function planQuotaStatus(
  snapshot: ClusterSnapshot,
  quota: QuotaView,
  leases: { lease: LeaseView; status: GpuLeaseStatus }[],
  retiring: RetiringLease[],
): TenantQuotaStatus {
  const ledger = {
    retiredLeases: quota.status.ledger?.retiredLeases ?? 0,
    gpuSeconds: quota.status.ledger?.gpuSeconds ?? 0,
    reclaimedGpuSeconds: quota.status.ledger?.reclaimedGpuSeconds ?? 0,
    chargeMicros: quota.status.ledger?.chargeMicros ?? "0",
    recentUids: [...(quota.status.ledger?.recentUids ?? [])],
  };
  let ledgerCharge = BigInt(ledger.chargeMicros);
  for (const { lease, status } of retiring) {
    if (ledger.recentUids.includes(lease.uid)) continue;
    const gpuSeconds = status.usage?.gpuSeconds ?? 0;
    ledger.retiredLeases += 1;
    ledger.gpuSeconds += gpuSeconds;
    if (status.endReason === "Reclaimed") ledger.reclaimedGpuSeconds += gpuSeconds;
    ledgerCharge += leaseCharge(status);
    ledger.recentUids.push(lease.uid);
  }
  ledger.recentUids = ledger.recentUids.slice(-RECENT_UIDS);
  ledger.chargeMicros = ledgerCharge.toString();

  let gpus = 0;
  let reservedGpus = 0;
  let activeLeases = 0;
  let pendingLeases = 0;
  let gpuSeconds = ledger.gpuSeconds;
  let reclaimedGpuSeconds = ledger.reclaimedGpuSeconds;
  let charges = ledgerCharge;
  for (const { lease, status } of leases) {
    if (ledger.recentUids.includes(lease.uid)) continue; // already in the ledger
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
    ledger,
  };
}

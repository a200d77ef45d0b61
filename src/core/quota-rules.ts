/** How a lease is matched to its tenant's quota, and what that quota allows. Pure. */
import type { QuotaLimit } from "../api/index.ts";
import { allocatedGpus, holdsAllocation } from "./accounting.ts";
import type { LeaseView, QuotaView } from "./model.ts";

/** The limit a lease counts against: the one for its model, else the one for any model. */
export function matchLimit(quota: QuotaView, lease: LeaseView): QuotaLimit | undefined {
  // A loop, not filter and find: admission calls this for every waiting lease of every pass.
  const { resourceName, gpuModel } = lease.spec;
  let anyModel: QuotaLimit | undefined;
  for (const limit of quota.spec.limits) {
    if (limit.resourceName !== resourceName) continue;
    if (gpuModel !== undefined && limit.gpuModel === gpuModel) return limit;
    if (limit.gpuModel === undefined && anyModel === undefined) anyModel = limit;
  }
  return anyModel;
}

export function limitKey(limit: QuotaLimit): string {
  return `${limit.resourceName}|${limit.gpuModel ?? "*"}`;
}

export interface TenantUsage {
  /** GPUs held per limit key by the tenant's Active and Reclaiming leases. */
  byLimit: Map<string, { gpus: number; reservedGpus: number }>;
  totalGpus: number;
}

export function usageOf(quota: QuotaView, leases: LeaseView[]): TenantUsage {
  const byLimit = new Map<string, { gpus: number; reservedGpus: number }>();
  let totalGpus = 0;
  for (const lease of leases) {
    if (!holdsAllocation(lease)) continue;
    const limit = matchLimit(quota, lease);
    if (!limit) continue;
    const key = limitKey(limit);
    const entry = byLimit.get(key) ?? { gpus: 0, reservedGpus: 0 };
    const gpus = allocatedGpus(lease);
    entry.gpus += gpus;
    if (lease.spec.class === "Reserved") entry.reservedGpus += gpus;
    byLimit.set(key, entry);
    totalGpus += gpus;
  }
  return { byLimit, totalGpus };
}

/** Share of its quota a tenant uses now, for the fair queue (0 when it has no quota at all). */
export function tenantShare(quota: QuotaView, usage: TenantUsage): number {
  const max = quota.spec.limits.reduce((sum, l) => sum + l.maxGpus, 0);
  return max === 0 ? 1 : usage.totalGpus / max;
}

export type Refusal = { reason: string; message: string };

/** Why the lease can never be admitted under this quota, or undefined when it could be. */
export function neverAdmissible(quota: QuotaView, lease: LeaseView): Refusal | undefined {
  const limit = matchLimit(quota, lease);
  if (!limit) {
    const offered = quota.spec.limits
      .map((l) => `${l.resourceName}${l.gpuModel ? ` (${l.gpuModel})` : " (any model)"}`)
      .join(", ");
    return {
      reason: "NoMatchingLimit",
      message: `tenant ${quota.name} may lease only ${offered}; this lease asks for ${lease.spec.resourceName}${
        lease.spec.gpuModel ? ` (${lease.spec.gpuModel})` : " of any model: set spec.gpuModel"
      }`,
    };
  }
  if (lease.spec.gpus > limit.maxGpus) {
    return {
      reason: "ExceedsQuota",
      message: `the lease asks for ${lease.spec.gpus} GPUs but tenant ${quota.name} may hold at most ${limit.maxGpus}`,
    };
  }
  if (lease.spec.class === "Reserved" && lease.spec.gpus > (limit.maxReservedGpus ?? 0)) {
    return {
      reason: "ExceedsReservedQuota",
      message: `the lease asks for ${lease.spec.gpus} Reserved GPUs but tenant ${quota.name} may hold at most ${
        limit.maxReservedGpus ?? 0
      } Reserved GPUs`,
    };
  }
  const max = quota.spec.maxLeaseDurationMs;
  const asked = lease.spec.durationMs;
  if (max !== undefined && asked !== undefined && asked > max) {
    return {
      reason: "ExceedsMaxLeaseDuration",
      message: `the lease asks for ${lease.spec.duration} but tenant ${quota.name} may lease for at most ${quota.spec.maxLeaseDuration}`,
    };
  }
  return undefined;
}

/** Why the lease must wait for quota now, or undefined when the quota has room. */
export function quotaBlocks(quota: QuotaView, lease: LeaseView, usage: TenantUsage): Refusal | undefined {
  if (quota.spec.suspend) {
    return {
      reason: "TenantSuspended",
      message: `tenant ${quota.name} is suspended: no new lease is admitted`,
    };
  }
  const limit = matchLimit(quota, lease);
  if (!limit) return undefined;
  const used = usage.byLimit.get(limitKey(limit)) ?? { gpus: 0, reservedGpus: 0 };
  if (used.gpus + lease.spec.gpus > limit.maxGpus) {
    return {
      reason: "QuotaExceeded",
      message: `tenant ${quota.name} holds ${used.gpus} of ${limit.maxGpus} GPUs; this lease needs ${lease.spec.gpus} more`,
    };
  }
  if (lease.spec.class === "Reserved" && used.reservedGpus + lease.spec.gpus > (limit.maxReservedGpus ?? 0)) {
    return {
      reason: "QuotaExceeded",
      message: `tenant ${quota.name} holds ${used.reservedGpus} of ${limit.maxReservedGpus ?? 0} Reserved GPUs; this lease needs ${lease.spec.gpus} more`,
    };
  }
  return undefined;
}

/** The lease's effective duration: its own, capped by (or defaulted to) the tenant's maximum. */
export function effectiveDurationMs(quota: QuotaView | undefined, lease: LeaseView): number | undefined {
  const own = lease.spec.durationMs;
  const max = quota?.spec.maxLeaseDurationMs;
  if (own === undefined) return max;
  if (max === undefined) return own;
  return Math.min(own, max);
}

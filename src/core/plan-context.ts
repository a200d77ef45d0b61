/** What every step of a plan reads: the snapshot and the indexes built once from it. */
import { accountNodes, type NodeAccount, tenantNamespaces } from "./accounting.ts";
import { inBindBackoff } from "./bind-order.ts";
import { type LeaseLookup, leaseLookup } from "./lease-index.ts";
import type { ClusterSnapshot, PodView, QuotaView } from "./model.ts";

export interface PlanContext {
  snapshot: ClusterSnapshot;
  /** Node accounting; reclaims mark nodes Returning and admissions book GPUs as the plan goes. */
  accounts: Map<string, NodeAccount>;
  /** Tenant of each tenant namespace. */
  owners: Map<string, string>;
  /** The quota of the tenant that owns a namespace, if any. */
  quotaOf: (namespace: string) => QuotaView | undefined;
  /** Leases by key and the UIDs that still exist. */
  leases: LeaseLookup;
}

/** `leases`: a lookup kept by the caller (the incremental planner); built here otherwise. */
export function planContext(snapshot: ClusterSnapshot, leases?: LeaseLookup): PlanContext {
  const owners = tenantNamespaces(snapshot);
  const quotas = new Map(snapshot.quotas.map((q) => [q.name, q]));
  return {
    snapshot,
    accounts: accountNodes(snapshot),
    owners,
    quotaOf: (namespace) => {
      const tenant = owners.get(namespace);
      return tenant === undefined ? undefined : quotas.get(tenant);
    },
    leases: leases ?? leaseLookup(snapshot),
  };
}

/**
 * Tenant pods by the lease their label names (`namespace/lease`), whether or not that lease exists.
 * A gated pod waiting out a refused bind's backoff is left out: it is neither bound nor told again.
 */
export function groupPodsByLease(ctx: PlanContext): Map<string, PodView[]> {
  const podsByLease = new Map<string, PodView[]>();
  const { bindBackoff, now } = ctx.snapshot;
  for (const pod of ctx.snapshot.pods) {
    if (pod.lease === undefined || !ctx.owners.has(pod.namespace)) continue;
    if (inBindBackoff(pod, bindBackoff, now)) continue;
    const key = `${pod.namespace}/${pod.lease}`;
    const list = podsByLease.get(key) ?? [];
    list.push(pod);
    podsByLease.set(key, list);
  }
  return podsByLease;
}

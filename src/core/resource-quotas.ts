/**
 * The ResourceQuota and LimitRange each tenant namespace gets. The quota caps what the namespace's
 * Active leases hold: `requests.<gpu resource>` their GPUs, and `requests.cpu`, `requests.memory` and
 * `pods` their shares of their nodes (lease-share.ts), so no pod beyond a lease is even admitted. With
 * no Active lease every cap is 0, GPU-less pods included: a tenant's pods are created once its lease is
 * Active. Kubernetes counts gated pods against the quota too, so the caps are what the leases may hold
 * at once, gated or bound. The LimitRange gives a container without CPU or memory requests small
 * defaults: a quota on `requests.cpu` refuses any pod it cannot count. Pure.
 */
import type { GpuLeaseStatus } from "../api/index.ts";
import { holdsAllocation } from "./accounting.ts";
import { leaseShareOf } from "./lease-share.ts";
import type { ClusterSnapshot, LeaseView, NodeView } from "./model.ts";

export const RESOURCE_QUOTA_NAME = "gpulease";
export const LIMIT_RANGE_NAME = "gpulease";

export const QUOTA_CPU = "requests.cpu";
export const QUOTA_MEMORY = "requests.memory";
export const QUOTA_PODS = "pods";

/** Requests given to a container that states none (the LimitRange's defaultRequest). */
export const DEFAULT_CONTAINER_REQUESTS: Readonly<Record<string, string>> = {
  cpu: "100m",
  memory: "128Mi",
};

export interface DesiredResourceQuota {
  namespace: string;
  /** Limits in the operator's own notation: whole numbers of base units, CPU in millicores ("1500m"). */
  hard: Record<string, string>;
}

export interface DesiredLimitRange {
  namespace: string;
  defaultRequest: Record<string, string>;
}

/** A limit as written: CPU in millicores, everything else in whole base units. */
export function formatQuotaAmount(key: string, amount: number): string {
  return key === QUOTA_CPU ? `${amount}m` : String(amount);
}

/** A limit in the operator's own notation, as a number of base units (millicores for CPU). */
export function parseQuotaAmount(key: string, text: string): number {
  return Number(key === QUOTA_CPU ? text.replace(/m$/, "") : text);
}

/**
 * What one lease status holds against its namespace's quota, in base units: its GPUs, and its share
 * of each node it is allocated (CPU, memory and pods in proportion to its GPUs there). Nothing unless
 * the status is Active or Reclaiming.
 */
export function leaseQuotaUsage(
  lease: Pick<LeaseView, "spec">,
  status: GpuLeaseStatus,
  nodes: ReadonlyMap<string, NodeView>,
): Record<string, number> {
  if (status.phase !== "Active" && status.phase !== "Reclaiming") return {};
  let gpus = 0;
  let cpuMillis = 0;
  let memoryBytes = 0;
  let pods = 0;
  for (const allocation of status.allocations ?? []) {
    gpus += allocation.gpus;
    const node = nodes.get(allocation.node);
    if (!node || allocation.gpus <= 0) continue;
    const share = leaseShareOf(node, lease.spec.resourceName, allocation.gpus);
    cpuMillis += share.cpuMillis;
    memoryBytes += share.memoryBytes;
    pods += share.pods;
  }
  return {
    [`requests.${lease.spec.resourceName}`]: gpus,
    [QUOTA_CPU]: cpuMillis,
    [QUOTA_MEMORY]: memoryBytes,
    [QUOTA_PODS]: pods,
  };
}

/** Keys every tenant namespace's quota carries, 0 until a lease is Active. */
function zeroLimits(resourceNames: readonly string[]): Record<string, number> {
  return {
    ...Object.fromEntries(resourceNames.map((r) => [`requests.${r}`, 0])),
    [QUOTA_CPU]: 0,
    [QUOTA_MEMORY]: 0,
    [QUOTA_PODS]: 0,
  };
}

/** Namespaces the operator keeps a quota and a LimitRange in: every tenant namespace not being deleted. */
function tenantNamespaces(snapshot: ClusterSnapshot): string[] {
  // A namespace being deleted takes its objects with it; creating one there is refused.
  return snapshot.namespaces
    .filter((ns) => ns.tenant !== undefined && !ns.terminating)
    .map((ns) => ns.name)
    .sort();
}

/**
 * Each tenant namespace's quota (`only`: just these namespaces, in the same order). A namespace's
 * limits are sums over its own leases, in the snapshot's order: a namespace none of whose leases
 * changed keeps its limits.
 */
export function planResourceQuotas(
  snapshot: ClusterSnapshot,
  only?: ReadonlySet<string>,
): DesiredResourceQuota[] {
  const nodes = new Map(snapshot.nodes.map((n) => [n.name, n]));
  const desired = new Map<string, Record<string, number>>();
  for (const ns of tenantNamespaces(snapshot))
    if (!only || only.has(ns)) desired.set(ns, zeroLimits(snapshot.settings.resourceNames));
  for (const lease of snapshot.leases) {
    const hard = desired.get(lease.namespace);
    if (!hard || !holdsAllocation(lease)) continue;
    for (const [key, amount] of Object.entries(leaseQuotaUsage(lease, lease.status, nodes)))
      hard[key] = (hard[key] ?? 0) + amount;
  }
  return [...desired].map(([namespace, hard]) => ({
    namespace,
    hard: Object.fromEntries(Object.entries(hard).map(([k, v]) => [k, formatQuotaAmount(k, v)])),
  }));
}

/** Tenant namespaces whose LimitRange is missing or differs from the defaults. */
export function planLimitRanges(snapshot: ClusterSnapshot): DesiredLimitRange[] {
  const current = snapshot.limitRanges;
  if (current === undefined) return []; // not watched: nothing is planned
  const written = new Map(current.map((lr) => [lr.namespace, lr.defaultRequest]));
  return tenantNamespaces(snapshot)
    .filter((ns) => {
      const have = written.get(ns);
      return have === undefined || Object.entries(DEFAULT_CONTAINER_REQUESTS).some(([k, v]) => have[k] !== v);
    })
    .map((namespace) => ({ namespace, defaultRequest: { ...DEFAULT_CONTAINER_REQUESTS } }));
}

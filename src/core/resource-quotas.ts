/**
 * The ResourceQuota each tenant namespace gets: `requests.<gpu resource>` equal to the GPUs of its
 * Active leases, so no GPU pod beyond a lease is even admitted. Pure.
 */
import { allocatedGpus, holdsAllocation } from "./accounting.ts";
import type { ClusterSnapshot } from "./model.ts";

export const RESOURCE_QUOTA_NAME = "gpulease";

export interface DesiredResourceQuota {
  namespace: string;
  hard: Record<string, string>;
}

export function planResourceQuotas(snapshot: ClusterSnapshot): DesiredResourceQuota[] {
  const desired = new Map<string, Record<string, number>>();
  for (const ns of snapshot.namespaces) {
    // A namespace being deleted takes its quota with it; creating one there is refused.
    if (ns.tenant === undefined || ns.terminating) continue;
    desired.set(
      ns.name,
      Object.fromEntries(snapshot.settings.resourceNames.map((r) => [`requests.${r}`, 0])),
    );
  }
  for (const lease of snapshot.leases) {
    const hard = desired.get(lease.namespace);
    if (!hard || !holdsAllocation(lease)) continue;
    const key = `requests.${lease.spec.resourceName}`;
    hard[key] = (hard[key] ?? 0) + allocatedGpus(lease);
  }
  return [...desired]
    .map(([namespace, hard]) => ({
      namespace,
      hard: Object.fromEntries(Object.entries(hard).map(([k, v]) => [k, String(v)])),
    }))
    .sort((a, b) => (a.namespace < b.namespace ? -1 : 1));
}

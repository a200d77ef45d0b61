/** What every step of a plan reads: the snapshot and the indexes built once from it. */
import { accountNodes, type NodeAccount, tenantNamespaces } from "./accounting.ts";
import type { ClusterSnapshot, QuotaView } from "./model.ts";

export interface PlanContext {
  snapshot: ClusterSnapshot;
  /** Node accounting; reclaims mark nodes Returning and admissions book GPUs as the plan goes. */
  accounts: Map<string, NodeAccount>;
  /** Tenant of each tenant namespace. */
  owners: Map<string, string>;
  /** The quota of the tenant that owns a namespace, if any. */
  quotaOf: (namespace: string) => QuotaView | undefined;
}

export function planContext(snapshot: ClusterSnapshot): PlanContext {
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
  };
}

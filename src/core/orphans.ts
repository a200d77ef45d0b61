/**
 * Orphans: tenant pods running on a lent node without an Active lease that allocates that node (the
 * lease label was removed or changed, the lease is gone, or it ended). Nothing else ever evicts them,
 * so they would keep a lent node's GPUs unbilled and the node from ever returning. They get a short
 * grace (a cache that lags a lease's status must not cost a tenant its pod), then the Eviction API,
 * then deletion past the eviction grace: a tenant's PodDisruptionBudget cannot keep an orphan. Pure.
 */
import { LABEL_LEASE, LABEL_NODE_STATE } from "../api/labels.ts";
import { holdsAllocation, type NodeAccount, podHoldsGpus } from "./accounting.ts";
import type { PlannedEvent } from "./lease-lifecycle.ts";
import type { ClusterSnapshot, LeaseView, PodView } from "./model.ts";

export const DEFAULT_ORPHAN_GRACE_MS = 30_000;

export interface Orphan {
  pod: PodView;
  node: string;
  /** Why the pod has no right to the node, for its Event and the operator's log. */
  why: string;
  /** When the operator first saw it orphaned (carried across passes by the shell). */
  since: number;
  /** The pod is evicted from this instant, and deleted from `forceAt`. */
  evictAt: number;
  forceAt: number;
}

/** A lent node, by the operator's own state label or the taint. */
function isLentNode(account: NodeAccount): boolean {
  const label = account.node.labels[LABEL_NODE_STATE];
  return account.node.lent || label === "Lent" || label === "Returning";
}

function whyOrphaned(pod: PodView, node: string, lease: LeaseView | undefined): string | undefined {
  if (pod.lease === undefined) return `it carries no ${LABEL_LEASE} label`;
  if (lease === undefined) return `its lease ${pod.lease} does not exist`;
  if (lease.deleting || lease.status.phase === "Ended") return undefined; // its lease evicts it
  if (!holdsAllocation(lease)) return `its lease ${lease.name} is ${lease.status.phase ?? "Pending"}`;
  if (!(lease.status.allocations ?? []).some((a) => a.node === node))
    return `its lease ${lease.name} holds no GPUs on node ${node}`;
  return undefined;
}

/**
 * Every orphan in the snapshot. `seenSince` holds when each pod (by uid) was first seen orphaned;
 * a pod not in it is new and starts its grace now.
 */
export function findOrphans(
  snapshot: ClusterSnapshot,
  accounts: Map<string, NodeAccount>,
  owners: Map<string, string>,
  seenSince: ReadonlyMap<string, number>,
  leases: ReadonlyMap<string, LeaseView> = new Map(
    snapshot.leases.map((l) => [`${l.namespace}/${l.name}`, l]),
  ),
): Orphan[] {
  const { orphanGraceMs = DEFAULT_ORPHAN_GRACE_MS, evictionGraceMs } = snapshot.settings;
  const orphans: Orphan[] = [];
  for (const pod of snapshot.pods) {
    if (!owners.has(pod.namespace) || !podHoldsGpus(pod) || pod.nodeName === undefined) continue;
    const account = accounts.get(pod.nodeName);
    if (!account || !isLentNode(account)) continue;
    const lease = pod.lease === undefined ? undefined : leases.get(`${pod.namespace}/${pod.lease}`);
    const why = whyOrphaned(pod, pod.nodeName, lease);
    if (why === undefined) continue;
    const since = seenSince.get(pod.uid) ?? snapshot.now;
    const evictAt = since + orphanGraceMs;
    orphans.push({ pod, node: pod.nodeName, why, since, evictAt, forceAt: evictAt + evictionGraceMs });
  }
  return orphans;
}

/** The Warning Event a pod gets when it is first seen orphaned (once: the shell remembers it). */
export function orphanEvent(orphan: Orphan): PlannedEvent {
  return {
    kind: "Pod",
    namespace: orphan.pod.namespace,
    name: orphan.pod.name,
    uid: orphan.pod.uid,
    type: "Warning",
    reason: "Orphaned",
    message: `runs on lent node ${orphan.node} but ${orphan.why}: it is evicted at ${new Date(orphan.evictAt).toISOString()}`,
  };
}

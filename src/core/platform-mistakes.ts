/**
 * Platform mistakes the operator reports rather than works around: internal GPU pods running on a lent
 * node (they tolerate the lent taint, or the taint was removed by hand), which take a lease's GPUs.
 * Pure; used by the planner (Events, the lease's Ready condition) and by `kubectl gpulease status`.
 */
import { type NodeAccount, podHoldsGpus } from "./accounting.ts";
import type { PlannedEvent } from "./lease-lifecycle.ts";
import type { ClusterSnapshot, PodView } from "./model.ts";

export interface InternalOnLentNode {
  node: string;
  pods: PodView[];
  gpus: number;
}

/** Internal GPU pods bound to lent nodes, by node. */
export function internalPodsOnLentNodes(
  snapshot: ClusterSnapshot,
  accounts: Map<string, NodeAccount>,
  owners: Map<string, string>,
): InternalOnLentNode[] {
  const byNode = new Map<string, InternalOnLentNode>();
  for (const pod of snapshot.pods) {
    if (owners.has(pod.namespace) || !podHoldsGpus(pod) || pod.nodeName === undefined) continue;
    const account = accounts.get(pod.nodeName);
    if (!account?.node.lent || !account.resourceName) continue;
    const gpus = pod.gpus[account.resourceName] ?? 0;
    if (gpus === 0) continue;
    const entry = byNode.get(pod.nodeName) ?? { node: pod.nodeName, pods: [], gpus: 0 };
    entry.pods.push(pod);
    entry.gpus += gpus;
    byNode.set(pod.nodeName, entry);
  }
  return [...byNode.values()].sort((a, b) => (a.node < b.node ? -1 : 1));
}

/** A Warning Event on the node and on each internal pod (the recorder sends each once). */
export function intrusionEvents(found: InternalOnLentNode[]): PlannedEvent[] {
  const events: PlannedEvent[] = [];
  for (const { node, pods, gpus } of found) {
    const names = pods.map((p) => `${p.namespace}/${p.name}`).join(", ");
    events.push({
      kind: "Node",
      name: node,
      type: "Warning",
      reason: "InternalPodOnLentNode",
      message: `internal pod(s) ${names} hold ${gpus} GPUs on this lent node: the leases placed here lose them (their Ready turns False); internal pods must not tolerate the gpulease.io/lent taint`,
    });
    for (const pod of pods) {
      events.push({
        kind: "Pod",
        namespace: pod.namespace,
        name: pod.name,
        uid: pod.uid,
        type: "Warning",
        reason: "OnLentNode",
        message: `runs on node ${node}, which is lent to tenants: it takes GPUs a lease pays for; it should not tolerate the gpulease.io/lent taint`,
      });
    }
  }
  return events;
}

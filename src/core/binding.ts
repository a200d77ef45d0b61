/**
 * Binding of gated tenant pods to their lease's nodes: each pod goes to the allocation with room for
 * its GPUs (the tightest fit, then node name), or stays gated with the reason. Pure.
 */
import { podGpus, podHoldsGpus } from "./accounting.ts";
import type { LeaseView, PodView } from "./model.ts";

export interface Binding {
  pod: PodView;
  node: string;
}

export interface Unbindable {
  pod: PodView;
  reason: string;
  message: string;
}

/** GPUs each allocation node has left for more pods of this lease. */
export function leaseRoom(lease: LeaseView, pods: PodView[]): Map<string, number> {
  const room = new Map<string, number>();
  for (const allocation of lease.status.allocations ?? []) room.set(allocation.node, allocation.gpus);
  for (const pod of pods) {
    // Pods bound to a node, or ungated and on their way to one, use the lease's room there.
    const node = pod.nodeName ?? (pod.gated ? undefined : pod.targetNode);
    if (node === undefined || !room.has(node)) continue;
    if (pod.nodeName !== undefined && !podHoldsGpus(pod)) continue;
    room.set(node, (room.get(node) ?? 0) - podGpus(pod, lease.spec.resourceName));
  }
  return room;
}

export function planBindings(
  lease: LeaseView,
  pods: PodView[],
  usableNodes: Set<string>,
): { bindings: Binding[]; unbindable: Unbindable[] } {
  const room = leaseRoom(lease, pods);
  const bindings: Binding[] = [];
  const unbindable: Unbindable[] = [];
  const gated = pods
    .filter((p) => p.gated && !p.terminating)
    .sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : 1));
  for (const pod of gated) {
    const gpus = podGpus(pod, lease.spec.resourceName);
    let best: { node: string; left: number } | undefined;
    for (const [node, left] of room) {
      if (!usableNodes.has(node) || left < gpus) continue;
      // GPU pods take the tightest fit; GPU-less helpers go where most room is left.
      const better =
        !best || (gpus > 0 ? left < best.left : left > best.left) || (left === best.left && node < best.node);
      if (better) best = { node, left };
    }
    if (!best) {
      const most = Math.max(0, ...room.values());
      unbindable.push({
        pod,
        reason: "ExceedsLease",
        message: `pod asks for ${gpus} ${lease.spec.resourceName} but lease ${lease.name} has at most ${most} left on one node; it stays gated until its lease has room`,
      });
      continue;
    }
    room.set(best.node, best.left - gpus);
    bindings.push({ pod, node: best.node });
  }
  return { bindings, unbindable };
}

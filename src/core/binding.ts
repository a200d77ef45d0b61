/**
 * Binding of gated tenant pods to their lease's nodes: each pod goes to the allocation with room for
 * its GPUs (the tightest fit, then node name) and for its CPU and memory within the lease's share of
 * the node (see lease-share), or stays gated with the reason. Pure.
 */
import { podGpus, podHoldsGpus } from "./accounting.ts";
import type { NodeShare } from "./lease-share.ts";
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

/** CPU and memory each allocation node has left within the lease's share, for more of its pods. */
export function leaseShareRoom(
  pods: PodView[],
  shares: ReadonlyMap<string, NodeShare>,
): Map<string, NodeShare> {
  const room = new Map<string, NodeShare>();
  for (const [node, share] of shares) room.set(node, { ...share });
  for (const pod of pods) {
    const node = pod.nodeName ?? (pod.gated ? undefined : pod.targetNode);
    const left = node === undefined ? undefined : room.get(node);
    if (left === undefined || (pod.nodeName !== undefined && !podHoldsGpus(pod))) continue;
    left.cpuMillis -= pod.cpuMillis;
    left.memoryBytes -= pod.memoryBytes;
  }
  return room;
}

const fitsShare = (pod: PodView, left: NodeShare | undefined) =>
  left === undefined || (pod.cpuMillis <= left.cpuMillis && pod.memoryBytes <= left.memoryBytes);

const cores = (millis: number) => `${Math.max(0, millis) / 1000}`;
const gib = (bytes: number) => `${Math.round((Math.max(0, bytes) / 2 ** 30) * 10) / 10}Gi`;

/**
 * `shares`: the lease's share of the CPU and memory of each of its nodes; a node without one is not
 * checked for CPU and memory.
 */
export function planBindings(
  lease: LeaseView,
  pods: PodView[],
  usableNodes: Set<string>,
  shares: ReadonlyMap<string, NodeShare> = new Map(),
): { bindings: Binding[]; unbindable: Unbindable[] } {
  const room = leaseRoom(lease, pods);
  const shareRoom = leaseShareRoom(pods, shares);
  const bindings: Binding[] = [];
  const unbindable: Unbindable[] = [];
  const gated = pods
    .filter((p) => p.gated && !p.terminating)
    .sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : 1));
  for (const pod of gated) {
    const gpus = podGpus(pod, lease.spec.resourceName);
    let best: { node: string; left: number } | undefined;
    for (const [node, left] of room) {
      if (!usableNodes.has(node) || left < gpus || !fitsShare(pod, shareRoom.get(node))) continue;
      // GPU pods take the tightest fit; GPU-less helpers go where most room is left.
      const better =
        !best || (gpus > 0 ? left < best.left : left > best.left) || (left === best.left && node < best.node);
      if (better) best = { node, left };
    }
    if (!best) {
      const gpuFits = [...room].filter(([node, left]) => usableNodes.has(node) && left >= gpus);
      if (gpuFits.length > 0) {
        const shareLeft = gpuFits.map(([node]) => shareRoom.get(node) ?? { cpuMillis: 0, memoryBytes: 0 });
        const cpu = Math.max(...shareLeft.map((s) => s.cpuMillis));
        const memory = Math.max(...shareLeft.map((s) => s.memoryBytes));
        unbindable.push({
          pod,
          reason: "ExceedsLeaseShare",
          message: `pod asks for ${cores(pod.cpuMillis)} CPU and ${gib(pod.memoryBytes)} memory but lease ${lease.name} has at most ${cores(cpu)} CPU and ${gib(memory)} left of its share of one node (a lease gets a node's CPU and memory in proportion to the GPUs it holds there); it stays gated until its lease has room`,
        });
        continue;
      }
      const most = Math.max(0, ...room.values());
      unbindable.push({
        pod,
        reason: "ExceedsLease",
        message: `pod asks for ${gpus} ${lease.spec.resourceName} but lease ${lease.name} has at most ${most} left on one node; it stays gated until its lease has room`,
      });
      continue;
    }
    room.set(best.node, best.left - gpus);
    const share = shareRoom.get(best.node);
    if (share) {
      share.cpuMillis -= pod.cpuMillis;
      share.memoryBytes -= pod.memoryBytes;
    }
    bindings.push({ pod, node: best.node });
  }
  return { bindings, unbindable };
}

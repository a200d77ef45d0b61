/**
 * A lease's share of a node it shares with others: the node's CPU, memory and pod slots in proportion
 * to the GPUs the lease holds there (4 of 8 GPUs: half the CPU and memory). Every pod of the lease on
 * that node, GPU-less helpers included, fits in it, so no lease can starve another on a shared node.
 * Pure.
 */
import type { NodeView } from "./model.ts";

/** Pods a node takes when it does not say (the kubelet's default `maxPods`). */
export const DEFAULT_NODE_PODS = 110;

export interface NodeShare {
  cpuMillis: number;
  memoryBytes: number;
  /** Pod slots; at least one wherever the lease holds a GPU, so its GPUs are never unusable. */
  pods: number;
}

export function leaseShareOf(node: NodeView, resourceName: string, gpus: number): NodeShare {
  const capacity = node.gpus[resourceName] ?? 0;
  const fraction = capacity > 0 ? Math.min(1, gpus / capacity) : 0;
  const pods = Math.floor((node.pods ?? DEFAULT_NODE_PODS) * fraction);
  return {
    cpuMillis: Math.floor(node.cpuMillis * fraction),
    memoryBytes: Math.floor(node.memoryBytes * fraction),
    pods: gpus > 0 && capacity > 0 ? Math.max(1, pods) : pods,
  };
}

/** The lease's share of each node it is allocated, by node name (nodes unknown here are left out). */
export function leaseShares(
  allocations: readonly { node: string; gpus: number }[],
  nodes: ReadonlyMap<string, NodeView>,
  resourceName: string,
): Map<string, NodeShare> {
  const shares = new Map<string, NodeShare>();
  for (const allocation of allocations) {
    const node = nodes.get(allocation.node);
    if (node) shares.set(allocation.node, leaseShareOf(node, resourceName, allocation.gpus));
  }
  return shares;
}

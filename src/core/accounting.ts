/**
 * Who holds which GPUs on every node, from the snapshot alone. A GPU counts as held while any pod
 * bound to the node still holds it (terminating pods included) or while a lease allocation promises it.
 */
import { type ClusterSnapshot, type LeaseView, leaseKey, type NodeView, type PodView } from "./model.ts";

export type NodeState = "Internal" | "Lent" | "Returning" | "Unavailable";

export interface NodeAccount {
  node: NodeView;
  /** The GPU resource this node offers (the first configured resource name it reports). */
  resourceName: string | undefined;
  capacity: number;
  /** GPUs held by pods outside tenant namespaces. */
  internalUsed: number;
  /** Per lease key: max(GPUs allocated to it here, GPUs its pods hold here). */
  leaseHeld: Map<string, number>;
  /** GPUs held by tenant pods whose lease holds no allocation here. */
  strayTenantUsed: number;
  /** Capacity minus everything held; may be negative when the node shrank. */
  free: number;
  state: NodeState;
  /** Has internal GPU pods bound (so it cannot be lent). */
  internalBusy: boolean;
}

export function podHoldsGpus(pod: PodView): boolean {
  return pod.nodeName !== undefined && pod.phase !== "Succeeded" && pod.phase !== "Failed";
}

export function podGpus(pod: PodView, resourceName: string): number {
  return pod.gpus[resourceName] ?? 0;
}

export function nodeResource(node: NodeView, resourceNames: string[]): string | undefined {
  return resourceNames.find((r) => (node.gpus[r] ?? 0) > 0);
}

/** Leases whose allocations still promise GPUs. */
export function holdsAllocation(lease: LeaseView): boolean {
  return (lease.status.phase === "Active" || lease.status.phase === "Reclaiming") && !lease.deleting;
}

export function nodeState(node: NodeView, capacity: number): NodeState {
  if (!node.ready || node.unschedulable || capacity === 0) return "Unavailable";
  if (node.lent) return node.lendable && !node.returning ? "Lent" : "Returning";
  return "Internal";
}

export function tenantNamespaces(snapshot: ClusterSnapshot): Map<string, string> {
  const owners = new Map<string, string>();
  for (const ns of snapshot.namespaces) if (ns.tenant) owners.set(ns.name, ns.tenant);
  return owners;
}

export function accountNodes(snapshot: ClusterSnapshot): Map<string, NodeAccount> {
  const owners = tenantNamespaces(snapshot);
  const accounts = new Map<string, NodeAccount>();
  for (const node of snapshot.nodes) {
    const resourceName = nodeResource(node, snapshot.settings.resourceNames);
    const capacity = resourceName ? (node.gpus[resourceName] ?? 0) : 0;
    accounts.set(node.name, {
      node,
      resourceName,
      capacity,
      internalUsed: 0,
      leaseHeld: new Map(),
      strayTenantUsed: 0,
      free: capacity,
      state: nodeState(node, capacity),
      internalBusy: false,
    });
  }
  for (const lease of snapshot.leases) {
    if (!holdsAllocation(lease)) continue;
    for (const allocation of lease.status.allocations ?? []) {
      const account = accounts.get(allocation.node);
      if (!account) continue;
      const key = leaseKey(lease);
      account.leaseHeld.set(key, (account.leaseHeld.get(key) ?? 0) + allocation.gpus);
    }
  }
  // Pods of a lease beyond what the lease holds here (or of an ended lease) still hold their GPUs.
  const podHeldByLease = new Map<string, Map<string, number>>();
  for (const pod of snapshot.pods) {
    if (!podHoldsGpus(pod) || pod.nodeName === undefined) continue;
    const account = accounts.get(pod.nodeName);
    if (!account?.resourceName) continue;
    const gpus = podGpus(pod, account.resourceName);
    if (gpus === 0) continue;
    if (!owners.has(pod.namespace)) {
      account.internalUsed += gpus;
      account.internalBusy = true;
      continue;
    }
    const key = `${pod.namespace}/${pod.lease ?? ""}`;
    const perNode = podHeldByLease.get(account.node.name) ?? new Map<string, number>();
    perNode.set(key, (perNode.get(key) ?? 0) + gpus);
    podHeldByLease.set(account.node.name, perNode);
  }
  for (const [nodeName, perLease] of podHeldByLease) {
    const account = accounts.get(nodeName);
    if (!account) continue;
    for (const [key, gpus] of perLease) {
      const allocated = account.leaseHeld.get(key);
      if (allocated === undefined) account.strayTenantUsed += gpus;
      else if (gpus > allocated) account.leaseHeld.set(key, gpus);
    }
  }
  for (const account of accounts.values()) {
    let held = account.internalUsed + account.strayTenantUsed;
    for (const gpus of account.leaseHeld.values()) held += gpus;
    account.free = account.capacity - held;
  }
  return accounts;
}

/** GPUs a lease holds now: its allocations (fewer than spec.gpus after a partial reclaim). */
export function allocatedGpus(lease: LeaseView): number {
  return (lease.status.allocations ?? []).reduce((sum, a) => sum + a.gpus, 0);
}

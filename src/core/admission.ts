/**
 * Admission: which Pending leases become Active now, where they are placed, and why the others wait
 * or are rejected. Pure: a snapshot and node accounts in, decisions out.
 *
 * The queue is fair between tenants: tenant priority (high first), then tenant share of its quota
 * (low first, recomputed after every admission), then lease priority (high first), then age. It is
 * best-effort: a lease that does not fit does not block smaller ones behind it.
 */
import { ANNOTATION_IDLE_SINCE } from "../api/labels.ts";
import type { NodeAccount } from "./accounting.ts";
import { tenantNamespaces } from "./accounting.ts";
import { type ClusterSnapshot, type LeaseView, leaseKey, type QuotaView } from "./model.ts";
import { type Placement, type PlacementCandidate, placeLease } from "./placement.ts";
import {
  neverAdmissible,
  quotaBlocks,
  type Refusal,
  type TenantUsage,
  tenantShare,
  usageOf,
} from "./quota-rules.ts";

export type AdmissionDecision =
  | { kind: "admit"; lease: LeaseView; quota: QuotaView; placement: Placement }
  | { kind: "wait"; lease: LeaseView; refusal: Refusal }
  | { kind: "reject"; lease: LeaseView; refusal: Refusal };

export interface AdmissionResult {
  decisions: AdmissionDecision[];
  /** Nodes to lend (taint) before the admitted leases are written. */
  lend: string[];
  /** Earliest time an idle node becomes eligible for lending, when something waits for capacity. */
  wakeAt: number | undefined;
}

export function isPending(lease: LeaseView): boolean {
  return !lease.deleting && (lease.status.phase === undefined || lease.status.phase === "Pending");
}

/** When an Internal node may be lent (undefined: not idle, or not lendable at all). */
export function lendableAt(account: NodeAccount, snapshot: ClusterSnapshot): number | undefined {
  const { node } = account;
  if (account.state !== "Internal" || !node.lendable || node.reclaimRequested || account.internalBusy)
    return undefined;
  if (snapshot.settings.idlePeriodMs === 0) return snapshot.now;
  const since = Date.parse(node.annotations[ANNOTATION_IDLE_SINCE] ?? "");
  return Number.isNaN(since) ? undefined : since + snapshot.settings.idlePeriodMs;
}

function compareLeases(a: LeaseView, b: LeaseView): number {
  return (
    b.spec.priority - a.spec.priority ||
    a.createdAt - b.createdAt ||
    (leaseKey(a) < leaseKey(b) ? -1 : leaseKey(a) > leaseKey(b) ? 1 : 0)
  );
}

/**
 * `mayLend`: whether an Internal node may be lent now. Internal GPU demand that could use a node keeps
 * it unlent (leases may still use room on nodes already Lent).
 */
export function admit(
  snapshot: ClusterSnapshot,
  accounts: Map<string, NodeAccount>,
  mayLend: (account: NodeAccount) => boolean = () => true,
): AdmissionResult {
  const owners = tenantNamespaces(snapshot);
  const decisions: AdmissionDecision[] = [];
  const lend: string[] = [];
  let wakeAt: number | undefined;
  const quotas = new Map(snapshot.quotas.map((q) => [q.name, q]));

  // Queues per tenant; leases without a tenant or quota wait with a reason.
  const queues = new Map<string, LeaseView[]>();
  for (const lease of snapshot.leases) {
    if (!isPending(lease)) continue;
    const tenant = owners.get(lease.namespace);
    if (tenant === undefined) {
      decisions.push({
        kind: "wait",
        lease,
        refusal: {
          reason: "NotATenantNamespace",
          message: `namespace ${lease.namespace} belongs to no tenant: a cluster admin must label it gpulease.io/tenant=<tenant>`,
        },
      });
      continue;
    }
    const quota = quotas.get(tenant);
    if (!quota) {
      decisions.push({
        kind: "wait",
        lease,
        refusal: { reason: "NoTenantQuota", message: `tenant ${tenant} has no TenantQuota named ${tenant}` },
      });
      continue;
    }
    const never = neverAdmissible(quota, lease);
    if (never) {
      decisions.push({ kind: "reject", lease, refusal: never });
      continue;
    }
    const queue = queues.get(tenant) ?? [];
    queue.push(lease);
    queues.set(tenant, queue);
  }
  for (const queue of queues.values()) queue.sort(compareLeases);

  const usage = new Map<string, TenantUsage>();
  for (const [tenant] of queues) {
    const quota = quotas.get(tenant);
    if (quota) {
      usage.set(
        tenant,
        usageOf(
          quota,
          snapshot.leases.filter((l) => owners.get(l.namespace) === tenant),
        ),
      );
    }
  }

  let idleInternalGpus = 0;
  for (const account of accounts.values()) {
    if (
      lendableAt(account, snapshot) !== undefined ||
      (account.state === "Internal" && account.node.lendable && !account.internalBusy)
    ) {
      idleInternalGpus += account.capacity;
    }
  }

  while (queues.size > 0) {
    // The next tenant: highest priority, then lowest share of its quota, then name.
    let next: { tenant: string; quota: QuotaView; share: number } | undefined;
    for (const tenant of queues.keys()) {
      const quota = quotas.get(tenant) as QuotaView;
      const share = tenantShare(quota, usage.get(tenant) as TenantUsage);
      if (
        !next ||
        quota.spec.priority > next.quota.spec.priority ||
        (quota.spec.priority === next.quota.spec.priority &&
          (share < next.share || (share === next.share && tenant < next.tenant)))
      ) {
        next = { tenant, quota, share };
      }
    }
    if (!next) break;
    const queue = queues.get(next.tenant) as LeaseView[];
    const lease = queue.shift() as LeaseView;
    if (queue.length === 0) queues.delete(next.tenant);
    const tenantUsage = usage.get(next.tenant) as TenantUsage;

    const blocked = quotaBlocks(next.quota, lease, tenantUsage);
    if (blocked) {
      decisions.push({ kind: "wait", lease, refusal: blocked });
      continue;
    }

    const block = lease.spec.gpusPerNode ?? 1;
    const candidates: PlacementCandidate[] = [];
    let matching = 0;
    for (const account of accounts.values()) {
      const { node } = account;
      if (account.resourceName !== lease.spec.resourceName) continue;
      if (lease.spec.gpuModel !== undefined && node.gpuModel !== lease.spec.gpuModel) continue;
      if (!node.lendable && account.state !== "Lent") continue;
      if (account.capacity >= block && account.state !== "Unavailable") matching++;
      if (account.state === "Lent") {
        if (account.free > 0)
          candidates.push({ name: node.name, free: account.free, capacity: account.capacity, lent: true });
        continue;
      }
      const at = mayLend(account) ? lendableAt(account, snapshot) : undefined;
      if (at === undefined) continue;
      if (at > snapshot.now) {
        wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
        continue;
      }
      if (account.free > 0)
        candidates.push({ name: node.name, free: account.free, capacity: account.capacity, lent: false });
    }
    if (matching === 0) {
      decisions.push({
        kind: "wait",
        lease,
        refusal: {
          reason: "NoMatchingNodes",
          message: `no lendable node offers ${lease.spec.resourceName}${
            lease.spec.gpuModel ? ` of model ${lease.spec.gpuModel}` : ""
          }${block > 1 ? ` with at least ${block} GPUs` : ""}`,
        },
      });
      continue;
    }
    const placement = placeLease(
      { gpus: lease.spec.gpus, block, headroomGpus: snapshot.settings.headroomGpus, idleInternalGpus },
      candidates,
    );
    if (!placement) {
      const free = candidates.reduce((sum, c) => sum + Math.max(0, c.free), 0);
      decisions.push({
        kind: "wait",
        lease,
        refusal: {
          reason: "InsufficientCapacity",
          message: `${free} matching GPUs are free to lend${
            block > 1 ? ` (in blocks of ${block} on one node)` : ""
          }; the lease needs ${lease.spec.gpus}`,
        },
      });
      continue;
    }
    for (const { node, gpus } of placement.allocations) {
      const account = accounts.get(node) as NodeAccount;
      account.free -= gpus;
      account.leaseHeld.set(leaseKey(lease), gpus);
    }
    for (const node of placement.newlyLent) {
      const account = accounts.get(node) as NodeAccount;
      account.state = "Lent";
      idleInternalGpus -= account.capacity;
      lend.push(node);
    }
    const limitUsage = usageOf(next.quota, [
      { ...lease, status: { ...lease.status, phase: "Active", allocations: placement.allocations } },
    ]);
    for (const [key, value] of limitUsage.byLimit) {
      const entry = tenantUsage.byLimit.get(key) ?? { gpus: 0, reservedGpus: 0 };
      entry.gpus += value.gpus;
      entry.reservedGpus += value.reservedGpus;
      tenantUsage.byLimit.set(key, entry);
    }
    tenantUsage.totalGpus += lease.spec.gpus;
    decisions.push({ kind: "admit", lease, quota: next.quota, placement });
  }
  return { decisions, lend: lend.sort(), wakeAt };
}

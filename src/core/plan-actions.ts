/**
 * The plan as a list of typed actions, each naming the actions it requires. The ordering rules that
 * keep the operator's promises live here, as data, and nowhere else:
 *
 * - a lease is placed on a node only after the node's lent taint is written;
 * - a pod is bound only after its lease's Active status is written;
 * - a ResourceQuota goes before the lease statuses that change what it counts, with the limits those
 *   statuses give once written, counting only the statuses in the same batch; and after its
 *   namespace's LimitRange, whose defaults let the quota count a pod that states no requests;
 * - a TenantQuota status (allocations, usage, ledger) goes out only with every lease status it counts;
 * - an Event goes out only after the write of the state it announces;
 * - a lease's finalizer goes only once its usage is in the ledger (checked by the planner on the
 *   written quota status, so across passes).
 *
 * The shell runs them (src/controller/executor.ts) without re-deriving any of this. Pure.
 */
import type { GpuLeaseStatus, TenantQuotaStatus } from "../api/index.ts";
import type { Binding } from "./binding.ts";
import { sameJson } from "./equality.ts";
import type { KueueCheckPlan, KueueCheckWrite } from "./kueue-check.ts";
import type { PlannedEvent, PodNotice } from "./lease-lifecycle.ts";
import { type LeaseView, leaseKey, type PodView, type QuotaView } from "./model.ts";
import type { NodeChange } from "./node-pool.ts";
import {
  type DesiredLimitRange,
  type DesiredResourceQuota,
  formatQuotaAmount,
  parseQuotaAmount,
} from "./resource-quotas.ts";
import type { DesiredPriorityQuota } from "./tenant-priority.ts";

/**
 * Which writes go first when a pass cannot carry out the whole plan. Urgent writes keep a promise
 * with a deadline (a reclaim notice, a due eviction); admission writes serve waiting tenants; upkeep
 * is node marks and tenant summaries; metering refreshes usage figures, which can always wait.
 */
export type ActionPriority = "urgent" | "admission" | "upkeep" | "metering";
export const PRIORITY_ORDER: readonly ActionPriority[] = ["urgent", "admission", "upkeep", "metering"];

interface ActionBase {
  /** Unique within a plan; stable across plans for the same write (so `done` sets carry over). */
  id: string;
  /** Actions that must have succeeded before this one is sent. */
  requires: string[];
  priority: ActionPriority;
  /** Worth sending only for the actions that require it: selected only as their prerequisite. */
  onlyAsPrerequisite?: boolean;
}

/** What a lease status write means, for metrics and logs after it succeeds. */
export type LeaseTransition = "admitted" | "noticeGiven" | "ended" | "changed" | "metered";

export type PlanAction =
  | (ActionBase & { kind: "lendNode"; change: NodeChange })
  | (ActionBase & { kind: "nodeChange"; change: NodeChange })
  | (ActionBase & {
      kind: "resourceQuota";
      /** The limits once every status of the plan is written. */
      quota: DesiredResourceQuota;
      /** What each status of the plan changes in those limits, for a batch that carries only some. */
      pending: { statusId: string; delta: Record<string, number> }[];
    })
  | (ActionBase & { kind: "limitRange"; limitRange: DesiredLimitRange })
  | (ActionBase & { kind: "priorityQuota"; quota: DesiredPriorityQuota })
  | (ActionBase & {
      kind: "tenantAdmission";
      namespace: string;
      /** The allow-list, as the validating policy reads it. */
      value: string;
      create: boolean;
    })
  | (ActionBase & {
      kind: "leaseStatus";
      lease: LeaseView;
      status: GpuLeaseStatus;
      transition: LeaseTransition;
    })
  | (ActionBase & { kind: "addFinalizer"; lease: LeaseView })
  | (ActionBase & { kind: "podNotice"; lease: LeaseView; notice: PodNotice })
  | (ActionBase & {
      kind: "eviction";
      lease: LeaseView;
      pod: PodView;
      reason: string;
      force: boolean;
      /** Sent at this instant and never before (a reclaim deadline). */
      notBefore?: number;
    })
  | (ActionBase & {
      kind: "orphanEviction";
      pod: PodView;
      /** Why the pod has no right to its node (for the log). */
      why: string;
      /** Delete instead of evicting: the eviction grace is over. */
      force: boolean;
    })
  | (ActionBase & { kind: "binding"; lease: LeaseView; binding: Binding })
  | (ActionBase & { kind: "quotaStatus"; quota: QuotaView; status: TenantQuotaStatus })
  | (ActionBase & { kind: "removeFinalizer"; lease: LeaseView })
  | (ActionBase & { kind: "event"; event: PlannedEvent })
  /** A Workload's state for gpulease's Kueue AdmissionCheck. */
  | (ActionBase & { kind: "kueueCheck"; write: KueueCheckWrite })
  /** An AdmissionCheck of gpulease's controller marked Active. */
  | (ActionBase & { kind: "admissionCheckActive"; name: string });

export type ActionKind = PlanAction["kind"];

/** Events cost nothing from a pass's write budget: they are queued and sent in the background. */
export const isWrite = (action: PlanAction): boolean => action.kind !== "event";

export const actionIds = {
  lendNode: (node: string) => `lend/${node}`,
  nodeChange: (node: string) => `node/${node}`,
  resourceQuota: (namespace: string) => `rq/${namespace}`,
  limitRange: (namespace: string) => `lr/${namespace}`,
  priorityQuota: (namespace: string) => `rq-priority/${namespace}`,
  tenantAdmission: () => "tenant-admission",
  leaseStatus: (lease: { namespace: string; name: string }) => `status/${leaseKey(lease)}`,
  addFinalizer: (lease: { namespace: string; name: string }) => `finalizer+/${leaseKey(lease)}`,
  removeFinalizer: (lease: { namespace: string; name: string }) => `finalizer-/${leaseKey(lease)}`,
  podNotice: (pod: { namespace: string; name: string }) => `notice/${pod.namespace}/${pod.name}`,
  eviction: (pod: { namespace: string; name: string }) => `evict/${pod.namespace}/${pod.name}`,
  binding: (pod: { namespace: string; name: string }) => `bind/${pod.namespace}/${pod.name}`,
  quotaStatus: (quota: string) => `tq/${quota}`,
  kueueCheck: (workload: { namespace: string; name: string }) =>
    `kueue/${workload.namespace}/${workload.name}`,
  admissionCheckActive: (name: string) => `admissioncheck/${name}`,
};

/** What the planner decided, in the shape the action builder reads. */
export interface PlanParts {
  lendNodes: NodeChange[];
  nodeChanges: NodeChange[];
  /** Every tenant namespace's ResourceQuota once the whole plan is written. */
  resourceQuotas: DesiredResourceQuota[];
  /** The namespace's ResourceQuota as last written (undefined: none yet). */
  currentResourceQuota: (namespace: string) => Record<string, string> | undefined;
  /**
   * What a lease status holds against its namespace's quota, by quota key in base units (default:
   * its GPUs alone): a status that changes it goes after the quota that counts it.
   */
  quotaUsage?: (lease: LeaseView, status: GpuLeaseStatus) => Record<string, number>;
  /** Tenant namespaces whose LimitRange (default requests) is missing or differs. */
  limitRanges?: DesiredLimitRange[];
  /** Tenant namespaces whose priority quota is missing or allows other classes. */
  priorityQuotas?: DesiredPriorityQuota[];
  /** The allow-list ConfigMap's write, when it differs from the configuration. */
  tenantAdmission?: { namespace: string; value: string; create: boolean };
  leaseStatuses: { lease: LeaseView; status: GpuLeaseStatus; noticeGiven: boolean }[];
  addFinalizers: LeaseView[];
  notices: (PodNotice & { lease: LeaseView })[];
  evictions: { lease: LeaseView; pod: PodView; reason: string; force: boolean; notBefore?: number }[];
  /** Tenant pods on lent nodes without an Active lease allocating the node, past their grace. */
  orphanEvictions?: { pod: PodView; why: string; force: boolean }[];
  bindings: (Binding & { lease: LeaseView })[];
  quotaStatuses: { quota: QuotaView; status: TenantQuotaStatus }[];
  removeFinalizers: LeaseView[];
  events: PlannedEvent[];
  /** The tenant a namespace belongs to. */
  tenantOf: (namespace: string) => string | undefined;
  /** Kueue AdmissionCheck writes. */
  kueue?: KueueCheckPlan;
}

function transitionOf(lease: LeaseView, status: GpuLeaseStatus, noticeGiven: boolean): LeaseTransition {
  const before = lease.status.phase;
  if (noticeGiven) return "noticeGiven";
  if (status.phase === "Active" && before !== "Active" && before !== "Reclaiming") return "admitted";
  if (status.phase === "Ended" && before !== "Ended") return "ended";
  const { usage: _after, ...restAfter } = status;
  const { usage: _before, ...restBefore } = {
    ...lease.status,
    observedGeneration: status.observedGeneration,
  };
  return sameJson(restAfter, restBefore) ? "metered" : "changed";
}

function priorityOfStatus(status: GpuLeaseStatus, transition: LeaseTransition): ActionPriority {
  if (transition === "metered") return "metering";
  if (transition === "noticeGiven" || status.phase === "Reclaiming") return "urgent";
  return "admission";
}

const allocationTotal = (status: GpuLeaseStatus): Map<string, number> => {
  const byNode = new Map<string, number>();
  for (const a of status.allocations ?? []) byNode.set(a.node, (byNode.get(a.node) ?? 0) + a.gpus);
  return byNode;
};

/** Nodes this status allocates that the lease did not hold before: they must be tainted first. */
function newNodes(lease: LeaseView, status: GpuLeaseStatus): string[] {
  const before = allocationTotal(lease.status);
  return [...allocationTotal(status).keys()].filter((node) => !before.has(node));
}

/** GPUs a status holds (Active or Reclaiming): what it counts against the quota, by default. */
function heldGpus(lease: LeaseView, status: GpuLeaseStatus): Record<string, number> {
  if (status.phase !== "Active" && status.phase !== "Reclaiming") return {};
  return {
    [`requests.${lease.spec.resourceName}`]: (status.allocations ?? []).reduce((sum, a) => sum + a.gpus, 0),
  };
}

/** How a status write moves each quota key (keys that do not move are left out). */
function usageDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const moved = (after[key] ?? 0) - (before[key] ?? 0);
    if (moved !== 0) delta[key] = moved;
  }
  return delta;
}

/**
 * A ResourceQuota's limits for one batch: the plan's limits, less what the plan's statuses that are
 * not in the batch would have changed.
 */
export function quotaLimitsFor(
  action: Extract<PlanAction, { kind: "resourceQuota" }>,
  inBatch: ReadonlySet<string>,
): Record<string, string> {
  const hard = Object.fromEntries(
    Object.entries(action.quota.hard).map(([k, v]) => [k, parseQuotaAmount(k, v)]),
  );
  for (const { statusId, delta } of action.pending) {
    if (inBatch.has(statusId)) continue;
    for (const [key, value] of Object.entries(delta)) hard[key] = (hard[key] ?? 0) - value;
  }
  return Object.fromEntries(Object.entries(hard).map(([k, v]) => [k, formatQuotaAmount(k, Math.max(0, v))]));
}

/** Turns the planner's decisions into actions with their prerequisites. */
export function buildActions(parts: PlanParts): PlanAction[] {
  const actions: PlanAction[] = [];
  const lent = new Set(parts.lendNodes.map((c) => c.node));
  const changed = new Set(parts.nodeChanges.map((c) => c.node));

  for (const change of parts.lendNodes) {
    actions.push({
      kind: "lendNode",
      id: actionIds.lendNode(change.node),
      requires: [],
      priority: "admission",
      change,
    });
  }

  // ResourceQuotas go first, so a tenant who sees its lease Active can create its pods at once; and
  // they count only the statuses of their own batch (quotaLimitsFor), so a budget that cuts an
  // admission never lets the quota admit pods for it.
  const quotaUsage = parts.quotaUsage ?? heldGpus;
  const pendingByNamespace = new Map<string, { statusId: string; delta: Record<string, number> }[]>();
  const movesQuota = new Set<string>();
  for (const { lease, status } of parts.leaseStatuses) {
    const delta = usageDelta(quotaUsage(lease, lease.status), quotaUsage(lease, status));
    if (Object.keys(delta).length === 0) continue;
    const statusId = actionIds.leaseStatus(lease);
    movesQuota.add(statusId);
    const list = pendingByNamespace.get(lease.namespace) ?? [];
    list.push({ statusId, delta });
    pendingByNamespace.set(lease.namespace, list);
  }
  // A LimitRange goes before its namespace's quota: its defaults are what the quota counts for a pod
  // that states no CPU or memory requests (without them the quota refuses such a pod).
  const limitRangeIds = new Set<string>();
  for (const limitRange of parts.limitRanges ?? []) {
    const id = actionIds.limitRange(limitRange.namespace);
    limitRangeIds.add(id);
    actions.push({ kind: "limitRange", id, requires: [], priority: "admission", limitRange });
  }
  const quotaIds = new Set<string>();
  for (const quota of parts.resourceQuotas) {
    const pending = pendingByNamespace.get(quota.namespace) ?? [];
    const current = parts.currentResourceQuota(quota.namespace);
    const same = current !== undefined && Object.entries(quota.hard).every(([k, v]) => current[k] === v);
    if (same && pending.length === 0) continue;
    const id = actionIds.resourceQuota(quota.namespace);
    quotaIds.add(id);
    const limitRangeId = actionIds.limitRange(quota.namespace);
    const action = {
      kind: "resourceQuota" as const,
      id,
      requires: limitRangeIds.has(limitRangeId) ? [limitRangeId] : [],
      priority: "admission" as const,
      quota,
      pending,
    };
    // Without any of its statuses the quota would stay as it is: it goes only with them.
    const alone = quotaLimitsFor(action, new Set());
    const unchanged = current !== undefined && Object.entries(alone).every(([k, v]) => current[k] === v);
    actions.push(unchanged ? { ...action, onlyAsPrerequisite: true } : action);
  }

  // The second line of defence against priority classes: no order to keep, nothing waits on it.
  for (const quota of parts.priorityQuotas ?? []) {
    actions.push({
      kind: "priorityQuota",
      id: actionIds.priorityQuota(quota.namespace),
      requires: [],
      priority: "admission",
      quota,
    });
  }
  if (parts.tenantAdmission) {
    actions.push({
      kind: "tenantAdmission",
      id: actionIds.tenantAdmission(),
      requires: [],
      priority: "admission",
      ...parts.tenantAdmission,
    });
  }

  const statusIds = new Set<string>();
  const statusMeaning = new Map<string, { transition: LeaseTransition; placementChanged: boolean }>();
  for (const { lease, status, noticeGiven } of parts.leaseStatuses) {
    const id = actionIds.leaseStatus(lease);
    statusIds.add(id);
    const transition = transitionOf(lease, status, noticeGiven);
    statusMeaning.set(id, {
      transition,
      placementChanged:
        status.phase !== lease.status.phase || !sameJson(status.allocations, lease.status.allocations),
    });
    const requires = newNodes(lease, status)
      .filter((node) => lent.has(node))
      .map(actionIds.lendNode);
    const quotaId = actionIds.resourceQuota(lease.namespace);
    if (movesQuota.has(id) && quotaIds.has(quotaId)) requires.push(quotaId);
    actions.push({
      kind: "leaseStatus",
      id,
      requires,
      priority: priorityOfStatus(status, transition),
      lease,
      status,
      transition,
    });
  }
  const statusOf = (lease: { namespace: string; name: string }): string[] => {
    const id = actionIds.leaseStatus(lease);
    return statusIds.has(id) ? [id] : [];
  };
  // The status write a pod action depends on, only where it changes what the pod action relies on:
  // a metering refresh of the same lease must not hold back a notice, an eviction or a binding.
  const statusThat = (
    lease: { namespace: string; name: string },
    relevant: (transition: LeaseTransition, placementChanged: boolean) => boolean,
  ): string[] => {
    const id = actionIds.leaseStatus(lease);
    const entry = statusMeaning.get(id);
    return entry && relevant(entry.transition, entry.placementChanged) ? [id] : [];
  };

  for (const lease of parts.addFinalizers) {
    actions.push({
      kind: "addFinalizer",
      id: actionIds.addFinalizer(lease),
      requires: [],
      priority: "admission",
      lease,
    });
  }
  const podEvents: PlannedEvent[] = [];
  const podEventRequires: string[] = [];
  for (const notice of parts.notices) {
    const id = actionIds.podNotice(notice.pod);
    actions.push({
      kind: "podNotice",
      id,
      // The pod is told only what its lease's status already says.
      requires: statusThat(notice.lease, (t) => t === "noticeGiven"),
      priority: "urgent",
      lease: notice.lease,
      notice: { pod: notice.pod, deadline: notice.deadline, message: notice.message },
    });
    podEvents.push({
      kind: "Pod",
      namespace: notice.pod.namespace,
      name: notice.pod.name,
      uid: notice.pod.uid,
      type: "Warning",
      reason: "ReclaimNotice",
      message: `lease ${notice.lease.name}: ${notice.message}`,
    });
    podEventRequires.push(id);
  }
  for (const eviction of parts.evictions) {
    actions.push({
      kind: "eviction",
      id: actionIds.eviction(eviction.pod),
      // An eviction for an ending lease goes after the status that ends it.
      requires: statusThat(eviction.lease, (t) => t === "ended"),
      priority: "urgent",
      lease: eviction.lease,
      pod: eviction.pod,
      reason: eviction.reason,
      force: eviction.force,
      ...(eviction.notBefore !== undefined ? { notBefore: eviction.notBefore } : {}),
    });
  }
  for (const orphan of parts.orphanEvictions ?? []) {
    actions.push({
      kind: "orphanEviction",
      id: actionIds.eviction(orphan.pod),
      requires: [],
      priority: "urgent",
      pod: orphan.pod,
      why: orphan.why,
      force: orphan.force,
    });
  }
  for (const binding of parts.bindings) {
    // Bound only inside a placement the lease's written status shows.
    const requires = statusThat(binding.lease, (_t, placementChanged) => placementChanged);
    if (lent.has(binding.node)) requires.push(actionIds.lendNode(binding.node));
    const id = actionIds.binding(binding.pod);
    actions.push({
      kind: "binding",
      id,
      requires,
      priority: "admission",
      lease: binding.lease,
      binding: { pod: binding.pod, node: binding.node },
    });
    podEvents.push({
      kind: "Pod",
      namespace: binding.pod.namespace,
      name: binding.pod.name,
      uid: binding.pod.uid,
      type: "Normal",
      reason: "BoundToLease",
      message: `bound to node ${binding.node} of lease ${binding.lease.name}`,
    });
    podEventRequires.push(id);
  }
  for (const change of parts.nodeChanges) {
    actions.push({
      kind: "nodeChange",
      id: actionIds.nodeChange(change.node),
      requires: [],
      priority: "upkeep",
      change,
    });
  }

  // A tenant's summary counts the statuses this plan gives its leases: it waits for all of them.
  const statusesByTenant = new Map<string, string[]>();
  for (const { lease } of parts.leaseStatuses) {
    const tenant = parts.tenantOf(lease.namespace);
    if (tenant === undefined) continue;
    const list = statusesByTenant.get(tenant) ?? [];
    list.push(actionIds.leaseStatus(lease));
    statusesByTenant.set(tenant, list);
  }
  for (const { quota, status } of parts.quotaStatuses) {
    actions.push({
      kind: "quotaStatus",
      id: actionIds.quotaStatus(quota.name),
      requires: statusesByTenant.get(quota.name) ?? [],
      priority: "upkeep",
      quota,
      status,
    });
  }
  for (const lease of parts.removeFinalizers) {
    actions.push({
      kind: "removeFinalizer",
      id: actionIds.removeFinalizer(lease),
      requires: statusOf(lease),
      priority: "upkeep",
      lease,
    });
  }

  for (const write of parts.kueue?.checks ?? []) {
    actions.push({
      kind: "kueueCheck",
      id: actionIds.kueueCheck(write),
      // A Workload shows a reclaim deadline only once the leases' statuses carry it.
      requires: write.announces.flatMap((lease) => statusThat(lease, (t) => t === "noticeGiven")),
      priority: "admission",
      write,
    });
  }
  for (const name of parts.kueue?.activate ?? []) {
    actions.push({
      kind: "admissionCheckActive",
      id: actionIds.admissionCheckActive(name),
      requires: [],
      priority: "upkeep",
      name,
    });
  }

  let eventIndex = 0;
  podEvents.forEach((event, i) => {
    actions.push({
      kind: "event",
      id: `event/${eventIndex++}`,
      requires: [podEventRequires[i] as string],
      priority: "upkeep",
      event,
    });
  });
  for (const event of parts.events) {
    actions.push({
      kind: "event",
      id: `event/${eventIndex++}`,
      requires: announcedBy(event, { statusIds, lent, changed }),
      priority: "upkeep",
      event,
    });
  }
  return actions;
}

/** The write whose result an Event announces (none: the Event describes what already is). */
function announcedBy(
  event: PlannedEvent,
  plan: { statusIds: Set<string>; lent: Set<string>; changed: Set<string> },
): string[] {
  switch (event.kind) {
    case "GpuLease": {
      const id = actionIds.leaseStatus({ namespace: event.namespace ?? "", name: event.name });
      return plan.statusIds.has(id) ? [id] : [];
    }
    case "Node":
      if (plan.lent.has(event.name)) return [actionIds.lendNode(event.name)];
      if (plan.changed.has(event.name)) return [actionIds.nodeChange(event.name)];
      return [];
    case "Pod": {
      if (event.lease === undefined) return [];
      const id = actionIds.leaseStatus({ namespace: event.namespace ?? "", name: event.lease });
      return plan.statusIds.has(id) ? [id] : [];
    }
    default:
      return [];
  }
}

/**
 * The whole decision for one instant: a snapshot in, a plan out. Everything the operator does is in
 * the plan; the controller only carries it out (in the order below) and replans when anything changes.
 * Pure and deterministic: the same snapshot always gives the same plan.
 */
import type { GpuLeaseStatus, TenantQuotaStatus } from "../api/index.ts";
import type { NodeAccount } from "./accounting.ts";
import { type AdmissionDecision, type AdmissionResult, admit } from "./admission.ts";
import { bindBackoffEnds, fairBindingOrder } from "./bind-order.ts";
import { type Binding, planBindings } from "./binding.ts";
import { getCondition, setCondition } from "./conditions.ts";
import type { DemandGroup } from "./demand.ts";
import { sameJson } from "./equality.ts";
import { earliest } from "./instants.ts";
import { type KueueCheckPlan, planKueueChecks } from "./kueue-check.ts";
import {
  endStatus,
  type LeasePlan,
  type PlannedEvent,
  type PodNotice,
  planLease,
  warnByCondition,
} from "./lease-lifecycle.ts";
import { type KnownLeases, recordedLease, recordedStatus, unwatchedVanished } from "./lease-records.ts";
import { leaseShares } from "./lease-share.ts";
import { type ClusterSnapshot, type LeaseView, leaseKey, type PodView, type QuotaView } from "./model.ts";
import { type NodeChange, planNodePool } from "./node-pool.ts";
import { type Orphan, orphanEvent } from "./orphans.ts";
import { buildActions, type PlanAction } from "./plan-actions.ts";
import { groupPodsByLease, type PlanContext, planContext } from "./plan-context.ts";
import type { LeaseInputs, LeaseSources, PlanReuse, TenantInputs } from "./plan-reuse.ts";
import { type InternalOnLentNode, internalPodsOnLentNodes, intrusionEvents } from "./platform-mistakes.ts";
import { foldedUids, planQuotaStatus, type RetiringLease } from "./quota-status.ts";
import type { ReclaimDecision } from "./reclaim-planner.ts";
import { reclaimStage } from "./reclaim-stage.ts";
import {
  type DesiredLimitRange,
  type DesiredResourceQuota,
  leaseQuotaUsage,
  planLimitRanges,
  planResourceQuotas,
} from "./resource-quotas.ts";
import { staticFit } from "./scheduling-fit.ts";
import {
  type MisplacedTenantBinding,
  misplacedBindingEvent,
  tenantBindingsOutside,
} from "./tenant-bindings.ts";
import { planPriorityQuotas, planTenantAdmission } from "./tenant-priority.ts";

export interface ClusterPlan {
  /**
   * Every write of the plan as a typed action with its prerequisites: what the executor runs. The
   * lists below are the same decisions by kind, for tests, metrics and the status command.
   */
  actions: PlanAction[];
  /** Nodes to lend: tainted before any lease is placed on them. */
  lendNodes: NodeChange[];
  leaseStatuses: { lease: LeaseView; status: GpuLeaseStatus }[];
  addFinalizers: LeaseView[];
  resourceQuotas: DesiredResourceQuota[];
  /** Tenant namespaces' LimitRanges (default requests) to write: missing or edited. */
  limitRanges: DesiredLimitRange[];
  bindings: (Binding & { lease: LeaseView })[];
  /** Pods to tell about their lease's reclaim deadline (annotation, condition, Event). */
  notices: (PodNotice & { lease: LeaseView })[];
  /** `notBefore`: an eviction armed ahead of its reclaim deadline, sent when the deadline passes. */
  evictions: { lease: LeaseView; pod: PodView; reason: string; force: boolean; notBefore?: number }[];
  /** Other node changes: returns (untaint), idle marks, state labels. */
  nodeChanges: NodeChange[];
  quotaStatuses: { quota: QuotaView; status: TenantQuotaStatus }[];
  /** Deleted leases whose usage is in their tenant's ledger: their finalizer can go. */
  removeFinalizers: LeaseView[];
  /** UIDs of vanished leases the operator need no longer remember (in the ledger, or nothing to record). */
  settledVanished: string[];
  events: PlannedEvent[];
  /** The earliest future instant at which the plan changes with no event (expiry, idle period…). */
  wakeAt: number | undefined;
  /** Node accounting after this plan's admissions, for metrics and the status command. */
  accounts: Map<string, NodeAccount>;
  decisions: AdmissionDecision[];
  reclaims: ReclaimDecision[];
  hopelessDemand: { demand: DemandGroup; reason: string }[];
  /** Lent nodes the reclaim planner does not count as free, and why (tenant pods without a lease there). */
  reclaimNotFree: string[];
  /** Leases this plan gives a reclaim notice. */
  noticesGiven: LeaseView[];
  /**
   * Tenant pods on lent nodes without an Active lease allocating the node, with when each was first
   * seen: the shell hands these back as the next snapshot's `orphansSince`.
   */
  orphans: Orphan[];
  /** Orphans whose grace is over: evicted (deleted past the eviction grace). */
  orphanEvictions: { pod: PodView; why: string; force: boolean }[];
  /** Internal GPU pods running on lent nodes (a platform mistake), by node. */
  internalOnLentNodes: InternalOnLentNode[];
  /** RoleBindings giving a tenant's users a role in a namespace without the tenant label. */
  tenantBindingsOutside: MisplacedTenantBinding[];
  /** Kueue AdmissionCheck states to write (empty without Kueue). */
  kueue: KueueCheckPlan;
}

function podEvent(
  pod: PodView,
  type: PlannedEvent["type"],
  reason: string,
  message: string,
  lease?: string,
): PlannedEvent {
  return {
    kind: "Pod",
    namespace: pod.namespace,
    name: pod.name,
    uid: pod.uid,
    type,
    reason,
    message,
    ...(lease !== undefined ? { lease } : {}),
  };
}

type LeaseStatusPlan = { lease: LeaseView; status: GpuLeaseStatus };

/**
 * `reuse`: lets a caller with memory (the incremental planner) reuse unchanged parts of its earlier
 * plans; without it every part is planned from scratch, which is the reference.
 */
export function planCluster(snapshot: ClusterSnapshot, reuse?: PlanReuse): ClusterPlan {
  const ctx = planContext(snapshot, reuse?.leaseLookup(snapshot));
  const seenOrphans = snapshot.orphansSince ?? new Map<string, number>();
  // Internal demand first: the owner's training comes before any new lending.
  const { allOrphans, settling, reclaim, hits, returning } = reclaimStage(ctx);
  const admission = planAdmissions(ctx, [...reclaim.waiting, ...settling], reuse);

  const podsByLease = groupPodsByLease(ctx);
  const leasePlans = planLeases(ctx, { podsByLease, admission, hits, atRisk: reclaim.atRisk }, reuse);
  const events = leasePlans.flatMap((p) => p.events);
  const bindings = fairBindingOrder(
    planPods(ctx, leasePlans, podsByLease, new Set(admission.lend), events),
    (namespace) => ctx.owners.get(namespace),
  );
  const evictions = leasePlans.flatMap((p) =>
    p.evict.map((e) => ({
      lease: p.lease,
      pod: e.pod,
      reason: e.reason,
      force: e.force,
      ...(e.notBefore !== undefined ? { notBefore: e.notBefore } : {}),
    })),
  );
  const notices = leasePlans.flatMap((p) => p.notify.map((n) => ({ ...n, lease: p.lease })));
  const orphanPlan = planOrphans(snapshot, allOrphans, new Set(evictions.map((e) => e.pod.uid)), seenOrphans);
  events.push(...orphanPlan.events);
  const internalOnLentNodes = internalPodsOnLentNodes(snapshot, ctx.accounts, ctx.owners);
  events.push(...intrusionEvents(internalOnLentNodes));
  const misplacedBindings = tenantBindingsOutside(snapshot.namespaces, snapshot.roleBindings ?? []);
  events.push(...misplacedBindings.map(misplacedBindingEvent));
  const { removeFinalizers, retiringByTenant } = planRetirement(ctx, leasePlans);
  const settledVanished = planVanished(ctx, retiringByTenant, events, reuse);
  const quotaStatuses = planTenantSummaries(ctx, leasePlans, retiringByTenant, reuse);

  const pool = planNodePool(ctx.accounts, new Set(admission.lend), snapshot.now, returning);
  events.push(...pool.events);
  const lendNodes = pool.changes.filter((c) => c.lent === true);
  const nodeChanges = pool.changes.filter((c) => c.lent !== true);
  const {
    desired: desiredQuotas,
    changed: resourceQuotas,
    current: currentQuotas,
  } = planResourceQuotaLimits(snapshot, leasePlans, reuse);

  const admissionConfig = snapshot.tenantAdmission;
  const tenantAdmission =
    admissionConfig && planTenantAdmission(snapshot.settings.tenantPriorityClasses ?? [], admissionConfig);

  const changedPlans = leasePlans.filter(
    (p) => !(reuse?.statusUnchanged(p) ?? sameJson(p.status, p.lease.status)),
  );
  const limitRanges = planLimitRanges(snapshot);
  const nodesByName = new Map(snapshot.nodes.map((n) => [n.name, n]));
  const kueue = planKueueChecks({
    snapshot,
    accounts: ctx.accounts,
    decisions: reclaim.decisions,
    hopeless: reclaim.hopeless,
    blocked: reclaim.blocked,
    leases: leasePlans,
  });
  const addFinalizers = snapshot.leases.filter((l) => !l.deleting && !l.hasFinalizer);
  const actions = buildActions({
    lendNodes,
    nodeChanges,
    resourceQuotas: desiredQuotas,
    currentResourceQuota: (namespace) => currentQuotas.get(namespace),
    quotaUsage: (lease, status) => leaseQuotaUsage(lease, status, nodesByName),
    limitRanges,
    priorityQuotas: planPriorityQuotas(snapshot),
    ...(admissionConfig && tenantAdmission
      ? { tenantAdmission: { namespace: admissionConfig.namespace, ...tenantAdmission } }
      : {}),
    leaseStatuses: changedPlans.map((p) => ({
      lease: p.lease,
      status: p.status,
      noticeGiven: p.noticeGiven,
    })),
    addFinalizers,
    notices,
    evictions,
    orphanEvictions: orphanPlan.evictions,
    bindings,
    quotaStatuses,
    removeFinalizers,
    events,
    tenantOf: (namespace) => ctx.owners.get(namespace),
    kueue,
  });

  return {
    actions,
    lendNodes,
    leaseStatuses: changedPlans.map((p) => ({ lease: p.lease, status: p.status })),
    addFinalizers,
    resourceQuotas,
    limitRanges,
    bindings,
    notices,
    evictions,
    nodeChanges,
    quotaStatuses,
    removeFinalizers,
    settledVanished,
    events,
    wakeAt: [
      admission.wakeAt,
      reclaim.wakeAt,
      ...settling.map((g) => g.settlesAt),
      ...leasePlans.map((p) => p.wakeAt),
      orphanPlan.wakeAt,
      bindBackoffEnds(snapshot.bindBackoff, snapshot.now),
    ].reduce(earliest, undefined),
    accounts: ctx.accounts,
    decisions: admission.decisions,
    reclaims: reclaim.decisions,
    hopelessDemand: reclaim.hopeless,
    reclaimNotFree: reclaim.notFree,
    noticesGiven: leasePlans.filter((p) => p.noticeGiven).map((p) => p.lease),
    orphans: orphanPlan.orphans,
    orphanEvictions: orphanPlan.evictions,
    internalOnLentNodes,
    tenantBindingsOutside: misplacedBindings,
    kueue,
  };
}

/**
 * Orphans not already evicted by their (ending or deleted) lease: an Event when first seen, eviction
 * once the grace is over, deletion past the eviction grace (a tenant's PodDisruptionBudget cannot
 * keep a pod with no right to the node). A pod already terminating is left to finish.
 */
function planOrphans(
  snapshot: ClusterSnapshot,
  found: Orphan[],
  evictedByLease: ReadonlySet<string>,
  seen: ReadonlyMap<string, number>,
): {
  orphans: Orphan[];
  evictions: ClusterPlan["orphanEvictions"];
  events: PlannedEvent[];
  wakeAt: number | undefined;
} {
  const now = snapshot.now;
  const orphans = found.filter((o) => !evictedByLease.has(o.pod.uid));
  const evictions: ClusterPlan["orphanEvictions"] = [];
  const events: PlannedEvent[] = [];
  let wakeAt: number | undefined;
  for (const orphan of orphans) {
    if (!seen.has(orphan.pod.uid)) events.push(orphanEvent(orphan));
    if (orphan.pod.terminating) continue;
    if (now < orphan.evictAt) {
      wakeAt = earliest(wakeAt, orphan.evictAt);
      continue;
    }
    const force = now >= orphan.forceAt;
    evictions.push({ pod: orphan.pod, why: orphan.why, force });
    // A blocked eviction is retried, and turns into deletion at forceAt.
    wakeAt = earliest(wakeAt, force ? now + 1000 : orphan.forceAt);
  }
  return { orphans, evictions, events, wakeAt };
}

/** Admits pending leases, never lending a node an internal demand still waiting could use. */
function planAdmissions(
  ctx: PlanContext,
  waitingDemand: DemandGroup[],
  reuse: PlanReuse | undefined,
): AdmissionResult {
  const run = (snapshot: ClusterSnapshot, accounts: Map<string, NodeAccount>) =>
    admit(
      snapshot,
      accounts,
      (account) => !waitingDemand.some((group) => group.pods.some((pod) => staticFit(pod, account.node))),
    );
  return reuse ? reuse.admission(ctx, waitingDemand, run) : run(ctx.snapshot, ctx.accounts);
}

/** Each lease's next status, evictions, notices and events, with its AtRisk condition. */
function planLeases(ctx: PlanContext, sources: LeaseSources, reuse: PlanReuse | undefined): LeasePlan[] {
  const compute = (leaseInputs: LeaseInputs) => {
    const plan = planLease(leaseInputs.lease, { ...leaseInputs, snapshot: ctx.snapshot });
    markAtRisk(plan, leaseInputs.atRisk, ctx.snapshot.now);
    return plan;
  };
  const planOne = (lease: LeaseView, decision: AdmissionDecision | undefined) => {
    const key = leaseKey(lease);
    const leaseInputs: LeaseInputs = {
      lease,
      accounts: ctx.accounts,
      quota: ctx.quotaOf(lease.namespace),
      pods: sources.podsByLease.get(key) ?? [],
      decision,
      reclaimHit: sources.hits.get(key),
      atRisk: sources.atRisk.has(key),
    };
    return reuse ? reuse.leasePlan(ctx, leaseInputs, compute) : compute(leaseInputs);
  };
  if (reuse) return reuse.leasePlans(ctx, sources, planOne);
  const decisionFor = new Map(sources.admission.decisions.map((d) => [leaseKey(d.lease), d]));
  return ctx.snapshot.leases.map((lease) => planOne(lease, decisionFor.get(leaseKey(lease))));
}

/**
 * Binds gated pods of Active leases to the lease's nodes; for every other gated pod, adds an Event
 * saying why it waits.
 */
function planPods(
  ctx: PlanContext,
  leasePlans: LeasePlan[],
  podsByLease: Map<string, PodView[]>,
  lentNow: Set<string>,
  events: PlannedEvent[],
): ClusterPlan["bindings"] {
  const bindings: ClusterPlan["bindings"] = [];
  const waiting = (pod: PodView) => pod.gated && !pod.terminating;
  const nodesByName = new Map(ctx.snapshot.nodes.map((n) => [n.name, n]));
  for (const plan of leasePlans) {
    const pods = podsByLease.get(leaseKey(plan.lease)) ?? [];
    // Only gated pods are bound or told why they wait.
    if (!pods.some(waiting)) continue;
    if (plan.status.phase !== "Active") {
      for (const pod of pods.filter(waiting)) {
        events.push(
          podEvent(
            pod,
            "Normal",
            "WaitingForLease",
            `lease ${plan.lease.name} is ${plan.status.phase ?? "Pending"}${plan.status.reason ? ` (${plan.status.reason})` : ""}: the pod stays gated until the lease is Active`,
            plan.lease.name,
          ),
        );
      }
      continue;
    }
    // Nodes lent by this very plan are not tainted yet in the snapshot, but will be before binding.
    const usable = new Set(
      (plan.status.allocations ?? [])
        .map((a) => a.node)
        .filter((node) => ctx.accounts.get(node)?.state === "Lent" || lentNow.has(node)),
    );
    const { bindings: planned, unbindable } = planBindings(
      { ...plan.lease, status: plan.status },
      pods,
      usable,
      leaseShares(plan.status.allocations ?? [], nodesByName, plan.lease.spec.resourceName),
    );
    for (const b of planned) bindings.push({ ...b, lease: plan.lease });
    for (const u of unbindable) events.push(podEvent(u.pod, "Warning", u.reason, u.message));
  }
  for (const [key, pods] of podsByLease) {
    if (ctx.leases.byKey.has(key)) continue;
    for (const pod of pods.filter(waiting)) {
      events.push(
        podEvent(
          pod,
          "Warning",
          "LeaseNotFound",
          `no GpuLease named ${pod.lease} in namespace ${pod.namespace}: the pod stays gated`,
        ),
      );
    }
  }
  return bindings;
}

/**
 * Deleted leases: their usage goes into the tenant's ledger first (`retiringByTenant`); once it is
 * there (or there is no ledger to keep), their finalizer goes.
 */
function planRetirement(
  ctx: PlanContext,
  leasePlans: LeasePlan[],
): { removeFinalizers: LeaseView[]; retiringByTenant: Map<string, RetiringLease[]> } {
  const retiringByTenant = new Map<string, RetiringLease[]>();
  const foldedByTenant = new Map<string, Set<string>>();
  const foldedOf = (quota: QuotaView): Set<string> => {
    const known = foldedByTenant.get(quota.name);
    if (known) return known;
    const set = foldedUids(quota);
    foldedByTenant.set(quota.name, set);
    return set;
  };
  const removeFinalizers: LeaseView[] = [];
  for (const plan of leasePlans) {
    if (!plan.retire || !plan.lease.hasFinalizer) continue;
    const quota = ctx.quotaOf(plan.lease.namespace);
    if (!quota || foldedOf(quota).has(plan.lease.uid) || plan.lease.status.phase === undefined) {
      removeFinalizers.push(plan.lease);
      continue;
    }
    const list = retiringByTenant.get(quota.name) ?? [];
    list.push({ lease: plan.lease, status: plan.status });
    retiringByTenant.set(quota.name, list);
  }
  return { removeFinalizers, retiringByTenant };
}

/**
 * Leases deleted without their finalizer (a tenant may strip it and delete at once): their usage, up to
 * when the operator saw them go, joins the retiring leases from the operator's own record of them; a
 * Warning Event on the TenantQuota says so once. Their pods are orphans now and are evicted as such.
 * Leases gone that the operator never saw go (it restarted, or was down) are folded in from the record
 * in their TenantQuota's status (lease-records.ts), with the same Event.
 * Returns the UIDs the operator can forget: in the ledger already, or nothing to record.
 */
function planVanished(
  ctx: PlanContext,
  retiringByTenant: Map<string, RetiringLease[]>,
  events: PlannedEvent[],
  reuse: PlanReuse | undefined,
): string[] {
  const settled: string[] = [];
  for (const { lease, vanishedAt } of ctx.snapshot.vanishedLeases ?? []) {
    const quota = ctx.quotaOf(lease.namespace);
    if (!quota || lease.status.phase === undefined || foldedUids(quota).has(lease.uid)) {
      settled.push(lease.uid);
      continue;
    }
    const message = `lease ${leaseKey(lease)} was deleted without its finalizer: its usage up to ${new Date(vanishedAt).toISOString()} goes into the ledger from the operator's own record, and its pods are evicted as orphans`;
    const status =
      lease.status.phase === "Ended"
        ? lease.status
        : endStatus(lease, lease.status, "Released", vanishedAt, message, ctx.snapshot.now);
    const list = retiringByTenant.get(quota.name) ?? [];
    list.push({ lease, status });
    retiringByTenant.set(quota.name, list);
    if (vanishedAt === ctx.snapshot.now) {
      events.push({
        kind: "TenantQuota",
        name: quota.name,
        type: "Warning",
        reason: "LeaseVanished",
        message,
      });
    }
  }
  const unreadable = new Set(ctx.snapshot.unreadableLeases ?? []);
  for (const quota of ctx.snapshot.quotas) {
    const compute = () => {
      const known: KnownLeases = { uids: ctx.leases.liveUids, unreadable, folded: foldedUids(quota) };
      return unwatchedVanished(quota, known);
    };
    const records = reuse ? reuse.unwatchedVanished(ctx, quota, compute) : compute();
    for (const record of records) {
      const list = retiringByTenant.get(quota.name) ?? [];
      list.push({
        lease: recordedLease(record),
        status: recordedStatus(record, quota.spec.pricing.currency),
      });
      retiringByTenant.set(quota.name, list);
      events.push({
        kind: "TenantQuota",
        name: quota.name,
        type: "Warning",
        reason: "LeaseVanished",
        message: `lease ${record.lease} was deleted without its finalizer while no operator watched it: its usage as last recorded (${record.gpuSeconds} GPU-seconds) goes into the ledger, and its pods are evicted as orphans`,
      });
    }
  }
  return settled;
}

/** Each TenantQuota's status (allocation, usage, ledger) after this plan, where it changes. */
function planTenantSummaries(
  ctx: PlanContext,
  leasePlans: LeasePlan[],
  retiringByTenant: Map<string, RetiringLease[]>,
  reuse: PlanReuse | undefined,
): ClusterPlan["quotaStatuses"] {
  const plansByTenant = new Map<string, LeaseStatusPlan[]>();
  for (const p of leasePlans) {
    const tenant = ctx.owners.get(p.lease.namespace);
    if (tenant === undefined) continue;
    const list = plansByTenant.get(tenant) ?? [];
    list.push({ lease: p.lease, status: p.status });
    plansByTenant.set(tenant, list);
  }
  // A vanished lease's UID stays in the ledger until the operator forgets it, so it is folded once.
  const liveUids = ctx.leases.liveUids;
  const quotaStatuses: ClusterPlan["quotaStatuses"] = [];
  // A lease the parser refuses still exists: its record stays as it was.
  const unreadable = new Set(ctx.snapshot.unreadableLeases ?? []);
  for (const quota of ctx.snapshot.quotas) {
    const inputs: TenantInputs = {
      quota,
      leases: plansByTenant.get(quota.name) ?? [],
      retiring: retiringByTenant.get(quota.name) ?? [],
      liveUids,
      carried: (quota.status.ledger?.liveLeases ?? []).filter(
        (r) => unreadable.has(r.lease) && !liveUids.has(r.uid),
      ),
    };
    const compute = () =>
      planQuotaStatus(ctx.snapshot, quota, inputs.leases, inputs.retiring, liveUids, inputs.carried);
    const { status, changed } = reuse
      ? reuse.tenantStatus(ctx, inputs, compute)
      : { status: compute(), changed: undefined };
    if (changed ?? !sameJson(status, quota.status)) quotaStatuses.push({ quota, status });
  }
  return quotaStatuses;
}

/** The namespaces' ResourceQuotas after this plan; `changed`: those that differ from what was written. */
function planResourceQuotaLimits(
  snapshot: ClusterSnapshot,
  leasePlans: LeasePlan[],
  reuse: PlanReuse | undefined,
): {
  desired: DesiredResourceQuota[];
  changed: DesiredResourceQuota[];
  current: Map<string, Record<string, string>>;
} {
  const current = new Map((snapshot.resourceQuotas ?? []).map((q) => [q.namespace, q.hard]));
  // Only leases holding allocations count (holdsAllocation): the others are not copied.
  const holding = leasePlans.filter(
    (p) => !p.lease.deleting && (p.status.phase === "Active" || p.status.phase === "Reclaiming"),
  );
  const compute = (only?: ReadonlySet<string>) =>
    planResourceQuotas(
      {
        ...snapshot,
        leases: (only ? holding.filter((p) => only.has(p.lease.namespace)) : holding).map((p) => ({
          ...p.lease,
          status: p.status,
        })),
      },
      only,
    );
  const desired = reuse ? reuse.resourceQuotas(snapshot, holding, compute) : compute();
  return { desired, changed: desired.filter((q) => !sameHard(current.get(q.namespace), q.hard)), current };
}

/** The namespace's ResourceQuota already has these limits (unknown: it must be written). */
function sameHard(current: Record<string, string> | undefined, hard: Record<string, string>): boolean {
  return current !== undefined && Object.entries(hard).every(([k, v]) => current[k] === v);
}

/** AtRisk: set while the lease is among the next likely victims; cleared (not removed) after. */
function markAtRisk(plan: LeasePlan, atRisk: boolean, now: number): void {
  const { status, lease } = plan;
  if (status.phase !== "Active") return;
  const current = getCondition(status.conditions, "AtRisk");
  if (atRisk) {
    const message =
      "internal demand is rising or the idle headroom is gone: this lease is among the first a reclaim would take";
    warnByCondition(
      plan,
      { type: "AtRisk", status: "True", reason: "ReclaimLikely", message },
      "AtRisk",
      now,
    );
  } else if (current?.status === "True") {
    status.conditions = setCondition(
      status.conditions,
      { type: "AtRisk", status: "False", reason: "NoPressure", message: "no reclaim is expected now" },
      now,
      lease.generation,
    );
  }
}

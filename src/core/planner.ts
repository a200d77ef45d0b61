/**
 * The whole decision for one instant: a snapshot in, a plan out. Everything the operator does is in
 * the plan; the controller only carries it out (in the order below) and replans when anything changes.
 * Pure and deterministic: the same snapshot always gives the same plan.
 */
import type { GpuLeaseStatus, TenantQuotaStatus } from "../api/index.ts";
import { accountNodes, type NodeAccount, tenantNamespaces } from "./accounting.ts";
import { type AdmissionDecision, admit } from "./admission.ts";
import { type Binding, planBindings } from "./binding.ts";
import { setCondition } from "./conditions.ts";
import { type DemandGroup, internalDemand } from "./demand.ts";
import { sameJson } from "./equality.ts";
import {
  type LeasePlan,
  type PlannedEvent,
  type PodNotice,
  planLease,
  type ReclaimHit,
} from "./lease-lifecycle.ts";
import { type ClusterSnapshot, type LeaseView, leaseKey, type PodView, type QuotaView } from "./model.ts";
import { type NodeChange, planNodePool } from "./node-pool.ts";
import { buildActions, type PlanAction } from "./plan-actions.ts";
import { foldedUids, planQuotaStatus, type RetiringLease } from "./quota-status.ts";
import { planReclaim, type ReclaimDecision } from "./reclaim-planner.ts";
import { type DesiredResourceQuota, planResourceQuotas } from "./resource-quotas.ts";
import { staticFit } from "./scheduling-fit.ts";

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
  events: PlannedEvent[];
  /** The earliest future instant at which the plan changes with no event (expiry, idle period…). */
  wakeAt: number | undefined;
  /** Node accounting after this plan's admissions, for metrics and the status command. */
  accounts: Map<string, NodeAccount>;
  decisions: AdmissionDecision[];
  reclaims: ReclaimDecision[];
  hopelessDemand: { demand: DemandGroup; reason: string }[];
  /** Leases this plan gives a reclaim notice. */
  noticesGiven: LeaseView[];
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

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

export function planCluster(snapshot: ClusterSnapshot): ClusterPlan {
  const accounts = accountNodes(snapshot);
  const owners = tenantNamespaces(snapshot);
  const quotas = new Map(snapshot.quotas.map((q) => [q.name, q]));

  // Internal demand first: the owner's training comes before any new lending.
  const demand = internalDemand(snapshot.pods, owners, snapshot.settings.resourceNames, snapshot.groupSizes);
  const settled = demand.filter((g) => g.settlesAt <= snapshot.now);
  const settling = demand.filter((g) => g.settlesAt > snapshot.now);
  const reclaim = planReclaim(snapshot, accounts, settled, owners);
  const hits = new Map<string, ReclaimHit>();
  const returning = new Set<string>();
  for (const decision of reclaim.decisions) {
    for (const node of decision.nodes) {
      returning.add(node);
      const account = accounts.get(node);
      if (account) account.state = "Returning";
    }
    for (const hit of decision.hits) {
      // Two demands may take different nodes of one lease (partial reclaim): one notice for both.
      const earlier = hits.get(leaseKey(hit.lease));
      const nodes = [...new Set([...(earlier?.nodes ?? []), ...hit.nodes])].sort();
      const allocations = hit.lease.status.allocations ?? [];
      hits.set(leaseKey(hit.lease), {
        nodes,
        whole: (earlier?.whole ?? false) || hit.whole,
        gpus: allocations.filter((a) => nodes.includes(a.node)).reduce((sum, a) => sum + a.gpus, 0),
        reason: "InternalDemand",
        explanation: earlier ? `${earlier.explanation}; ${decision.explanation}` : decision.explanation,
      });
    }
  }
  // Explicit reclaim: a lent node that lost its lendable label (or got gpulease.io/reclaim=true).
  for (const lease of snapshot.leases) {
    if (lease.status.phase !== "Active" || lease.spec.class === "Reserved" || hits.has(leaseKey(lease)))
      continue;
    const allocations = lease.status.allocations ?? [];
    const taken = allocations.filter((a) => {
      const account = accounts.get(a.node);
      return account?.node.lent === true && !account.node.lendable;
    });
    if (taken.length === 0) continue;
    const whole = !lease.spec.allowPartialReclaim;
    const nodes = (whole ? allocations : taken).map((a) => a.node).sort();
    hits.set(leaseKey(lease), {
      nodes,
      whole,
      gpus: (whole ? allocations : taken).reduce((sum, a) => sum + a.gpus, 0),
      reason: "NodeReclaimed",
      explanation: `node(s) ${taken.map((a) => a.node).join(", ")} were taken out of the lendable pool`,
    });
  }
  const admission = admit(
    snapshot,
    accounts,
    (account) =>
      ![...reclaim.waiting, ...settling].some((group) =>
        group.pods.some((pod) => staticFit(pod, account.node)),
      ),
  );
  const decisionFor = new Map(admission.decisions.map((d) => [leaseKey(d.lease), d]));

  const podsByLease = new Map<string, PodView[]>();
  for (const pod of snapshot.pods) {
    if (pod.lease === undefined || !owners.has(pod.namespace)) continue;
    const key = `${pod.namespace}/${pod.lease}`;
    const list = podsByLease.get(key) ?? [];
    list.push(pod);
    podsByLease.set(key, list);
  }

  const events: PlannedEvent[] = [];
  let wakeAt = earliest(admission.wakeAt, reclaim.wakeAt);
  for (const group of settling) wakeAt = earliest(wakeAt, group.settlesAt);
  const leasePlans: LeasePlan[] = [];
  for (const lease of snapshot.leases) {
    const tenant = owners.get(lease.namespace);
    const plan = planLease(lease, {
      snapshot,
      accounts,
      quota: tenant === undefined ? undefined : quotas.get(tenant),
      pods: podsByLease.get(leaseKey(lease)) ?? [],
      decision: decisionFor.get(leaseKey(lease)),
      reclaimHit: hits.get(leaseKey(lease)),
    });
    markAtRisk(plan, reclaim.atRisk.has(leaseKey(lease)), snapshot.now);
    leasePlans.push(plan);
    events.push(...plan.events);
    wakeAt = earliest(wakeAt, plan.wakeAt);
  }

  const changedPlans = leasePlans.filter((p) => !sameJson(p.status, p.lease.status));
  const leaseStatuses = changedPlans.map((p) => ({ lease: p.lease, status: p.status }));
  const addFinalizers = snapshot.leases.filter((l) => !l.deleting && !l.hasFinalizer);

  // Pods: bind gated pods of Active leases; say why the others wait.
  const bindings: ClusterPlan["bindings"] = [];
  const lentNow = new Set(admission.lend);
  for (const plan of leasePlans) {
    const pods = podsByLease.get(leaseKey(plan.lease)) ?? [];
    if (plan.status.phase !== "Active") {
      for (const pod of pods) {
        if (!pod.gated || pod.terminating) continue;
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
        .filter((node) => accounts.get(node)?.state === "Lent" || lentNow.has(node)),
    );
    const { bindings: planned, unbindable } = planBindings(
      { ...plan.lease, status: plan.status },
      pods,
      usable,
    );
    for (const b of planned) {
      bindings.push({ ...b, lease: plan.lease });
    }
    for (const u of unbindable) {
      events.push(podEvent(u.pod, "Warning", u.reason, u.message));
    }
  }
  // Gated pods naming a lease that does not exist.
  const leaseKeys = new Set(snapshot.leases.map(leaseKey));
  for (const [key, pods] of podsByLease) {
    if (leaseKeys.has(key)) continue;
    for (const pod of pods) {
      if (!pod.gated || pod.terminating) continue;
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

  // Deleted leases: fold their usage into the tenant's ledger, then (next pass) drop the finalizer.
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
    const tenant = owners.get(plan.lease.namespace);
    const quota = tenant === undefined ? undefined : quotas.get(tenant);
    if (!quota || foldedOf(quota).has(plan.lease.uid) || plan.lease.status.phase === undefined) {
      removeFinalizers.push(plan.lease);
      continue;
    }
    const list = retiringByTenant.get(quota.name) ?? [];
    list.push({ lease: plan.lease, status: plan.status });
    retiringByTenant.set(quota.name, list);
  }

  const quotaStatuses: ClusterPlan["quotaStatuses"] = [];
  const plansByTenant = new Map<string, { lease: LeaseView; status: GpuLeaseStatus }[]>();
  for (const p of leasePlans) {
    const tenant = owners.get(p.lease.namespace);
    if (tenant === undefined) continue;
    const list = plansByTenant.get(tenant) ?? [];
    list.push({ lease: p.lease, status: p.status });
    plansByTenant.set(tenant, list);
  }
  const liveUids = new Set(snapshot.leases.map((l) => l.uid));
  for (const quota of snapshot.quotas) {
    const leases = plansByTenant.get(quota.name) ?? [];
    const retiring = retiringByTenant.get(quota.name) ?? [];
    const status = planQuotaStatus(snapshot, quota, leases, retiring, liveUids);
    if (!sameJson(status, quota.status)) quotaStatuses.push({ quota, status });
  }

  const pool = planNodePool(accounts, new Set(admission.lend), snapshot.now, returning);
  events.push(...pool.events);
  const lendNodes = pool.changes.filter((c) => c.lent === true);
  const nodeChanges = pool.changes.filter((c) => c.lent !== true);

  const current = new Map((snapshot.resourceQuotas ?? []).map((q) => [q.namespace, q.hard]));
  const resourceQuotas = planResourceQuotas({
    ...snapshot,
    leases: leasePlans.map((p) => ({ ...p.lease, status: p.status })),
  }).filter((q) => !sameHard(current.get(q.namespace), q.hard));
  const actions = buildActions({
    lendNodes,
    nodeChanges,
    resourceQuotas,
    leaseStatuses: changedPlans.map((p) => ({
      lease: p.lease,
      status: p.status,
      noticeGiven: p.noticeGiven,
    })),
    addFinalizers,
    notices,
    evictions,
    bindings,
    quotaStatuses,
    removeFinalizers,
    events,
    tenantOf: (namespace) => owners.get(namespace),
  });

  return {
    actions,
    lendNodes,
    leaseStatuses,
    addFinalizers,
    resourceQuotas,
    bindings,
    notices,
    evictions,
    nodeChanges,
    quotaStatuses,
    removeFinalizers,
    events,
    wakeAt,
    accounts,
    decisions: admission.decisions,
    reclaims: reclaim.decisions,
    hopelessDemand: reclaim.hopeless,
    noticesGiven: leasePlans.filter((p) => p.noticeGiven).map((p) => p.lease),
  };
}

/** The namespace's ResourceQuota already has these limits (unknown: it must be written). */
function sameHard(current: Record<string, string> | undefined, hard: Record<string, string>): boolean {
  return current !== undefined && Object.entries(hard).every(([k, v]) => current[k] === v);
}

/** AtRisk: set while the lease is among the next likely victims; cleared (not removed) after. */
function markAtRisk(plan: LeasePlan, atRisk: boolean, now: number): void {
  const { status, lease } = plan;
  if (status.phase !== "Active") return;
  const current = status.conditions?.find((c) => c.type === "AtRisk");
  if (atRisk) {
    const message =
      "internal demand is rising or the idle headroom is gone: this lease is among the first a reclaim would take";
    if (current?.status !== "True") {
      plan.events.push({
        kind: "GpuLease",
        namespace: lease.namespace,
        name: lease.name,
        uid: lease.uid,
        type: "Warning",
        reason: "AtRisk",
        message,
      });
    }
    status.conditions = setCondition(
      status.conditions,
      { type: "AtRisk", status: "True", reason: "ReclaimLikely", message },
      now,
      lease.generation,
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

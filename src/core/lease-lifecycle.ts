/**
 * The desired status of one lease, and what must happen to its pods, given the admission decision for
 * it (when it was Pending) and the snapshot. Pure.
 */

import { formatDuration } from "../api/duration.ts";
import {
  type Condition,
  DEFAULT_RECLAIM_NOTICE_MS,
  type EndReason,
  type GpuLeaseStatus,
} from "../api/index.ts";
import { ANNOTATION_RECLAIM_DEADLINE } from "../api/labels.ts";
import { type NodeAccount, podHoldsGpus } from "./accounting.ts";
import type { AdmissionDecision } from "./admission.ts";
import { type ConditionInput, getCondition, removeCondition, setCondition } from "./conditions.ts";
import { earliest } from "./instants.ts";
import {
  chargeMicros,
  formatMoney,
  leaseGpuSeconds,
  meteringInstant,
  openGpuSeconds,
  parseMoneyMicros,
  priceFor,
} from "./metering.ts";
import type { ClusterSnapshot, LeaseView, PodView, QuotaView } from "./model.ts";
import { effectiveDurationMs, type Refusal } from "./quota-rules.ts";

export interface PlannedEvent {
  kind: "GpuLease" | "Pod" | "Node" | "TenantQuota";
  namespace?: string;
  name: string;
  uid?: string;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  /** For a pod's Event about its lease's state: the lease's name (the Event waits for its status). */
  lease?: string;
}

export interface PodNotice {
  pod: PodView;
  /** The reclaim deadline, written to the pod's gpulease.io/reclaim-deadline annotation. */
  deadline: string;
  message: string;
}

export interface LeasePlan {
  lease: LeaseView;
  status: GpuLeaseStatus;
  events: PlannedEvent[];
  /**
   * Bound pods to evict (lease ended, being deleted, or reclaimed at its deadline). `notBefore`: a
   * reclaim eviction planned just ahead of its deadline, to be sent at the deadline and not before.
   */
  evict: { pod: PodView; reason: EndReason; force: boolean; notBefore?: number }[];
  /** Pods to tell about a reclaim deadline. */
  notify: PodNotice[];
  /** This plan gave the lease its reclaim notice (for metrics). */
  noticeGiven: boolean;
  /** The lease may lose its finalizer once its usage is in the tenant's ledger. */
  retire: boolean;
  wakeAt: number | undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function leaseEvent(
  lease: LeaseView,
  type: PlannedEvent["type"],
  reason: string,
  message: string,
): PlannedEvent {
  return {
    kind: "GpuLease",
    namespace: lease.namespace,
    name: lease.name,
    uid: lease.uid,
    type,
    reason,
    message,
  };
}

/** Ends the lease at `at`: closes its allocations into closedGpuSeconds and fixes its final charges. */
export function endStatus(
  lease: LeaseView,
  status: GpuLeaseStatus,
  endReason: EndReason,
  at: number,
  message: string,
  now: number,
): GpuLeaseStatus {
  const gpuSeconds = leaseGpuSeconds(status, at);
  const perHour = parseMoneyMicros(status.pricing?.perGpuHour);
  let conditions = setCondition(
    status.conditions,
    { type: "Ended", status: "True", reason: endReason, message },
    now,
    lease.generation,
  );
  conditions = setCondition(
    conditions,
    { type: "Ready", status: "False", reason: endReason, message },
    now,
    lease.generation,
  );
  conditions = removeCondition(conditions, "ExpiringSoon");
  return {
    ...status,
    phase: "Ended",
    reason: endReason,
    message,
    conditions,
    allocations: [],
    allocatedNodes: 0,
    endedAt: status.endedAt ?? iso(at),
    endReason: status.endReason ?? endReason,
    usage: {
      gpuSeconds,
      closedGpuSeconds: gpuSeconds,
      charges: formatMoney(chargeMicros(gpuSeconds, perHour)),
    },
  };
}

/** Starts a reclaim: the deadline is now plus the notice the tenant was promised, and never earlier. */
export function giveNotice(
  lease: LeaseView,
  status: GpuLeaseStatus,
  hit: ReclaimHit,
  quota: QuotaView | undefined,
  now: number,
): GpuLeaseStatus {
  const noticeMs = quota?.spec.reclaimNoticeMs ?? DEFAULT_RECLAIM_NOTICE_MS;
  const deadline = iso(now + noticeMs);
  const what = hit.whole
    ? `all ${lease.spec.gpus} GPUs of the lease`
    : `${hit.gpus} GPUs on ${hit.nodes.join(", ")}`;
  const why =
    hit.reason === "InternalDemand" ? "internal training needs them" : "the platform team took the node back";
  const message = `${what} are reclaimed because ${why}: pods there are evicted at ${deadline} (notice ${formatDuration(noticeMs)})`;
  return {
    ...status,
    phase: "Reclaiming",
    reason: hit.reason,
    message,
    reclaim: { requestedAt: iso(now), deadline, reason: hit.reason, nodes: hit.nodes, gpus: hit.gpus },
    conditions: setCondition(
      status.conditions,
      { type: "Reclaiming", status: "True", reason: hit.reason, message },
      now,
      lease.generation,
    ),
  };
}

/**
 * How long before a reclaim deadline its evictions are planned, to be sent the moment it passes: the
 * plan (about 100 ms at 1,000 nodes) is then done before the deadline, not after it.
 */
export const EVICTION_LEAD_MS = 500;

interface ReclaimStep {
  status: GpuLeaseStatus;
  evict: LeasePlan["evict"];
  notify: PodNotice[];
  events: PlannedEvent[];
  wakeAt: number | undefined;
}

/**
 * A Reclaiming lease: before the deadline its pods are told; at the deadline (never before) they are
 * evicted through the Eviction API; past the grace a pod a PodDisruptionBudget still holds is deleted.
 * Once no pod holds the reclaimed GPUs the lease ends as Reclaimed, or shrinks when partial reclaim is
 * allowed and it keeps other nodes.
 */
export function reclaimStep(
  lease: LeaseView,
  status: GpuLeaseStatus,
  boundPods: PodView[],
  snapshot: ClusterSnapshot,
): ReclaimStep {
  const now = snapshot.now;
  const reclaim = status.reclaim ?? {};
  const deadline = Date.parse(reclaim.deadline ?? "");
  const nodes = new Set(reclaim.nodes ?? []);
  const allocations = status.allocations ?? [];
  const whole = allocations.every((a) => nodes.has(a.node));
  const affected = boundPods.filter((p) => whole || (p.nodeName !== undefined && nodes.has(p.nodeName)));
  const out: ReclaimStep = { status, evict: [], notify: [], events: [], wakeAt: undefined };
  if (Number.isNaN(deadline)) return out;
  if (now < deadline) {
    for (const pod of affected) {
      if (pod.annotations[ANNOTATION_RECLAIM_DEADLINE] !== reclaim.deadline) {
        out.notify.push({ pod, deadline: reclaim.deadline ?? "", message: status.message ?? "" });
      }
    }
    if (deadline - now > EVICTION_LEAD_MS) {
      out.wakeAt = deadline - EVICTION_LEAD_MS;
      return out;
    }
    // Armed: sent at the deadline. A pass right after it follows up (blocked evictions, the end).
    for (const pod of affected)
      out.evict.push({ pod, reason: "Reclaimed", force: false, notBefore: deadline });
    out.wakeAt = deadline;
    return out;
  }
  if (affected.length > 0) {
    // The grace runs from the first pass that could evict (written in the status), not from the
    // deadline: after an API outage longer than the grace, PDBs still get their chance.
    const since = Date.parse(reclaim.evictingSince ?? "");
    const evictingSince = Number.isNaN(since) ? now : since;
    if (Number.isNaN(since)) out.status = { ...status, reclaim: { ...reclaim, evictingSince: iso(now) } };
    const forceAt = evictingSince + snapshot.settings.evictionGraceMs;
    for (const pod of affected) out.evict.push({ pod, reason: "Reclaimed", force: now >= forceAt });
    out.wakeAt = now < forceAt ? forceAt : now + 1000;
    return out;
  }
  if (whole) {
    out.status = endStatus(
      lease,
      status,
      "Reclaimed",
      deadline,
      status.message ?? "the lease was reclaimed",
      now,
    );
    out.status.reclaim = reclaim;
    out.events.push(
      leaseEvent(lease, "Warning", "Reclaimed", `GPUs returned to internal use at ${iso(now)}`),
    );
    return out;
  }
  // Partial: close the usage of the lost allocations at the deadline and keep the rest.
  const lost = allocations.filter((a) => nodes.has(a.node));
  const closed = openGpuSeconds({ ...status, allocations: lost }, deadline);
  const message = `lost ${lost.reduce((s, a) => s + a.gpus, 0)} GPUs on ${lost.map((a) => a.node).join(", ")} to a reclaim; keeps ${allocations.length - lost.length} node(s)`;
  out.status = {
    ...status,
    phase: "Active",
    reason: "PartiallyReclaimed",
    message,
    allocations: allocations.filter((a) => !nodes.has(a.node)),
    allocatedNodes: allocations.length - lost.length,
    reclaim: undefined,
    usage: { ...status.usage, closedGpuSeconds: (status.usage?.closedGpuSeconds ?? 0) + closed },
    conditions: setCondition(
      status.conditions,
      { type: "Reclaiming", status: "False", reason: "PartiallyReclaimed", message },
      now,
      lease.generation,
    ),
  };
  out.events.push(leaseEvent(lease, "Warning", "PartiallyReclaimed", message));
  return out;
}

/**
 * Nodes deleted under a lease: their allocations end now (the moment the operator sees them gone), so
 * metering, charges and the namespace's ResourceQuota stop counting GPUs that no longer exist. The lease
 * shrinks to its other nodes where it allows partial reclaim, and ends as NodeLost otherwise.
 */
function loseNodes(
  lease: LeaseView,
  status: GpuLeaseStatus,
  lost: { node: string; gpus: number }[],
  now: number,
): { status: GpuLeaseStatus; event: PlannedEvent } {
  const gone = new Set(lost.map((a) => a.node));
  const allocations = status.allocations ?? [];
  const kept = allocations.filter((a) => !gone.has(a.node));
  const gpus = lost.reduce((sum, a) => sum + a.gpus, 0);
  const nodes = [...gone].sort().join(", ");
  if (kept.length === 0 || !lease.spec.allowPartialReclaim) {
    const message = `node(s) ${nodes} were deleted with ${gpus} GPUs of the lease: it ends; usage stops at ${iso(now)}`;
    return {
      status: endStatus(lease, status, "NodeLost", now, message, now),
      event: leaseEvent(lease, "Warning", "NodeLost", message),
    };
  }
  const closed = openGpuSeconds({ ...status, allocations: allocations.filter((a) => gone.has(a.node)) }, now);
  const message = `node(s) ${nodes} were deleted: the lease lost ${gpus} GPUs there and keeps ${kept.length} node(s)`;
  return {
    status: {
      ...status,
      reason: "NodeLost",
      message,
      allocations: kept,
      allocatedNodes: kept.length,
      usage: { ...status.usage, closedGpuSeconds: (status.usage?.closedGpuSeconds ?? 0) + closed },
    },
    event: leaseEvent(lease, "Warning", "NodeLost", message),
  };
}

function nodeProblem(account: NodeAccount | undefined, node: string): string | undefined {
  if (!account) return `node ${node} no longer exists`;
  if (!account.node.ready) return `node ${node} is not Ready`;
  if (account.node.unschedulable) return `node ${node} is cordoned`;
  if (account.capacity === 0) return `node ${node} reports no GPUs`;
  return undefined;
}

/** A reclaim that hits this lease, decided by the reclaim planner or by the platform team. */
export interface ReclaimHit {
  nodes: string[];
  whole: boolean;
  gpus: number;
  reason: "InternalDemand" | "NodeReclaimed";
  explanation: string;
}

export interface LeaseContext {
  snapshot: ClusterSnapshot;
  accounts: Map<string, NodeAccount>;
  quota: QuotaView | undefined;
  pods: PodView[];
  decision: AdmissionDecision | undefined;
  reclaimHit?: ReclaimHit | undefined;
}

export function planLease(lease: LeaseView, ctx: LeaseContext): LeasePlan {
  const boundPods = ctx.pods.filter(podHoldsGpus);
  const plan: LeasePlan = {
    lease,
    status: { ...lease.status, observedGeneration: lease.generation },
    events: [],
    evict: [],
    notify: [],
    noticeGiven: false,
    retire: false,
    wakeAt: undefined,
  };
  const { decision } = ctx;
  if (keepsWaitingUnchanged(lease, decision, boundPods)) return { ...plan, status: lease.status };
  const phase = plan.status.phase;
  if (lease.deleting) planDeleted(plan, boundPods, ctx.snapshot.now);
  else if (phase === "Ended") evictAll(plan, boundPods, plan.status.endReason ?? "Expired");
  else if (phase === "Active" || phase === "Reclaiming") planRunning(plan, ctx, boundPods);
  else if (decision?.kind === "admit") planAdmitted(plan, decision, ctx.snapshot);
  else if (decision?.kind === "reject") planRejected(plan, decision.refusal, ctx.snapshot.now);
  else if (decision?.kind === "wait") planWaiting(plan, decision.refusal, ctx.snapshot.now);
  plan.status.boundPods = boundPods.length;
  return plan;
}

/** A Pending lease that keeps waiting for the same reason is left exactly as it is. */
function keepsWaitingUnchanged(
  lease: LeaseView,
  decision: AdmissionDecision | undefined,
  boundPods: PodView[],
): boolean {
  return (
    !lease.deleting &&
    decision?.kind === "wait" &&
    lease.status.phase === "Pending" &&
    lease.status.reason === decision.refusal.reason &&
    lease.status.message === decision.refusal.message &&
    lease.status.observedGeneration === lease.generation &&
    (lease.status.boundPods ?? 0) === boundPods.length
  );
}

function evictAll(plan: LeasePlan, boundPods: PodView[], reason: EndReason): void {
  for (const pod of boundPods) plan.evict.push({ pod, reason, force: false });
}

/** A deleted lease ends as Released; it may retire once no pod of it holds GPUs. */
function planDeleted(plan: LeasePlan, boundPods: PodView[], now: number): void {
  const { lease } = plan;
  if (plan.status.phase !== "Ended") {
    plan.status = endStatus(
      lease,
      plan.status,
      "Released",
      now,
      "the lease was deleted; its pods are being evicted",
      now,
    );
    plan.events.push(
      leaseEvent(lease, "Normal", "Released", "lease deleted: evicting its pods and freeing its GPUs"),
    );
  }
  evictAll(plan, boundPods, "Released");
  plan.retire = boundPods.length === 0;
}

/**
 * An Active or Reclaiming lease: it expires, loses vanished nodes, gets or serves a reclaim notice;
 * while it still runs, its expiry warning, readiness and usage are kept current.
 */
function planRunning(plan: LeasePlan, ctx: LeaseContext, boundPods: PodView[]): void {
  const { lease, status } = plan;
  const now = ctx.snapshot.now;
  const admittedAt = Date.parse(status.admittedAt ?? "");
  const durationMs = effectiveDurationMs(ctx.quota, lease);
  const expiresAt =
    durationMs === undefined || Number.isNaN(admittedAt) ? undefined : admittedAt + durationMs;
  status.expiresAt = expiresAt === undefined ? undefined : iso(expiresAt);
  if (durationMs !== undefined && expiresAt !== undefined && now >= expiresAt) {
    plan.status = endStatus(
      lease,
      status,
      "Expired",
      expiresAt,
      `the lease expired after ${formatDuration(durationMs)}`,
      now,
    );
    plan.events.push(
      leaseEvent(lease, "Normal", "Expired", `lease expired at ${iso(expiresAt)}; evicting its pods`),
    );
    evictAll(plan, boundPods, "Expired");
  } else {
    loseVanishedNodes(plan, ctx.accounts, boundPods, now);
    if (plan.status.phase === "Active" && ctx.reclaimHit) {
      plan.status = giveNotice(lease, plan.status, ctx.reclaimHit, ctx.quota, now);
      plan.noticeGiven = true;
      plan.events.push(leaseEvent(lease, "Warning", "ReclaimNotice", plan.status.message ?? ""));
    }
    if (plan.status.phase === "Reclaiming") {
      const outcome = reclaimStep(lease, plan.status, boundPods, ctx.snapshot);
      plan.status = outcome.status;
      plan.evict.push(...outcome.evict);
      plan.notify.push(...outcome.notify);
      plan.events.push(...outcome.events);
      plan.wakeAt = outcome.wakeAt;
    }
  }
  if (plan.status.phase !== "Active" && plan.status.phase !== "Reclaiming") return;
  if (expiresAt !== undefined) warnOfExpiry(plan, expiresAt, ctx.snapshot);
  reportNodeHealth(plan, ctx.accounts, now);
  meterUsage(plan, admittedAt, ctx.snapshot);
}

/** Allocations on nodes that no longer exist end; with none left the lease ends as NodeLost. */
function loseVanishedNodes(
  plan: LeasePlan,
  accounts: Map<string, NodeAccount>,
  boundPods: PodView[],
  now: number,
): void {
  const lost = (plan.status.allocations ?? []).filter((a) => !accounts.has(a.node));
  if (lost.length === 0) return;
  const outcome = loseNodes(plan.lease, plan.status, lost, now);
  plan.status = outcome.status;
  plan.events.push(outcome.event);
  if (plan.status.phase === "Ended") evictAll(plan, boundPods, "NodeLost");
}

/** ExpiringSoon from `expiryWarning` before the expiry; the plan wakes for the warning and the expiry. */
function warnOfExpiry(plan: LeasePlan, expiresAt: number, snapshot: ClusterSnapshot): void {
  const { status } = plan;
  const now = snapshot.now;
  const warnAt = expiresAt - snapshot.settings.expiryWarningMs;
  if (now < warnAt) {
    status.conditions = removeCondition(status.conditions, "ExpiringSoon");
    plan.wakeAt = earliest(plan.wakeAt, warnAt);
    return;
  }
  const message = `the lease expires at ${iso(expiresAt)}; its pods will be evicted then`;
  warnByCondition(
    plan,
    { type: "ExpiringSoon", status: "True", reason: "ExpiryNear", message },
    "ExpiringSoon",
    now,
  );
  plan.wakeAt = earliest(plan.wakeAt, expiresAt);
}

/** Ready=False (with an Event when it turns) while a node of the lease is gone, NotReady or cordoned. */
function reportNodeHealth(plan: LeasePlan, accounts: Map<string, NodeAccount>, now: number): void {
  const { lease, status } = plan;
  const problems = (status.allocations ?? [])
    .map((a) => nodeProblem(accounts.get(a.node), a.node))
    .filter((p): p is string => p !== undefined);
  const intruded = internalUseOn(status.allocations ?? [], accounts);
  if (problems.length === 0 && intruded.length > 0) {
    // A platform mistake (an internal pod tolerating the lent taint): the lease is told, not billed silently.
    const where = intruded.map((i) => `${i.gpus} on ${i.node}`).join(", ");
    const message = `internal pods hold GPUs on lent node(s) of this lease (${where}): its pods there may not get theirs; the platform team is told by an Event on the node`;
    warnByCondition(
      plan,
      { type: "Ready", status: "False", reason: "InternalPodOnNode", message },
      "InternalPodOnNode",
      now,
    );
    return;
  }
  if (problems.length === 0) {
    status.conditions = setCondition(
      status.conditions,
      placedCondition(status.allocations?.length ?? 0),
      now,
      lease.generation,
    );
    return;
  }
  const message = `${problems.join("; ")}: pods there cannot run until it recovers`;
  warnByCondition(
    plan,
    { type: "Ready", status: "False", reason: "NodeUnavailable", message },
    "NodeUnavailable",
    now,
  );
}

/** GPUs internal pods hold on the lease's lent nodes (none: the pool works as it should). */
function internalUseOn(
  allocations: { node: string }[],
  accounts: Map<string, NodeAccount>,
): { node: string; gpus: number }[] {
  return allocations
    .map((a) => accounts.get(a.node))
    .filter((account): account is NodeAccount => account?.node.lent === true && account.internalUsed > 0)
    .map((account) => ({ node: account.node.name, gpus: account.internalUsed }));
}

/** Sets the condition on the plan's status; a Warning Event announces it when the condition's status turns. */
export function warnByCondition(
  plan: LeasePlan,
  condition: ConditionInput,
  eventReason: string,
  now: number,
): void {
  const { lease, status } = plan;
  if (getCondition(status.conditions, condition.type)?.status !== condition.status) {
    plan.events.push(leaseEvent(lease, "Warning", eventReason, condition.message));
  }
  status.conditions = setCondition(status.conditions, condition, now, lease.generation);
}

/** Usage and charges up to the last metering instant; the plan wakes for the next one. */
function meterUsage(plan: LeasePlan, admittedAt: number, snapshot: ClusterSnapshot): void {
  const { status } = plan;
  const intervalMs = snapshot.settings.meteringIntervalMs;
  const at = meteringInstant(snapshot.now, intervalMs);
  const gpuSeconds = leaseGpuSeconds(status, Math.max(at, admittedAt));
  const perHour = parseMoneyMicros(status.pricing?.perGpuHour);
  status.usage = {
    gpuSeconds,
    closedGpuSeconds: status.usage?.closedGpuSeconds ?? 0,
    charges: formatMoney(chargeMicros(gpuSeconds, perHour)),
  };
  if (intervalMs > 0) plan.wakeAt = earliest(plan.wakeAt, at + intervalMs);
}

function placedCondition(nodes: number) {
  return {
    type: "Ready",
    status: "True",
    reason: "Placed",
    message: `GPUs allocated on ${nodes} node(s)`,
  } as const;
}

/** An admitted lease becomes Active on its placement, at the price in force now. */
function planAdmitted(
  plan: LeasePlan,
  decision: Extract<AdmissionDecision, { kind: "admit" }>,
  snapshot: ClusterSnapshot,
): void {
  const { lease } = plan;
  const now = snapshot.now;
  const { placement, quota } = decision;
  const durationMs = effectiveDurationMs(quota, lease);
  const nodes = placement.allocations.map((a) => `${a.node} (${a.gpus})`).join(", ");
  const message = `admitted: ${lease.spec.gpus} GPUs on ${nodes}`;
  let conditions = setCondition(
    plan.status.conditions,
    { type: "Admitted", status: "True", reason: "Admitted", message },
    now,
    lease.generation,
  );
  conditions = setCondition(conditions, placedCondition(placement.allocations.length), now, lease.generation);
  plan.status = {
    ...plan.status,
    phase: "Active",
    reason: "Admitted",
    message,
    conditions,
    allocations: placement.allocations.map((a) => ({ node: a.node, gpus: a.gpus, since: iso(now) })),
    allocatedNodes: placement.allocations.length,
    admittedAt: iso(now),
    expiresAt: durationMs === undefined ? undefined : iso(now + durationMs),
    pricing: {
      perGpuHour: priceFor(lease.spec.class, quota.spec.pricing),
      currency: quota.spec.pricing.currency,
    },
    usage: { gpuSeconds: 0, closedGpuSeconds: 0, charges: "0.00" },
  };
  plan.events.push(leaseEvent(lease, "Normal", "Admitted", message));
  if (durationMs !== undefined)
    plan.wakeAt = now + Math.max(0, durationMs - snapshot.settings.expiryWarningMs);
}

/** A lease that can never be admitted ends as Rejected. */
function planRejected(plan: LeasePlan, refusal: Refusal, now: number): void {
  const { lease } = plan;
  const { reason, message } = refusal;
  plan.status = endStatus(
    lease,
    { ...plan.status, conditions: notAdmitted(plan, refusal, now) },
    "Rejected",
    now,
    message,
    now,
  );
  plan.status.reason = reason;
  plan.events.push(leaseEvent(lease, "Warning", "Rejected", message));
}

/** A lease that must wait stays Pending with the reason; an Event when the reason changes. */
function planWaiting(plan: LeasePlan, refusal: Refusal, now: number): void {
  const { lease } = plan;
  const { reason, message } = refusal;
  if (plan.status.reason !== reason || plan.status.phase !== "Pending") {
    plan.events.push(
      leaseEvent(
        lease,
        reason === "InsufficientCapacity" || reason === "QuotaExceeded" ? "Normal" : "Warning",
        reason,
        message,
      ),
    );
  }
  plan.status = {
    ...plan.status,
    phase: "Pending",
    reason,
    message,
    conditions: notAdmitted(plan, refusal, now),
  };
}

/** The lease's conditions with Admitted=False for the refusal. */
function notAdmitted(plan: LeasePlan, refusal: Refusal, now: number): Condition[] {
  return setCondition(
    plan.status.conditions,
    { type: "Admitted", status: "False", reason: refusal.reason, message: refusal.message },
    now,
    plan.lease.generation,
  );
}

/**
 * The desired status of one lease, and what must happen to its pods, given the admission decision for
 * it (when it was Pending) and the snapshot. Pure.
 */

import { formatDuration } from "../api/duration.ts";
import { DEFAULT_RECLAIM_NOTICE_MS, type EndReason, type GpuLeaseStatus } from "../api/index.ts";
import { ANNOTATION_RECLAIM_DEADLINE } from "../api/labels.ts";
import { type NodeAccount, podHoldsGpus } from "./accounting.ts";
import type { AdmissionDecision } from "./admission.ts";
import { removeCondition, setCondition } from "./conditions.ts";
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
import { effectiveDurationMs } from "./quota-rules.ts";

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

function leaseEvent(
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

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
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
  const { snapshot, accounts, quota, pods, decision } = ctx;
  const now = snapshot.now;
  const gen = lease.generation;
  let status: GpuLeaseStatus = { ...lease.status, observedGeneration: gen };
  const events: PlannedEvent[] = [];
  const evict: LeasePlan["evict"] = [];
  const notify: PodNotice[] = [];
  let noticeGiven = false;
  let retire = false;
  let wakeAt: number | undefined;
  const boundPods = pods.filter(podHoldsGpus);
  // Fast path: a lease that keeps waiting for the same reason is left exactly as it is.
  if (
    !lease.deleting &&
    decision?.kind === "wait" &&
    lease.status.phase === "Pending" &&
    lease.status.reason === decision.refusal.reason &&
    lease.status.message === decision.refusal.message &&
    lease.status.observedGeneration === gen &&
    (lease.status.boundPods ?? 0) === boundPods.length
  ) {
    return { lease, status: lease.status, events, evict, notify, noticeGiven, retire, wakeAt };
  }

  if (lease.deleting) {
    if (status.phase !== "Ended") {
      status = endStatus(
        lease,
        status,
        "Released",
        now,
        "the lease was deleted; its pods are being evicted",
        now,
      );
      events.push(
        leaseEvent(lease, "Normal", "Released", "lease deleted: evicting its pods and freeing its GPUs"),
      );
    }
    for (const pod of boundPods) evict.push({ pod, reason: "Released", force: false });
    retire = boundPods.length === 0;
  } else if (status.phase === "Ended") {
    for (const pod of boundPods) evict.push({ pod, reason: status.endReason ?? "Expired", force: false });
  } else if (status.phase === "Active" || status.phase === "Reclaiming") {
    const admittedAt = Date.parse(status.admittedAt ?? "");
    const durationMs = effectiveDurationMs(quota, lease);
    const expiresAt =
      durationMs === undefined || Number.isNaN(admittedAt) ? undefined : admittedAt + durationMs;
    status.expiresAt = expiresAt === undefined ? undefined : iso(expiresAt);
    if (expiresAt !== undefined && now >= expiresAt) {
      status = endStatus(
        lease,
        status,
        "Expired",
        expiresAt,
        `the lease expired after ${formatDuration(durationMs ?? 0)}`,
        now,
      );
      events.push(
        leaseEvent(lease, "Normal", "Expired", `lease expired at ${iso(expiresAt)}; evicting its pods`),
      );
      for (const pod of boundPods) evict.push({ pod, reason: "Expired", force: false });
    } else {
      const lost = (status.allocations ?? []).filter((a) => !accounts.has(a.node));
      if (lost.length > 0) {
        const outcome = loseNodes(lease, status, lost, now);
        status = outcome.status;
        events.push(outcome.event);
        if (status.phase === "Ended")
          for (const pod of boundPods) evict.push({ pod, reason: "NodeLost", force: false });
      }
      if (status.phase === "Active" && ctx.reclaimHit) {
        status = giveNotice(lease, status, ctx.reclaimHit, quota, now);
        noticeGiven = true;
        events.push(leaseEvent(lease, "Warning", "ReclaimNotice", status.message ?? ""));
      }
      if (status.phase === "Reclaiming") {
        const outcome = reclaimStep(lease, status, boundPods, snapshot);
        status = outcome.status;
        evict.push(...outcome.evict);
        notify.push(...outcome.notify);
        events.push(...outcome.events);
        wakeAt = outcome.wakeAt;
      }
    }
    if (status.phase === "Active" || status.phase === "Reclaiming") {
      if (expiresAt !== undefined) {
        const warnAt = expiresAt - snapshot.settings.expiryWarningMs;
        if (now >= warnAt) {
          const message = `the lease expires at ${iso(expiresAt)}; its pods will be evicted then`;
          if (status.conditions?.find((c) => c.type === "ExpiringSoon")?.status !== "True") {
            events.push(leaseEvent(lease, "Warning", "ExpiringSoon", message));
          }
          status.conditions = setCondition(
            status.conditions,
            { type: "ExpiringSoon", status: "True", reason: "ExpiryNear", message },
            now,
            gen,
          );
          wakeAt = earliest(wakeAt, expiresAt);
        } else {
          status.conditions = removeCondition(status.conditions, "ExpiringSoon");
          wakeAt = earliest(wakeAt, warnAt);
        }
      }
      const problems = (status.allocations ?? [])
        .map((a) => nodeProblem(accounts.get(a.node), a.node))
        .filter((p): p is string => p !== undefined);
      const wasReady = status.conditions?.find((c) => c.type === "Ready")?.status;
      if (problems.length > 0) {
        const message = `${problems.join("; ")}: pods there cannot run until it recovers`;
        if (wasReady !== "False") events.push(leaseEvent(lease, "Warning", "NodeUnavailable", message));
        status.conditions = setCondition(
          status.conditions,
          { type: "Ready", status: "False", reason: "NodeUnavailable", message },
          now,
          gen,
        );
      } else {
        status.conditions = setCondition(
          status.conditions,
          {
            type: "Ready",
            status: "True",
            reason: "Placed",
            message: `GPUs allocated on ${status.allocations?.length ?? 0} node(s)`,
          },
          now,
          gen,
        );
      }
      const at = meteringInstant(now, snapshot.settings.meteringIntervalMs);
      const gpuSeconds = leaseGpuSeconds(status, Math.max(at, admittedAt));
      const perHour = parseMoneyMicros(status.pricing?.perGpuHour);
      status.usage = {
        gpuSeconds,
        closedGpuSeconds: status.usage?.closedGpuSeconds ?? 0,
        charges: formatMoney(chargeMicros(gpuSeconds, perHour)),
      };
      if (snapshot.settings.meteringIntervalMs > 0) {
        const nextMeter = at + snapshot.settings.meteringIntervalMs;
        wakeAt = wakeAt === undefined ? nextMeter : Math.min(wakeAt, nextMeter);
      }
    }
  } else if (decision?.kind === "admit") {
    const { placement, quota: admittedQuota } = decision;
    const durationMs = effectiveDurationMs(admittedQuota, lease);
    const nodes = placement.allocations.map((a) => `${a.node} (${a.gpus})`).join(", ");
    const message = `admitted: ${lease.spec.gpus} GPUs on ${nodes}`;
    let conditions = setCondition(
      status.conditions,
      { type: "Admitted", status: "True", reason: "Admitted", message },
      now,
      gen,
    );
    conditions = setCondition(
      conditions,
      {
        type: "Ready",
        status: "True",
        reason: "Placed",
        message: `GPUs allocated on ${placement.allocations.length} node(s)`,
      },
      now,
      gen,
    );
    status = {
      ...status,
      phase: "Active",
      reason: "Admitted",
      message,
      conditions,
      allocations: placement.allocations.map((a) => ({ node: a.node, gpus: a.gpus, since: iso(now) })),
      allocatedNodes: placement.allocations.length,
      admittedAt: iso(now),
      expiresAt: durationMs === undefined ? undefined : iso(now + durationMs),
      pricing: {
        perGpuHour: priceFor(lease.spec.class, admittedQuota.spec.pricing),
        currency: admittedQuota.spec.pricing.currency,
      },
      usage: { gpuSeconds: 0, closedGpuSeconds: 0, charges: "0.00" },
    };
    events.push(leaseEvent(lease, "Normal", "Admitted", message));
    if (durationMs !== undefined) wakeAt = now + Math.max(0, durationMs - snapshot.settings.expiryWarningMs);
  } else if (decision?.kind === "reject") {
    const { reason, message } = decision.refusal;
    status = endStatus(
      lease,
      {
        ...status,
        conditions: setCondition(
          status.conditions,
          { type: "Admitted", status: "False", reason, message },
          now,
          gen,
        ),
      },
      "Rejected",
      now,
      message,
      now,
    );
    status.reason = reason;
    events.push(leaseEvent(lease, "Warning", "Rejected", message));
  } else if (decision?.kind === "wait") {
    const { reason, message } = decision.refusal;
    if (status.reason !== reason || status.phase !== "Pending") {
      events.push(
        leaseEvent(
          lease,
          reason === "InsufficientCapacity" || reason === "QuotaExceeded" ? "Normal" : "Warning",
          reason,
          message,
        ),
      );
    }
    status = {
      ...status,
      phase: "Pending",
      reason,
      message,
      conditions: setCondition(
        status.conditions,
        { type: "Admitted", status: "False", reason, message },
        now,
        gen,
      ),
    };
  }
  status.boundPods = boundPods.length;
  return { lease, status, events, evict, notify, noticeGiven, retire, wakeAt };
}

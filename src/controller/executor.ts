/**
 * Runs a plan's actions against the API server: the pure batch selector picks what fits this pass's
 * write budget; each action starts as soon as its prerequisites are done (action-scheduler.ts), and one
 * whose prerequisite did not succeed is skipped (the next pass replans it). The ordering rules are the plan's (src/core/plan-actions.ts); this file only runs,
 * classifies errors, and records what was done.
 */
import { type Batch, selectBatch, type WriteBudget } from "../core/batch-selector.ts";
import type { PodView } from "../core/model.ts";
import { type PlanAction, quotaLimitsFor } from "../core/plan-actions.ts";
import type { ClusterPlan } from "../core/planner.ts";
import { ApiError, ConflictError, NotFoundError, NotLeaderError } from "../kube/errors.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { Caches, ClusterWriter } from "../kube/writers.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { runWhenReady } from "./action-scheduler.ts";
import { tenantOf } from "./log-context.ts";

export type { Caches };

/** What the executor reads of a plan: its actions, and the reclaims behind them (for metrics and logs). */
export type ExecutablePlan = Pick<ClusterPlan, "actions" | "reclaims" | "hopelessDemand">;

export interface ExecutionResult {
  /** The plan had more writes than one pass carries out: replan at once for the rest. */
  truncated: boolean;
  writes: number;
  conflicts: number;
  failures: unknown[];
  /** Actions not run because a prerequisite failed in this pass. */
  skipped: number;
  /** Evictions refused with 429 (a PodDisruptionBudget or rate limiting). */
  blockedEvictions: number;
  /** Ids of the actions that succeeded. */
  succeeded: ReadonlySet<string>;
  /** Writes sent, by kind of action (for the pass's log line). */
  writesByKind: Record<string, number>;
  /** Actions left for the next pass. */
  deferred: number;
  /** Actions not run because urgent work came in (`shouldYield`): the next pass replans them. */
  yielded: number;
}

/** Default write budget of one pass: urgent writes keep promises with deadlines, so they get more. */
export const DEFAULT_BUDGET: WriteBudget = { urgent: 256, other: 128 };

/** The log fields of an action: lease, tenant, node and pod where they apply. */
function subjectOf(action: PlanAction): Record<string, string | undefined> {
  switch (action.kind) {
    case "lendNode":
    case "nodeChange":
      return { node: action.change.node };
    case "resourceQuota":
    case "priorityQuota":
      return { namespace: action.quota.namespace };
    case "limitRange":
      return { namespace: action.limitRange.namespace };
    case "tenantAdmission":
      return { namespace: action.namespace };
    case "leaseStatus":
    case "addFinalizer":
    case "removeFinalizer":
      return { namespace: action.lease.namespace, lease: action.lease.name };
    case "podNotice":
      return {
        namespace: action.notice.pod.namespace,
        pod: action.notice.pod.name,
        lease: action.lease.name,
        node: action.notice.pod.nodeName,
      };
    case "eviction":
      return {
        namespace: action.pod.namespace,
        pod: action.pod.name,
        lease: action.lease.name,
        node: action.pod.nodeName,
      };
    case "orphanEviction":
      return { namespace: action.pod.namespace, pod: action.pod.name, node: action.pod.nodeName };
    case "binding":
      return {
        namespace: action.binding.pod.namespace,
        pod: action.binding.pod.name,
        lease: action.lease.name,
        node: action.binding.node,
      };
    case "quotaStatus":
      return { tenantQuota: action.quota.name };
    case "event":
      return { namespace: action.event.namespace, name: action.event.name };
    case "kueueCheck":
      return { namespace: action.write.namespace, workload: action.write.name };
    case "admissionCheckActive":
      return { admissionCheck: action.name };
  }
}

/** A bind the API server refused as invalid (400, 422): retrying at once would be refused again. */
export interface BindRefusal {
  pod: PodView;
  lease: string;
  node: string;
  message: string;
}

const isRefusedBind = (action: PlanAction, error: unknown): boolean =>
  action.kind === "binding" &&
  error instanceof ApiError &&
  (error.statusCode === 400 || error.statusCode === 422);

export class PlanExecutor {
  /** Told of each refused bind (the shell backs the pod off and tells it why, once). */
  onBindRefused: ((refusal: BindRefusal) => void) | undefined;
  /**
   * Asked before each action after the urgent waves: true when something urgent happened since the
   * pass was planned (internal demand), so the pass stops and the next one plans it at once, instead
   * of finishing a wave of bindings or metering writes first.
   */
  shouldYield: (() => boolean) | undefined;

  constructor(
    private readonly writer: ClusterWriter,
    private readonly events: EventRecorder,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly concurrency = 16,
    private readonly budget: WriteBudget = DEFAULT_BUDGET,
  ) {}

  /** The batch this executor would run for a plan (for tests and the status command). */
  select(plan: ExecutablePlan): Batch {
    return selectBatch(plan.actions, this.budget);
  }

  async execute(plan: ExecutablePlan): Promise<ExecutionResult> {
    const batch = this.select(plan);
    const succeeded = new Set<string>();
    const inBatch = new Set(batch.waves.flat().map((a) => a.id));
    const result = {
      truncated: batch.deferred > 0,
      writes: 0,
      conflicts: 0,
      failures: [] as unknown[],
      skipped: 0,
      blockedEvictions: 0,
      writesByKind: {} as Record<string, number>,
      deferred: batch.deferred,
      yielded: 0,
    };
    const attempt = async (action: PlanAction, urgent: boolean): Promise<void> => {
      if (!urgent && this.shouldYield?.() === true) {
        result.yielded++;
        return;
      }
      if (!action.requires.every((id) => succeeded.has(id))) {
        result.skipped++;
        return;
      }
      try {
        const outcome = await this.run(action, inBatch);
        if (outcome === "blocked") result.blockedEvictions++;
        if (action.kind !== "event" && outcome !== "unchanged") {
          result.writes++;
          result.writesByKind[action.kind] = (result.writesByKind[action.kind] ?? 0) + 1;
        }
        succeeded.add(action.id);
      } catch (error) {
        const fields = this.logFields(action);
        if (error instanceof ConflictError) {
          result.conflicts++;
          this.log.debug(fields, "conflict: will replan");
        } else if (error instanceof NotFoundError) {
          this.log.debug(fields, "object gone: will replan");
        } else if (error instanceof NotLeaderError) {
          // Leadership lost: the new leader replans; not a failure to retry or warn about.
          this.log.debug(fields, "not the leader: write not sent");
        } else if (action.kind === "binding" && isRefusedBind(action, error) && this.onBindRefused) {
          // One pod's problem, not the pass's: that pod backs off; the others go on.
          this.onBindRefused({
            pod: action.binding.pod,
            lease: action.lease.name,
            node: action.binding.node,
            message: (error as ApiError).status.message ?? String(error),
          });
        } else {
          result.failures.push(error);
          this.log.warn({ ...fields, err: String(error) }, "write failed");
        }
      }
    };
    // The urgent actions (reclaim statuses, notices, due evictions) all go out before anything else
    // starts. Each action starts when its own prerequisites are done, not when its wave is.
    for (const urgent of [true, false]) {
      const waves = urgent ? batch.waves.slice(0, batch.urgentWaves) : batch.waves.slice(batch.urgentWaves);
      // Evictions wait on the API server (PDBs, the pod update) and a reclaim's pods share one
      // deadline: four times the usual concurrency; urgent writes share a deadline too, as wide.
      const limits = [this.concurrency * 4, urgent ? this.concurrency * 4 : this.concurrency];
      const scheduled = waves.flat().map((action) => ({
        item: action,
        id: action.id,
        requires: action.requires,
        lane: action.kind === "eviction" || action.kind === "orphanEviction" ? 0 : 1,
      }));
      await runWhenReady(scheduled, limits, (action) => attempt(action, urgent));
    }
    this.recordOutcome(plan, succeeded);
    if (result.yielded > 0) result.truncated = true;
    return { ...result, succeeded };
  }

  /** One action. Returns how it went where that matters to metrics. */
  private async run(
    action: PlanAction,
    inBatch: ReadonlySet<string>,
  ): Promise<"done" | "unchanged" | "blocked"> {
    const writer = this.writer;
    switch (action.kind) {
      case "lendNode":
      case "nodeChange": {
        const { returningSince } = await writer.changeNode(action.change);
        if (returningSince !== undefined)
          this.metrics.gpuReturnLatency.observe((Date.now() - returningSince) / 1000);
        return "done";
      }
      case "resourceQuota": {
        const hard = quotaLimitsFor(action, inBatch);
        if (writer.resourceQuotaUpToDate(action.quota.namespace, hard)) return "unchanged";
        await writer.ensureResourceQuota(action.quota.namespace, hard);
        return "done";
      }
      case "limitRange":
        await writer.ensureLimitRange(action.limitRange.namespace, action.limitRange.defaultRequest);
        return "done";
      case "priorityQuota":
        await writer.ensurePriorityQuota(action.quota.namespace, action.quota.allowedClasses);
        return "done";
      case "tenantAdmission":
        await writer.writeTenantAdmission(action.namespace, action.value, action.create);
        return "done";
      case "leaseStatus":
        await writer.writeLeaseStatus(action.lease.namespace, action.lease.name, action.status);
        return "done";
      case "addFinalizer":
        await writer.addFinalizer(action.lease.namespace, action.lease.name);
        return "done";
      case "removeFinalizer":
        await writer.removeFinalizer(action.lease.namespace, action.lease.name);
        return "done";
      case "quotaStatus":
        await writer.writeQuotaStatus(action.quota.name, action.status);
        return "done";
      case "podNotice":
        await writer.noticePod(action.notice.pod, action.notice.deadline, action.notice.message);
        return "done";
      case "binding":
        await writer.bindPod(action.binding.pod, action.binding.node);
        return "done";
      case "eviction":
        return this.evict(action);
      case "orphanEviction":
        return this.evictOrphan(action);
      case "event":
        this.events.enqueue(action.event);
        return "done";
      case "kueueCheck":
        await writer.writeKueueCheck(action.write);
        this.log.info(
          { ...this.logFields(action), check: action.write.check, state: action.write.state },
          `admission check ${action.write.check}: ${action.write.state}: ${action.write.message}`,
        );
        return "done";
      case "admissionCheckActive":
        await writer.activateAdmissionCheck(action.name);
        return "done";
    }
  }

  private async evict(action: Extract<PlanAction, { kind: "eviction" }>): Promise<"done" | "blocked"> {
    // Armed ahead of its deadline: sent the moment it passes, never before. A timer may fire a
    // millisecond early, so the clock decides, not the timer.
    while (action.notBefore !== undefined && Date.now() < action.notBefore) {
      await new Promise((r) => setTimeout(r, Math.max(1, (action.notBefore ?? 0) - Date.now())));
    }
    const { pod, lease } = action;
    const outcome = action.force ? await this.writer.deletePod(pod) : await this.writer.evict(pod);
    this.metrics.evictions.inc({ reason: action.reason, outcome });
    if ((outcome === "evicted" || outcome === "deleted") && action.reason === "Reclaimed") {
      const reclaim = lease.status.reclaim;
      const now = Date.now();
      const requested = Date.parse(reclaim?.requestedAt ?? "");
      const deadline = Date.parse(reclaim?.deadline ?? "");
      if (!Number.isNaN(requested)) this.metrics.noticeLeadTime.observe((now - requested) / 1000);
      if (!Number.isNaN(deadline)) this.metrics.evictionDelay.observe(Math.max(0, (now - deadline) / 1000));
      this.log.info(
        {
          ...this.logFields(action),
          what: "reclaim eviction",
          deadline: reclaim?.deadline,
          afterDeadlineMs: now - deadline,
          outcome,
        },
        "reclaim eviction",
      );
    }
    return outcome === "blocked" ? "blocked" : "done";
  }

  /** A tenant pod with no right to its lent node: evicted, or deleted once the eviction grace is over. */
  private async evictOrphan(
    action: Extract<PlanAction, { kind: "orphanEviction" }>,
  ): Promise<"done" | "blocked" | "unchanged"> {
    const { pod } = action;
    const outcome = action.force ? await this.writer.deletePod(pod) : await this.writer.evict(pod);
    if (outcome === "skipped") return "unchanged";
    this.metrics.evictions.inc({ reason: "Orphaned", outcome });
    this.log.warn(
      { ...this.logFields(action), why: action.why, outcome },
      `orphan pod on a lent node ${action.force ? "deleted" : "evicted"}: ${action.why}`,
    );
    return outcome === "blocked" ? "blocked" : "done";
  }

  /** Metrics and log lines of what was written (never of what was only planned). */
  private recordOutcome(plan: ExecutablePlan, succeeded: ReadonlySet<string>): void {
    const timed = new Set<string>();
    for (const action of plan.actions) {
      if (action.kind !== "leaseStatus" || !succeeded.has(action.id)) continue;
      const { lease, status } = action;
      if (action.transition === "admitted") {
        this.metrics.admissionWait.observe(Math.max(0, (Date.now() - lease.createdAt) / 1000));
      }
      if (action.transition !== "noticeGiven") continue;
      this.metrics.notices.inc({ reason: status.reason ?? "Reclaim" });
      // Each reclaim timed once, from its demand first seen Unschedulable to its first notice written.
      const decision = plan.reclaims.find((d) => d.hits.some((h) => h.lease.uid === lease.uid));
      if (!decision || timed.has(decision.demand.key)) continue;
      timed.add(decision.demand.key);
      this.metrics.reclaimReaction.observe(Math.max(0, (Date.now() - decision.demand.since) / 1000));
      this.metrics.gpusReclaimed.inc({ reason: "InternalDemand" }, decision.gpusEvicted);
      this.log.info(
        {
          demand: decision.demand.key,
          nodes: decision.nodes,
          leases: decision.hits.map((h) => `${h.lease.namespace}/${h.lease.name}`),
          tenants: [
            ...new Set(
              decision.hits.map((h) => tenantOf(this.writer.caches.namespaces, h.lease.namespace) ?? ""),
            ),
          ],
          gpusEvicted: decision.gpusEvicted,
          reactionMs: Date.now() - decision.demand.since,
        },
        decision.explanation,
      );
    }
    for (const hopeless of plan.hopelessDemand) {
      this.log.debug({ demand: hopeless.demand.key }, `no reclaim: ${hopeless.reason}`);
    }
  }

  /** An action's log fields, with the tenant its namespace belongs to. */
  private logFields(action: PlanAction): Record<string, string> {
    const fields: Record<string, string> = { what: action.kind };
    const subject = subjectOf(action);
    for (const [key, value] of Object.entries(subject)) if (value !== undefined) fields[key] = value;
    const tenant = subject.tenantQuota ?? tenantOf(this.writer.caches.namespaces, subject.namespace);
    if (tenant !== undefined) fields.tenant = tenant;
    return fields;
  }
}

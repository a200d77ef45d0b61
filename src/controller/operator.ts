/**
 * The operator: informer caches feed one work queue; its "plan" key runs the pure planner over a
 * snapshot of the caches and hands the plan to the executor. Level-triggered: every pass reads the
 * whole current state, so a crash or a missed event at any point is repaired by the next pass.
 */
import { randomUUID } from "node:crypto";
import { LABEL_TENANT } from "../api/labels.ts";
import { convertSettings, type OperatorConfig, poolSettings } from "../config/operator-config.ts";
import { afterBindRefusal, type BindBackoff } from "../core/bind-order.ts";
import { sameJson } from "../core/equality.ts";
import { IncrementalPlanner } from "../core/incremental-planner.ts";
import type { ClusterSnapshot, MalformedObject } from "../core/model.ts";
import type { ClusterPlan } from "../core/planner.ts";
import { planReclaimFirst } from "../core/reclaim-first-plan.ts";
import { TENANT_ADMISSION_CONFIGMAP } from "../core/tenant-priority.ts";
import { jobPodsAtOnce, slimJob, slimNode, slimPod } from "../kube/convert.ts";
import { NotLeaderError } from "../kube/errors.ts";
import { EventRecorder } from "../kube/events.ts";
import { Informer } from "../kube/informer.ts";
import { kueuePaths } from "../kube/kueue.ts";
import { type KubeObject, type KubeRest, paths } from "../kube/rest.ts";
import { ClusterWriter } from "../kube/writers.ts";
import { type Logger, withLogContext } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { type BindRefusal, PlanExecutor } from "./executor.ts";
import { eventLogFields } from "./log-context.ts";
import { PodTimeOverlay } from "./pod-time-overlay.ts";
import { ReferenceCheck } from "./reference-check.ts";
import { SnapshotBuilder } from "./snapshot.ts";
import { WorkQueue } from "./workqueue.ts";

const CONTROLLER = "gpulease";
const PLAN = "plan";
/** A pass that writes only what new internal demand needs at once (reclaim-first-plan.ts). */
const RECLAIM_FIRST = "reclaim-first";

export class Operator {
  readonly informers: {
    nodes: Informer;
    pods: Informer;
    namespaces: Informer;
    leases: Informer;
    quotas: Informer;
    resourceQuotas: Informer;
    limitRanges: Informer;
    jobs: Informer;
    roleBindings: Informer;
    tenantAdmission: Informer;
    /** Kueue's objects, only where Kueue is installed (see kueueInstalled). */
    workloads?: Informer;
    admissionChecks?: Informer;
    resourceFlavors?: Informer;
  };
  readonly queue: WorkQueue<string>;
  private readonly executor: PlanExecutor;
  private readonly writer: ClusterWriter;
  private readonly events: EventRecorder;
  private readonly snapshots: SnapshotBuilder;
  private readonly reportedMalformed = new Map<string, string>();
  private readonly unschedulableSeen = new Map<string, number>();
  private readonly podTimes = new PodTimeOverlay();
  /** When each orphan pod (by uid) was first seen: its grace runs from there, across passes. */
  private orphansSince = new Map<string, number>();
  /** Gated pods whose bind was refused, by uid: when to try again, and what they were told. */
  private readonly bindBackoff = new Map<string, BindBackoff>();
  /** The misplaced tenant bindings last logged (logged on change). */
  private reportedBindings = "";
  /** What the reclaim planner last logged about nodes it cannot count as free (logged on change). */
  private reportedNotFree = "";
  /** Internal demand appeared since the running pass was planned: that pass stops after its urgent writes. */
  private demandArrived = false;
  /** Plans each pass from the previous one's unchanged parts (incremental-planner.ts). */
  private readonly planner = new IncrementalPlanner();
  private readonly referenceCheck: ReferenceCheck;
  private resyncTimer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(
    rest: KubeRest,
    private readonly config: OperatorConfig,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    options: { kueue?: boolean } = {},
  ) {
    const watchdogMs = config.watchdogTimeout;
    const informerLog = (
      level: "debug" | "info" | "warn",
      message: string,
      fields?: Record<string, unknown>,
    ) => log[level](fields ?? {}, message);
    const make = (
      name: string,
      path: string,
      labelSelector?: string,
      transform?: (o: KubeObject) => KubeObject,
    ) =>
      new Informer(name, rest, path, {
        watchdogMs,
        log: informerLog,
        onRestart: (reason) => metrics.informerRestarts.inc({ informer: name, reason }),
        // Back from a broken watch: plan at once (a write that failed meanwhile waits for no retry timer).
        onResync: () => this.queue.add(PLAN),
        labelSelector,
        ...(transform ? { transform } : {}),
      });
    this.informers = {
      nodes: make("nodes", paths.nodes(), undefined, slimNode),
      pods: make("pods", paths.pods(), undefined, slimPod),
      namespaces: make("namespaces", paths.namespaces()),
      leases: make("gpuleases", paths.gpuLeases()),
      quotas: make("tenantquotas", paths.tenantQuotas()),
      resourceQuotas: make("resourcequotas", paths.resourceQuotas(), "app.kubernetes.io/managed-by=gpulease"),
      limitRanges: make("limitranges", paths.limitRanges(), "app.kubernetes.io/managed-by=gpulease"),
      // Only how many pods each Job runs at once: a Job's demand is planned as soon as all exist.
      jobs: make("jobs", paths.jobs(), undefined, slimJob),
      // Only to report a tenant's users bound in namespaces without the tenant label.
      roleBindings: make("rolebindings", paths.roleBindings()),
      // The priority allow-list the validating policy reads: kept equal to the configuration.
      tenantAdmission: new Informer(
        "tenant-admission",
        rest,
        paths.namespacedConfigMaps(config.leaderElection.namespace),
        {
          watchdogMs,
          log: informerLog,
          onRestart: (reason) => metrics.informerRestarts.inc({ informer: "tenant-admission", reason }),
          onResync: () => this.queue.add(PLAN),
          // RBAC grants this one ConfigMap by name: a list or watch must name it too.
          fieldSelector: `metadata.name=${TENANT_ADMISSION_CONFIGMAP}`,
        },
      ),
      // gpulease's Kueue AdmissionCheck controller: Workloads waiting on its checks are demand.
      ...(options.kueue
        ? {
            workloads: make("workloads", kueuePaths.workloads()),
            admissionChecks: make("admissionchecks", kueuePaths.admissionChecks()),
            resourceFlavors: make("resourceflavors", kueuePaths.resourceFlavors()),
          }
        : {}),
    };
    // Informer callbacks only enqueue: the plan reads the caches when it runs. Node and pod updates
    // that change nothing the planner reads (kubelet heartbeats, container statuses) are ignored:
    // with a thousand nodes they would otherwise replan several times a second for nothing.
    const convert = convertSettings(config);
    // When each pod was first seen Unschedulable, to the millisecond (the condition's own time has
    // one-second precision): the start of the reclaim reaction clock.
    this.informers.pods.onChange((type, object) => {
      const uid = object.metadata?.uid;
      if (!uid) return;
      if (type === "delete") {
        this.unschedulableSeen.delete(uid);
        return;
      }
      const conditions =
        (object.status as { conditions?: { type: string; status: string; reason?: string }[] } | undefined)
          ?.conditions ?? [];
      const unschedulable = conditions.some(
        (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
      );
      if (unschedulable && !this.unschedulableSeen.has(uid)) {
        this.unschedulableSeen.set(uid, Date.now());
        if (this.isInternalGpuPod(object)) {
          this.demandArrived = true;
          this.queue.add(RECLAIM_FIRST);
        }
      } else if (!unschedulable) this.unschedulableSeen.delete(uid);
    });
    // After the handler above: a pod's new demand queues its reclaim-first pass before the whole plan
    // that the same event queues (the queue starts the first key it gets at once).
    // The views are the snapshot's own (converted once per resourceVersion, then reused by the next
    // snapshot), compared field by field: no strings built for every kubelet update.
    const relevant: Partial<Record<keyof Operator["informers"], (o: KubeObject) => unknown>> = {
      nodes: (o) => this.snapshots.nodeView(o),
      pods: (o) => this.snapshots.podView(o),
      jobs: (o) => jobPodsAtOnce(o),
    };
    for (const [name, informer] of Object.entries(this.informers)) {
      const view = relevant[name as keyof Operator["informers"]];
      informer.onChange((type, object, old) => {
        if (view && type === "update" && old && sameJson(view(old), view(object))) return;
        this.queue.add(PLAN);
      });
    }
    this.queue = new WorkQueue<string>({
      workers: 1,
      baseDelayMs: config.retry.baseDelay,
      maxDelayMs: config.retry.maxDelay,
      process: (key) => this.reconcile(key),
      // New demand's reclaim-first pass never waits behind a queued whole plan.
      isUrgent: (key) => key === RECLAIM_FIRST,
      hooks: {
        onAdd: () => metrics.workqueueAdds.inc({ name: CONTROLLER, controller: CONTROLLER }),
        onDepth: (depth) => metrics.workqueueDepth.set({ name: CONTROLLER, controller: CONTROLLER }, depth),
        onQueueLatency: (s) =>
          metrics.workqueueQueueDuration.observe({ name: CONTROLLER, controller: CONTROLLER }, s),
        onWorkDuration: (s) =>
          metrics.workqueueWorkDuration.observe({ name: CONTROLLER, controller: CONTROLLER }, s),
        onRetry: () => metrics.workqueueRetries.inc({ name: CONTROLLER, controller: CONTROLLER }),
      },
    });
    this.events = new EventRecorder(rest, {
      onQueued: (event) => log.info(eventLogFields(this.informers.namespaces, event), event.message),
      onDropped: () => metrics.eventsDropped.inc(),
      onBacklog: (size) => metrics.eventBacklog.set(size),
    });
    // After an outage the next pass runs as soon as the API server answers, whatever the backoff
    // of the failed passes had grown to: an eviction due during the outage goes out at once.
    rest.onRecovered(() => {
      if (!this.started) return;
      this.queue.forget(PLAN);
      this.queue.add(PLAN);
    });
    this.referenceCheck = new ReferenceCheck(config.referenceCheckInterval);
    this.writer = new ClusterWriter(rest, this.informers, log);
    this.executor = new PlanExecutor(this.writer, this.events, log, metrics);
    this.executor.onBindRefused = (refusal) => this.backOffBind(refusal);
    this.executor.shouldYield = () => this.demandArrived;
    this.snapshots = new SnapshotBuilder(
      {
        ...this.informers,
        tenantAdmission: {
          informer: this.informers.tenantAdmission,
          namespace: config.leaderElection.namespace,
        },
        ...(this.informers.workloads && this.informers.admissionChecks && this.informers.resourceFlavors
          ? {
              kueue: {
                workloads: this.informers.workloads,
                admissionChecks: this.informers.admissionChecks,
                flavors: this.informers.resourceFlavors,
              },
            }
          : {}),
      },
      convert,
      poolSettings(config),
    );
  }

  /** Starts the caches (not the work). */
  startCaches(): void {
    for (const informer of Object.values(this.informers)) informer.start();
  }

  async waitForCaches(): Promise<void> {
    await Promise.all(Object.values(this.informers).map((i) => i.waitForSync()));
  }

  get cachesSynced(): boolean {
    return Object.values(this.informers).every((i) => i.synced);
  }

  /** Informers whose watch has been down longer than the watchdog: their cache may be stale. */
  disconnectedCaches(): string[] {
    const limitMs = this.config.watchdogTimeout;
    return Object.values(this.informers)
      .filter((i) => i.disconnectedMs > limitMs)
      .map((i) => i.name);
  }

  /** Starts the caches and the work (the single replica, or the leader). */
  async start(): Promise<void> {
    this.startCaches();
    await this.startWork();
  }

  /** Starts working once the caches are synced (called when this replica becomes the leader). */
  async startWork(): Promise<void> {
    await this.waitForCaches();
    this.started = true;
    this.queue.start();
    this.queue.add(PLAN);
    const resyncMs = this.config.resyncPeriod;
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.queue.add(PLAN), resyncMs);
      this.resyncTimer.unref();
    }
    this.log.info(
      { caches: Object.fromEntries(Object.entries(this.informers).map(([k, i]) => [k, i.store.size])) },
      "operator started",
    );
  }

  /** Stops taking work, lets in-flight writes finish, stops the caches. */
  async stop(): Promise<void> {
    await this.stopWork();
    for (const informer of Object.values(this.informers)) informer.stop();
  }

  /** Stops taking work and lets in-flight writes finish; the caches keep running. */
  async stopWork(): Promise<void> {
    clearInterval(this.resyncTimer);
    await this.queue.shutdown();
    // Give queued Events a moment to go out; they are best effort.
    await Promise.race([this.events.flush(), new Promise((r) => setTimeout(r, 3000).unref())]);
    this.started = false;
  }

  get working(): boolean {
    return this.started;
  }

  /** One pass; every line logged during it (here, in the executor, for its Events) carries its ID. */
  private reconcile(key: string): Promise<void> {
    return withLogContext({ controller: CONTROLLER, reconcileID: randomUUID() }, () =>
      key === RECLAIM_FIRST ? this.reclaimFirst() : this.planAndExecute(key),
    );
  }

  /** The snapshot a pass plans from, with what the operator itself remembers between passes. */
  private snapshotNow(pass: "whole" | "reclaim-first" = "whole"): {
    snapshot: ClusterSnapshot;
    malformed: MalformedObject[];
  } {
    const { snapshot, malformed } = this.snapshots.build(Date.now(), { noteVanished: pass === "whole" });
    // The views are shared with the view cache: a pod whose time the operator knows better is copied.
    const pods = this.podTimes.apply(snapshot.pods, this.unschedulableSeen);
    this.forgetBindBackoffs(snapshot.pods);
    return {
      // A copy: a refused bind during this pass's writes must not change what this pass planned from
      // (the reference check plans the same snapshot again afterwards).
      snapshot: {
        ...snapshot,
        pods,
        orphansSince: this.orphansSince,
        bindBackoff: new Map(this.bindBackoff),
      },
      malformed,
    };
  }

  /**
   * New internal demand: its reclaim's statuses and notices go out before anything else is planned,
   * then the whole plan follows (queued at once). A failure here is left to that whole plan.
   */
  private async reclaimFirst(): Promise<void> {
    const started = performance.now();
    this.demandArrived = false;
    try {
      const plan = planReclaimFirst(this.snapshotNow("reclaim-first").snapshot);
      if (plan.actions.length > 0) {
        const outcome = await this.executor.execute(plan);
        this.log.debug(
          { writes: outcome.writes, ms: Math.round(performance.now() - started) },
          "reclaim-first pass executed",
        );
      }
    } catch (error) {
      if (!(error instanceof NotLeaderError))
        this.log.warn(
          { err: error instanceof Error ? error.message : String(error) },
          "reclaim-first pass failed",
        );
    } finally {
      this.queue.forget(RECLAIM_FIRST);
      this.queue.add(PLAN);
    }
  }

  /**
   * Every referenceCheckInterval, after a pass's writes: plans the same snapshot from scratch and
   * reports a difference from the incremental plan. The next pass then plans from scratch.
   */
  private checkAgainstReference(snapshot: ClusterSnapshot, plan: ClusterPlan): void {
    const result = this.referenceCheck.run(Date.now(), snapshot, plan);
    if (!result) return;
    this.metrics.referenceChecks.inc();
    if (result.part === undefined) {
      this.log.debug({ ms: result.ms }, "incremental plan matches the reference");
      return;
    }
    this.metrics.planDivergences.inc({ part: result.part });
    this.log.error(
      { part: result.part, at: result.at, ms: result.ms },
      "incremental plan differs from the reference plan: planning from scratch from the next pass",
    );
    this.planner.reset();
  }

  private async planAndExecute(key: string): Promise<void> {
    const log = this.log;
    const started = performance.now();
    this.metrics.activeWorkers.set({ controller: CONTROLLER }, 1);
    try {
      // New demand waiting for its reclaim-first pass goes first; this whole plan runs right after it.
      if (this.queue.isQueued(RECLAIM_FIRST)) {
        this.queue.add(PLAN);
        return;
      }
      // This pass sees all demand so far; only demand arriving from here on makes it yield.
      this.demandArrived = false;
      const { snapshot, malformed } = this.snapshotNow();
      const plan = this.planner.plan(snapshot);
      const reuse = this.planner.lastStats();
      this.metrics.planReuse.inc({ source: "reused" }, reuse.leasePlansReused);
      this.metrics.planReuse.inc({ source: "computed" }, reuse.leasePlansComputed);
      this.orphansSince = new Map(plan.orphans.map((o) => [o.pod.uid, o.since]));
      this.snapshots.forgetVanished(plan.settledVanished);
      this.reportNotFree(plan);
      this.reportTenantBindings(plan);
      this.updateGauges(plan, snapshot.leases, snapshot.namespaces);
      for (const quota of snapshot.quotas) {
        const usage = quota.status.usage;
        if (!usage) continue;
        this.metrics.tenantGpuSeconds.set({ tenant: quota.name }, Number(usage.gpuHours ?? 0) * 3600);
        this.metrics.tenantCharges.set(
          { tenant: quota.name, currency: usage.currency ?? "" },
          Number(usage.charges ?? 0),
        );
      }
      const outcome = await this.executor.execute(plan);
      // Never while new demand waits for its reclaim: the check is a whole plan on the event loop.
      if (!this.demandArrived && !this.queue.isQueued(RECLAIM_FIRST))
        this.checkAgainstReference(snapshot, plan);
      await this.reportMalformed(malformed);
      if (outcome.writes > 0 || outcome.conflicts > 0) {
        log.debug(
          {
            writes: outcome.writes,
            byKind: outcome.writesByKind,
            deferred: outcome.deferred,
            yielded: outcome.yielded,
            skipped: outcome.skipped,
            conflicts: outcome.conflicts,
            ms: Math.round(performance.now() - started),
          },
          "plan executed",
        );
      }
      if (outcome.failures.length > 0) {
        this.metrics.reconcileTotal.inc({ controller: CONTROLLER, result: "error" });
        this.metrics.reconcileErrors.inc({ controller: CONTROLLER });
        this.queue.addRateLimited(key);
      } else if (outcome.conflicts > 0) {
        // A conflict means the cache is behind a write; the watch event re-adds the key. Retry soon anyway.
        this.metrics.reconcileTotal.inc({ controller: CONTROLLER, result: "requeue" });
        this.queue.addRateLimited(key);
      } else {
        this.metrics.reconcileTotal.inc({ controller: CONTROLLER, result: "success" });
        this.queue.forget(key);
      }
      if (plan.wakeAt !== undefined) this.queue.addAfter(PLAN, Math.max(1, plan.wakeAt - Date.now() + 5));
      if (outcome.truncated) this.queue.add(PLAN);
    } catch (error) {
      if (error instanceof NotLeaderError) {
        // Leadership lost mid-pass: the work is stopping and the new leader replans.
        log.debug({ err: error.message }, "plan abandoned: not the leader");
        return;
      }
      this.metrics.reconcileTotal.inc({ controller: CONTROLLER, result: "error" });
      this.metrics.reconcileErrors.inc({ controller: CONTROLLER });
      log.error({ err: error instanceof Error ? error.stack : String(error) }, "plan failed");
      this.queue.addRateLimited(key);
    } finally {
      this.metrics.activeWorkers.set({ controller: CONTROLLER }, 0);
      this.metrics.reconcileTime.observe({ controller: CONTROLLER }, (performance.now() - started) / 1000);
    }
  }

  /** A pod asking for GPUs outside every tenant namespace: the owner's own demand. */
  private isInternalGpuPod(object: KubeObject): boolean {
    const pod = this.snapshots.podView(object);
    if (!Object.values(pod.gpus).some((n) => n > 0)) return false;
    const namespace = this.informers.namespaces.get(pod.namespace);
    const labels = (namespace?.metadata?.labels ?? {}) as Record<string, string>;
    return labels[LABEL_TENANT] === undefined;
  }

  /** A lease or quota the parser refuses is reported on its status and in an Event, once per problem. */
  private async reportMalformed(malformed: MalformedObject[]): Promise<void> {
    for (const object of malformed) {
      const key = `${object.kind}/${object.namespace ?? ""}/${object.name}`;
      const message = object.errors.join("; ");
      if (this.reportedMalformed.get(key) === message) continue;
      this.reportedMalformed.set(key, message);
      this.log.warn(
        { kind: object.kind, namespace: object.namespace, name: object.name, errors: object.errors },
        "malformed object ignored",
      );
      try {
        if (object.kind === "GpuLease" && object.namespace) {
          await this.writer.reportMalformedLease(object.namespace, object.name, object.errors);
        }
        this.events.enqueue({
          kind: object.kind,
          ...(object.namespace ? { namespace: object.namespace } : {}),
          name: object.name,
          type: "Warning",
          reason: "Malformed",
          message: `the operator cannot read this object and ignores it: ${message}`,
        });
      } catch (error) {
        // Not the leader: the leader reports it, and so will this replica if it leads again.
        if (error instanceof NotLeaderError) this.reportedMalformed.delete(key);
        else this.log.warn({ err: String(error) }, "could not report a malformed object");
      }
    }
  }

  /**
   * A refused bind: the pod waits (5 s, doubling to 5 min) while the others are bound, and is told
   * why once per reason, by a Warning Event and its GpuLeaseBound=False condition.
   */
  private backOffBind(refusal: BindRefusal): void {
    const { pod } = refusal;
    const { backoff, tell } = afterBindRefusal(this.bindBackoff.get(pod.uid), refusal.message, Date.now());
    this.bindBackoff.set(pod.uid, backoff);
    this.metrics.bindRefusals.inc();
    if (!tell) return;
    const failures = backoff.failures;
    const message = `cannot bind the pod to node ${refusal.node} of lease ${refusal.lease}: the API server refused the affinity and gate change (${refusal.message}); the pod stays gated and is retried with backoff`;
    this.log.warn(
      { namespace: pod.namespace, pod: pod.name, lease: refusal.lease, node: refusal.node, failures },
      message,
    );
    this.events.enqueue({
      kind: "Pod",
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      type: "Warning",
      reason: "BindRefused",
      message,
    });
    this.writer
      .setPodCondition(pod, { type: "GpuLeaseBound", status: "False", reason: "BindRefused", message })
      .catch((error: unknown) => this.log.debug({ err: String(error), pod: pod.name }, "condition not set"));
  }

  /** Backoffs of pods no longer gated (bound, or gone) are dropped. */
  private forgetBindBackoffs(pods: { uid: string; gated: boolean }[]): void {
    if (this.bindBackoff.size === 0) return;
    const gated = new Set(pods.filter((p) => p.gated).map((p) => p.uid));
    for (const uid of this.bindBackoff.keys()) if (!gated.has(uid)) this.bindBackoff.delete(uid);
  }

  /** Tenant users bound outside the tenant's namespaces: a warning each time the list changes. */
  private reportTenantBindings(plan: ClusterPlan): void {
    const found = plan.tenantBindingsOutside;
    this.metrics.tenantBindingsOutside.set(found.length);
    const key = found
      .map((f) => `${f.binding.namespace}/${f.binding.name}:${f.subjects.join(",")}`)
      .join("\n");
    if (key === this.reportedBindings) return;
    this.reportedBindings = key;
    for (const f of found)
      this.log.warn(
        {
          tenant: f.tenant,
          namespace: f.binding.namespace,
          roleBinding: f.binding.name,
          subjects: f.subjects,
        },
        `tenant ${f.tenant}'s users are bound to ${f.binding.role} in namespace ${f.binding.namespace}, which has no gpulease.io/tenant label`,
      );
  }

  /** The reclaim planner's reasons for not counting a lent node as free, each time they change. */
  private reportNotFree(plan: ClusterPlan): void {
    const notFree = plan.reclaimNotFree;
    const key = notFree.join("\n");
    if (key === this.reportedNotFree) return;
    this.reportedNotFree = key;
    for (const line of notFree) this.log.warn({ what: "reclaim" }, line);
  }

  private updateGauges(
    plan: ClusterPlan,
    leases: { namespace: string; status: { phase?: string; reason?: string } }[],
    namespaces: { name: string; tenant?: string }[],
  ): void {
    this.metrics.nodeGpus.reset();
    for (const account of plan.accounts.values()) {
      if (!account.node.lendable && !account.node.lent) continue;
      this.metrics.nodeGpus.inc(
        { state: account.state, model: account.node.gpuModel ?? "unknown" },
        account.capacity,
      );
    }
    const owners = new Map(namespaces.map((n) => [n.name, n.tenant ?? ""]));
    this.metrics.internalPodsOnLentNodes.set(plan.internalOnLentNodes.reduce((n, i) => n + i.pods.length, 0));
    this.metrics.orphanPods.reset();
    for (const orphan of plan.orphans)
      this.metrics.orphanPods.inc({ tenant: owners.get(orphan.pod.namespace) ?? "" });
    this.metrics.countLeases(leases, (namespace) => owners.get(namespace) ?? "");
  }
}

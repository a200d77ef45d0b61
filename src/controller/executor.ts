/**
 * Carries out a ClusterPlan against the API server, phase by phase, in the order that keeps every
 * promise safe: nodes are tainted before leases are placed on them, lease statuses are written before
 * their pods are bound, ledgers before finalizers go. Every write is idempotent and carries the
 * resourceVersion it was computed from, so a stale plan fails with a conflict instead of overwriting.
 */
import {
  ANNOTATION_IDLE_SINCE,
  ANNOTATION_RECLAIM_DEADLINE,
  ANNOTATION_RETURNING,
  FINALIZER,
  LABEL_NODE_STATE,
  SCHEDULING_GATE,
  TAINT_LENT,
} from "../api/index.ts";
import { EVICTION_LEAD_MS } from "../core/lease-lifecycle.ts";
import type { PodView } from "../core/model.ts";
import type { NodeChange } from "../core/node-pool.ts";
import type { ClusterPlan } from "../core/planner.ts";
import { RESOURCE_QUOTA_NAME } from "../core/resource-quotas.ts";
import { ConflictError, NotFoundError, NotLeaderError, TooManyRequestsError } from "../kube/errors.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { Informer } from "../kube/informer.ts";
import { type KubeObject, type KubeRest, paths } from "../kube/rest.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { tenantOf } from "./log-context.ts";

export interface Caches {
  namespaces: Informer;
  nodes: Informer;
  pods: Informer;
  leases: Informer;
  quotas: Informer;
  resourceQuotas: Informer;
}

export interface ExecutionResult {
  /** The plan had more writes than one pass carries out: replan at once for the rest. */
  truncated: boolean;
  writes: number;
  conflicts: number;
  failures: unknown[];
  /** Evictions refused with 429 (a PodDisruptionBudget or rate limiting). */
  blockedEvictions: number;
}

type Json = Record<string, unknown>;

/** What one write is about; its log lines carry these fields, so an operator can grep by any of them. */
interface WriteSubject {
  what: string;
  namespace?: string;
  lease?: string;
  node?: string;
  pod?: string;
  tenantQuota?: string;
}

async function runLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  });
  await Promise.all(workers);
}

export class PlanExecutor {
  /** Pods evicted recently, so a replan before the watch shows them terminating does not evict twice. */
  private readonly evicted = new Map<string, number>();

  constructor(
    private readonly rest: KubeRest,
    private readonly caches: Caches,
    private readonly events: EventRecorder,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly concurrency = 16,
    private readonly batch = 64,
  ) {}

  async execute(plan: ClusterPlan): Promise<ExecutionResult> {
    const result: ExecutionResult = {
      truncated: false,
      writes: 0,
      conflicts: 0,
      failures: [],
      blockedEvictions: 0,
    };
    // A pass carries out a bounded batch of each kind of write, reclaim notices first, so that new
    // demand (an internal pod that cannot schedule) is planned within one short pass, not after
    // thousands of pod bindings.
    const cap = <T>(items: T[], batch = this.batch): T[] => {
      if (items.length <= batch) return items;
      result.truncated = true;
      return items.slice(0, batch);
    };
    const urgent = (phase: string | undefined) => (phase === "Reclaiming" ? 0 : 1);
    plan = {
      ...plan,
      leaseStatuses: cap(
        [...plan.leaseStatuses].sort((a, b) => urgent(a.status.phase) - urgent(b.status.phase)),
      ),
      bindings: cap(plan.bindings),
      // Due evictions and notices keep a promise made to a tenant: a larger share of a pass.
      evictions: cap(plan.evictions, this.batch * 4),
      notices: cap(plan.notices, this.batch * 4),
    };
    const guard = async (subject: WriteSubject, write: () => Promise<void>) => {
      try {
        await write();
        result.writes++;
      } catch (error) {
        const fields = this.logFields(subject);
        if (error instanceof ConflictError) {
          result.conflicts++;
          this.log.debug(fields, "conflict: will replan");
        } else if (error instanceof NotFoundError) {
          this.log.debug(fields, "object gone: will replan");
        } else if (error instanceof NotLeaderError) {
          // Leadership lost: the new leader replans; not a failure to retry or warn about.
          this.log.debug(fields, "not the leader: write not sent");
        } else {
          result.failures.push(error);
          this.log.warn({ ...fields, err: String(error) }, "write failed");
        }
      }
    };

    await runLimited(plan.lendNodes, this.concurrency, (c) =>
      guard({ what: "lend node", node: c.node }, () => this.changeNode(c)),
    );
    // A lease placed on a node whose taint failed must not be written: it would be promised GPUs that
    // internal pods can still take.
    const untainted = new Set(plan.lendNodes.filter((c) => !this.isLent(c.node)).map((c) => c.node));
    const statuses = plan.leaseStatuses.filter(
      (s) =>
        !(s.status.allocations ?? []).some((a) => untainted.has(a.node) && s.lease.status.phase !== "Active"),
    );
    // Quotas first: a tenant who sees its lease Active can create its pods at once. Pods created
    // earlier stay gated until the lease is Active, so a quota raised a moment early admits nothing.
    await runLimited(
      plan.resourceQuotas.filter((q) => !this.resourceQuotaUpToDate(q.namespace, q.hard)),
      this.concurrency,
      (q) =>
        guard({ what: "ResourceQuota", namespace: q.namespace }, () =>
          this.ensureResourceQuota(q.namespace, q.hard),
        ),
    );
    const written = new Set<string>();
    const leaseEvents = new Map<string, typeof plan.events>();
    const statusUids = new Set(statuses.map((st) => st.lease.uid));
    const otherEvents: typeof plan.events = [];
    for (const event of plan.events) {
      if (event.kind === "GpuLease" && event.uid !== undefined && statusUids.has(event.uid)) {
        leaseEvents.set(event.uid, [...(leaseEvents.get(event.uid) ?? []), event]);
      } else otherEvents.push(event);
    }
    await runLimited(statuses, this.concurrency, (s) =>
      guard({ what: "lease status", namespace: s.lease.namespace, lease: s.lease.name }, async () => {
        await this.writeLeaseStatus(s.lease.namespace, s.lease.name, s.status);
        written.add(`${s.lease.namespace}/${s.lease.name}`);
        // The lease's own Events go right after its status, so a crash leaves the smallest gap.
        for (const event of leaseEvents.get(s.lease.uid) ?? []) this.events.enqueue(event);
        if (
          s.status.phase === "Active" &&
          s.lease.status.phase !== "Active" &&
          s.lease.status.phase !== "Reclaiming"
        ) {
          this.metrics.admissionWait.observe(Math.max(0, (Date.now() - s.lease.createdAt) / 1000));
        }
      }),
    );
    await runLimited(plan.addFinalizers, this.concurrency, (l) =>
      guard({ what: "add finalizer", namespace: l.namespace, lease: l.name }, () =>
        this.addFinalizer(l.namespace, l.name),
      ),
    );
    // Notices actually written: count them, and time each reclaim once, from the moment its demand
    // was first seen Unschedulable to the moment its first notice was written.
    const timed = new Set<string>();
    for (const lease of plan.noticesGiven) {
      if (!written.has(`${lease.namespace}/${lease.name}`)) continue;
      this.metrics.notices.inc({ reason: lease.status.reason ?? "Reclaim" });
      const decision = plan.reclaims.find((d) => d.hits.some((h) => h.lease.uid === lease.uid));
      if (decision && !timed.has(decision.demand.key)) {
        timed.add(decision.demand.key);
        this.metrics.reclaimReaction.observe(Math.max(0, (Date.now() - decision.demand.since) / 1000));
        this.metrics.gpusReclaimed.inc({ reason: "InternalDemand" }, decision.gpusEvicted);
        this.log.info(
          {
            demand: decision.demand.key,
            nodes: decision.nodes,
            leases: decision.hits.map((h) => `${h.lease.namespace}/${h.lease.name}`),
            tenants: [...new Set(decision.hits.map((h) => this.tenantOf(h.lease.namespace) ?? ""))],
            gpusEvicted: decision.gpusEvicted,
            reactionMs: Date.now() - decision.demand.since,
          },
          decision.explanation,
        );
      }
    }
    for (const hopeless of plan.hopelessDemand) {
      this.log.debug({ demand: hopeless.demand.key }, `no reclaim: ${hopeless.reason}`);
    }
    await runLimited(plan.notices, this.concurrency, (n) =>
      guard(
        {
          what: "reclaim notice",
          namespace: n.pod.namespace,
          pod: n.pod.name,
          lease: n.lease.name,
          node: n.pod.nodeName,
        },
        async () => {
          await this.noticePod(n.pod, n.deadline, n.message);
          this.events.enqueue({
            kind: "Pod",
            namespace: n.pod.namespace,
            name: n.pod.name,
            uid: n.pod.uid,
            type: "Warning",
            reason: "ReclaimNotice",
            message: `lease ${n.lease.name}: ${n.message}`,
          });
        },
      ),
    );
    // Evictions armed ahead of their deadline wait for it here, so they go out the moment it passes
    // (and never before); the others go at once. Four times the usual concurrency: a reclaim of many
    // pods shares one deadline, and each eviction waits on the API server (PDBs, the pod update).
    await runLimited(plan.evictions, this.concurrency * 4, async (e) => {
      // A timer may fire a millisecond early: check the clock, not the timer.
      while (e.notBefore !== undefined && Date.now() < e.notBefore) {
        const wait = Math.min(e.notBefore - Date.now(), EVICTION_LEAD_MS);
        await new Promise((r) => setTimeout(r, Math.max(1, wait)));
      }
      await guard(
        {
          what: e.force ? "delete pod" : "evict pod",
          namespace: e.pod.namespace,
          pod: e.pod.name,
          lease: e.lease.name,
          node: e.pod.nodeName,
        },
        async () => {
          const outcome = e.force ? await this.deletePod(e.pod) : await this.evict(e.pod);
          this.metrics.evictions.inc({ reason: e.reason, outcome });
          if (outcome === "blocked") result.blockedEvictions++;
          if ((outcome === "evicted" || outcome === "deleted") && e.reason === "Reclaimed") {
            const reclaim = e.lease.status.reclaim;
            const now = Date.now();
            const requested = Date.parse(reclaim?.requestedAt ?? "");
            const deadline = Date.parse(reclaim?.deadline ?? "");
            if (!Number.isNaN(requested)) this.metrics.noticeLeadTime.observe((now - requested) / 1000);
            if (!Number.isNaN(deadline))
              this.metrics.evictionDelay.observe(Math.max(0, (now - deadline) / 1000));
            this.log.info(
              {
                ...this.logFields({
                  what: "reclaim eviction",
                  namespace: e.pod.namespace,
                  pod: e.pod.name,
                  lease: e.lease.name,
                  node: e.pod.nodeName,
                }),
                deadline: reclaim?.deadline,
                afterDeadlineMs: now - deadline,
                outcome,
              },
              "reclaim eviction",
            );
          }
        },
      );
    });
    // Pod bindings last among the pod writes: notices and evictions keep promises with deadlines.
    const failedStatus = new Set(
      statuses.map((s) => `${s.lease.namespace}/${s.lease.name}`).filter((key) => !written.has(key)),
    );
    const bindings = plan.bindings.filter((b) => !failedStatus.has(`${b.lease.namespace}/${b.lease.name}`));
    await runLimited(bindings, this.concurrency, (b) =>
      guard(
        { what: "bind pod", namespace: b.pod.namespace, pod: b.pod.name, lease: b.lease.name, node: b.node },
        async () => {
          await this.bindPod(b.pod, b.node);
          this.events.enqueue({
            kind: "Pod",
            namespace: b.pod.namespace,
            name: b.pod.name,
            uid: b.pod.uid,
            type: "Normal",
            reason: "BoundToLease",
            message: `bound to node ${b.node} of lease ${b.lease.name}`,
          });
        },
      ),
    );
    await runLimited(plan.nodeChanges, this.concurrency, (c) =>
      guard({ what: "node state", node: c.node }, () => this.changeNode(c)),
    );
    const ledgersWritten = new Set<string>();
    await runLimited(plan.quotaStatuses, this.concurrency, (q) =>
      guard({ what: "TenantQuota status", tenantQuota: q.quota.name }, async () => {
        await this.writeQuotaStatus(q.quota.name, q.status);
        ledgersWritten.add(q.quota.name);
      }),
    );
    await runLimited(plan.removeFinalizers, this.concurrency, (l) =>
      guard({ what: "remove finalizer", namespace: l.namespace, lease: l.name }, () =>
        this.removeFinalizer(l.namespace, l.name),
      ),
    );
    for (const event of otherEvents) this.events.enqueue(event);
    return result;
  }

  /** A write's log fields, with the tenant its namespace belongs to. */
  private logFields(subject: WriteSubject): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const [key, value] of Object.entries(subject)) if (value !== undefined) fields[key] = value;
    const tenant = subject.tenantQuota ?? this.tenantOf(subject.namespace);
    if (tenant !== undefined) fields.tenant = tenant;
    return fields;
  }

  private tenantOf(namespace: string | undefined): string | undefined {
    return tenantOf(this.caches.namespaces, namespace);
  }

  private isLent(node: string): boolean {
    const raw = this.caches.nodes.get(node);
    const taints = ((raw?.spec as Json | undefined)?.taints ?? []) as Json[];
    return taints.some((t) => t.key === TAINT_LENT);
  }

  async changeNode(change: NodeChange): Promise<void> {
    const raw = this.caches.nodes.get(change.node);
    if (!raw) throw new NotFoundError(404, {}, "PATCH", paths.node(change.node));
    const metadata: Json = { resourceVersion: raw.metadata?.resourceVersion };
    const patch: Json = { metadata };
    if (change.lent !== undefined) {
      const taints = (((raw.spec as Json | undefined)?.taints ?? []) as Json[]).filter(
        (t) => t.key !== TAINT_LENT,
      );
      if (change.lent) taints.push({ key: TAINT_LENT, value: "true", effect: "NoSchedule" });
      patch.spec = { taints };
    }
    const annotations: Record<string, string | null> = {};
    if (change.idleSince !== undefined) annotations[ANNOTATION_IDLE_SINCE] = change.idleSince;
    if (change.returning !== undefined) annotations[ANNOTATION_RETURNING] = change.returning;
    if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
    const since = Date.parse(
      ((raw.metadata?.annotations ?? {}) as Record<string, string>)[ANNOTATION_RETURNING] ?? "",
    );
    if (change.returning === null && !Number.isNaN(since))
      this.metrics.gpuReturnLatency.observe((Date.now() - since) / 1000);
    if (change.stateLabel !== undefined) metadata.labels = { [LABEL_NODE_STATE]: change.stateLabel };
    const updated = await this.rest.patch(paths.node(change.node), "merge", patch);
    this.caches.nodes.upsert(updated);
  }

  async writeLeaseStatus(namespace: string, name: string, status: Json | object): Promise<void> {
    const raw = this.caches.leases.get(`${namespace}/${name}`);
    if (!raw) throw new NotFoundError(404, {}, "PUT", paths.gpuLease(namespace, name));
    const updated = await this.rest.replace(`${paths.gpuLease(namespace, name)}/status`, { ...raw, status });
    this.caches.leases.upsert(updated);
  }

  async writeQuotaStatus(name: string, status: object): Promise<void> {
    const raw = this.caches.quotas.get(name);
    if (!raw) throw new NotFoundError(404, {}, "PUT", paths.tenantQuota(name));
    const updated = await this.rest.replace(`${paths.tenantQuota(name)}/status`, { ...raw, status });
    this.caches.quotas.upsert(updated);
  }

  private async finalizers(
    namespace: string,
    name: string,
    edit: (list: string[]) => string[],
  ): Promise<void> {
    const raw = this.caches.leases.get(`${namespace}/${name}`);
    if (!raw) throw new NotFoundError(404, {}, "PATCH", paths.gpuLease(namespace, name));
    const current = (raw.metadata?.finalizers as string[] | undefined) ?? [];
    const next = edit(current);
    if (next.length === current.length && next.every((f, i) => f === current[i])) return;
    const updated = await this.rest.patch(paths.gpuLease(namespace, name), "json", [
      { op: "test", path: "/metadata/resourceVersion", value: raw.metadata?.resourceVersion },
      { op: "add", path: "/metadata/finalizers", value: next },
    ]);
    this.caches.leases.upsert(updated);
  }

  addFinalizer(namespace: string, name: string): Promise<void> {
    return this.finalizers(namespace, name, (list) =>
      list.includes(FINALIZER) ? list : [...list, FINALIZER],
    );
  }

  removeFinalizer(namespace: string, name: string): Promise<void> {
    return this.finalizers(namespace, name, (list) => list.filter((f) => f !== FINALIZER));
  }

  /** The namespace's ResourceQuota (in the cache) already has these limits: nothing to write. */
  private resourceQuotaUpToDate(namespace: string, hard: Record<string, string>): boolean {
    const raw = this.caches.resourceQuotas.get(`${namespace}/${RESOURCE_QUOTA_NAME}`);
    if (!raw) return false;
    const current = ((raw.spec as Json | undefined)?.hard ?? {}) as Record<string, string>;
    return Object.entries(hard).every(([k, v]) => current[k] === v);
  }

  async ensureResourceQuota(namespace: string, hard: Record<string, string>): Promise<void> {
    const raw = this.caches.resourceQuotas.get(`${namespace}/${RESOURCE_QUOTA_NAME}`);
    if (!raw) {
      try {
        const created = await this.rest.create(paths.namespacedResourceQuotas(namespace), {
          apiVersion: "v1",
          kind: "ResourceQuota",
          metadata: {
            name: RESOURCE_QUOTA_NAME,
            namespace,
            labels: { "app.kubernetes.io/managed-by": "gpulease" },
          },
          spec: { hard },
        });
        this.caches.resourceQuotas.upsert(created);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error; // already exists: the watch will show it
      }
      return;
    }
    if (this.resourceQuotaUpToDate(namespace, hard)) return;
    const updated = await this.rest.patch(paths.resourceQuota(namespace, RESOURCE_QUOTA_NAME), "merge", {
      metadata: { resourceVersion: raw.metadata?.resourceVersion },
      spec: { hard },
    });
    this.caches.resourceQuotas.upsert(updated);
  }

  /**
   * Pins a gated pod to one node of its lease and removes the gate, in one update: on a gated pod the
   * API server allows narrowing its required node affinity and adding tolerations.
   */
  async bindPod(pod: PodView, node: string): Promise<void> {
    const raw = this.caches.pods.get(`${pod.namespace}/${pod.name}`);
    if (!raw) throw new NotFoundError(404, {}, "PATCH", paths.pod(pod.namespace, pod.name));
    const spec = (raw.spec ?? {}) as Json;
    const pin = { key: "metadata.name", operator: "In", values: [node] };
    const affinity = structuredClone((spec.affinity ?? {}) as Json);
    const nodeAffinity = (affinity.nodeAffinity ?? {}) as Json;
    const required = (nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution ?? undefined) as
      | Json
      | undefined;
    const terms = ((required?.nodeSelectorTerms ?? []) as Json[]).map((term) => ({
      ...term,
      matchFields: [...((term.matchFields ?? []) as Json[]).filter((f) => f.key !== "metadata.name"), pin],
    }));
    nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {
      nodeSelectorTerms: terms.length > 0 ? terms : [{ matchFields: [pin] }],
    };
    affinity.nodeAffinity = nodeAffinity;
    const gates = ((spec.schedulingGates ?? []) as Json[]).filter((g) => g.name !== SCHEDULING_GATE);
    const tolerations = (spec.tolerations ?? []) as Json[];
    const ops: Json[] = [
      { op: "test", path: "/metadata/resourceVersion", value: raw.metadata?.resourceVersion },
      { op: "add", path: "/spec/affinity", value: affinity },
      gates.length > 0
        ? { op: "replace", path: "/spec/schedulingGates", value: gates }
        : { op: "remove", path: "/spec/schedulingGates" },
    ];
    if (!tolerations.some((t) => t.key === TAINT_LENT)) {
      // Clusters without the mutating policy (Kubernetes < 1.36): tolerations may be added to a pod.
      ops.push({
        op: "add",
        path: "/spec/tolerations",
        value: [...tolerations, { key: TAINT_LENT, operator: "Exists", effect: "NoSchedule" }],
      });
    }
    const updated = await this.rest.patch(paths.pod(pod.namespace, pod.name), "json", ops);
    this.caches.pods.upsert(updated);
  }

  /** Evicts through the Eviction API so PodDisruptionBudgets are honoured. */
  async evict(pod: PodView): Promise<"evicted" | "blocked" | "gone" | "skipped"> {
    const now = Date.now();
    const last = this.evicted.get(pod.uid);
    if (last !== undefined && now - last < 5_000) return "skipped";
    try {
      await this.rest.create(paths.eviction(pod.namespace, pod.name), {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name: pod.name, namespace: pod.namespace },
      });
      this.evicted.set(pod.uid, now);
      if (this.evicted.size > 50_000) this.evicted.clear();
      return "evicted";
    } catch (error) {
      if (error instanceof NotFoundError) return "gone";
      if (error instanceof TooManyRequestsError) return "blocked";
      throw error;
    }
  }

  /** Deletes a pod outright: a PodDisruptionBudget may delay a reclaim, never block it. */
  async deletePod(pod: PodView): Promise<"deleted" | "gone" | "skipped"> {
    const now = Date.now();
    const last = this.evicted.get(`delete/${pod.uid}`);
    if (pod.terminating || (last !== undefined && now - last < 5_000)) return "skipped";
    try {
      await this.rest.delete(paths.pod(pod.namespace, pod.name), { apiVersion: "v1", kind: "DeleteOptions" });
      this.evicted.set(`delete/${pod.uid}`, now);
      return "deleted";
    } catch (error) {
      if (error instanceof NotFoundError) return "gone";
      throw error;
    }
  }

  /**
   * Tells a pod its reclaim deadline: the annotation gpulease.io/reclaim-deadline (readable inside the
   * container through a downward API volume) and the pod condition DisruptionTarget.
   */
  async noticePod(pod: PodView, deadline: string, message: string): Promise<void> {
    // The condition goes first, so a pod that shows the annotation shows the condition too.
    const condition = {
      type: "DisruptionTarget",
      status: "True",
      reason: "ReclaimedByGpuLease",
      message: `${message}`.slice(0, 1000),
      lastTransitionTime: new Date().toISOString(),
    };
    try {
      const withCondition = await this.rest.patch(
        `${paths.pod(pod.namespace, pod.name)}/status`,
        "strategic",
        { status: { conditions: [condition] } },
      );
      this.caches.pods.upsert(withCondition);
    } catch (error) {
      if (error instanceof NotFoundError) return;
      // The annotation is the contract; the condition is a courtesy some API servers refuse.
      this.log.debug({ err: String(error), pod: pod.name }, "DisruptionTarget condition not set");
    }
    const updated = await this.rest.patch(paths.pod(pod.namespace, pod.name), "merge", {
      metadata: { annotations: { [ANNOTATION_RECLAIM_DEADLINE]: deadline } },
    });
    this.caches.pods.upsert(updated);
  }

  /** For malformed objects: a status the tenant can read, written without a parsed spec. */
  async reportMalformedLease(namespace: string, name: string, errors: string[]): Promise<void> {
    const raw = this.caches.leases.get(`${namespace}/${name}`) as KubeObject | undefined;
    if (!raw) return;
    const message = `the operator cannot read this lease: ${errors.join("; ")}`;
    const status = (raw.status ?? {}) as Json;
    if (status.reason === "Malformed" && status.message === message) return;
    const updated = await this.rest.patch(`${paths.gpuLease(namespace, name)}/status`, "merge", {
      status: { phase: "Pending", reason: "Malformed", message },
    });
    this.caches.leases.upsert(updated);
  }
}

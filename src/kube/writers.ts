/**
 * The operator's writes, one method per kind: each builds its patch from the cached object, carries
 * the resourceVersion it was computed from (a stale plan fails with a conflict instead of
 * overwriting), and puts the API server's answer straight into the cache, so the next plan never
 * double-books while the watch event is in flight. No ordering rules here: those are the plan's.
 */
import {
  ANNOTATION_IDLE_SINCE,
  ANNOTATION_LENT,
  ANNOTATION_RECLAIM_DEADLINE,
  ANNOTATION_RETURNING,
  FINALIZER,
  LABEL_NODE_STATE,
  SCHEDULING_GATE,
  TAINT_LENT,
} from "../api/index.ts";
import type { KueueCheckWrite } from "../core/kueue-check.ts";
import type { PodView } from "../core/model.ts";
import type { NodeChange } from "../core/node-pool.ts";
import { LIMIT_RANGE_NAME, QUOTA_CPU, RESOURCE_QUOTA_NAME } from "../core/resource-quotas.ts";
import {
  ALLOWED_PRIORITY_CLASSES_KEY,
  PRIORITY_QUOTA_NAME,
  priorityQuotaSpec,
  TENANT_ADMISSION_CONFIGMAP,
} from "../core/tenant-priority.ts";
import { ConflictError, NotFoundError, TooManyRequestsError } from "./errors.ts";
import type { Informer } from "./informer.ts";
import { activateAdmissionCheck, writeCheckState } from "./kueue.ts";
import { parseQuantity } from "./quantity.ts";
import { type KubeObject, type KubeRest, paths } from "./rest.ts";

export interface Caches {
  namespaces: Informer;
  nodes: Informer;
  pods: Informer;
  leases: Informer;
  quotas: Informer;
  resourceQuotas: Informer;
  /** The operator's LimitRanges (absent: the operator does not keep them). */
  limitRanges?: Informer;
  /** The ConfigMap gpulease-tenant-admission alone (absent: the operator does not keep it). */
  tenantAdmission?: Informer;
  /** Kueue's Workloads and AdmissionChecks (absent: Kueue is not installed). */
  workloads?: Informer;
  admissionChecks?: Informer;
}

type Json = Record<string, unknown>;

/** A quota limit as the API server wrote it back equals one in the operator's notation. */
function sameQuantity(key: string, written: string, desired: string): boolean {
  const scale = key === QUOTA_CPU ? 1000 : 1;
  return Math.round(parseQuantity(written) * scale) === Math.round(parseQuantity(desired) * scale);
}

export type EvictionOutcome = "evicted" | "blocked" | "gone" | "skipped";
export type DeletionOutcome = "deleted" | "gone" | "skipped";

export class ClusterWriter {
  /** Pods evicted recently, so a replan before the watch shows them terminating does not evict twice. */
  private readonly evicted = new Map<string, number>();

  constructor(
    private readonly rest: KubeRest,
    readonly caches: Caches,
    private readonly log: { debug: (fields: object, message: string) => void },
  ) {}

  /** Returns when the node's return started, if this change ends it (for the return-time metric). */
  async changeNode(change: NodeChange): Promise<{ returningSince: number | undefined }> {
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
    // The operator's own record of lending goes with the taint, so a taint removed by hand is seen.
    if (change.lent !== undefined) annotations[ANNOTATION_LENT] = change.lent ? "true" : null;
    if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
    const since = Date.parse(
      ((raw.metadata?.annotations ?? {}) as Record<string, string>)[ANNOTATION_RETURNING] ?? "",
    );
    if (change.stateLabel !== undefined) metadata.labels = { [LABEL_NODE_STATE]: change.stateLabel };
    const updated = await this.rest.patch(paths.node(change.node), "merge", patch);
    this.caches.nodes.upsert(updated);
    return { returningSince: change.returning === null && !Number.isNaN(since) ? since : undefined };
  }

  async writeLeaseStatus(namespace: string, name: string, status: Json | object): Promise<void> {
    const raw = this.caches.leases.get(`${namespace}/${name}`);
    if (!raw) throw new NotFoundError(404, {}, "PUT", paths.gpuLease(namespace, name));
    const updated = await this.rest.replace(`${paths.gpuLease(namespace, name)}/status`, { ...raw, status });
    this.caches.leases.upsert(updated);
  }

  /** A Workload's state for gpulease's AdmissionCheck (server-side apply of that entry alone). */
  async writeKueueCheck(write: KueueCheckWrite): Promise<void> {
    const updated = await writeCheckState(this.rest, write, new Date());
    this.caches.workloads?.upsert(updated);
  }

  async activateAdmissionCheck(name: string): Promise<void> {
    const updated = await activateAdmissionCheck(this.rest, name, new Date());
    this.caches.admissionChecks?.upsert(updated);
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

  /**
   * The namespace's ResourceQuota (in the cache) already has these limits: nothing to write. Compared
   * as quantities: the API server writes them back in canonical form ("1500m" CPU as "1500m", "2000m"
   * as "2", bytes with suffixes).
   */
  resourceQuotaUpToDate(namespace: string, hard: Record<string, string>): boolean {
    const raw = this.caches.resourceQuotas.get(`${namespace}/${RESOURCE_QUOTA_NAME}`);
    if (!raw) return false;
    const current = ((raw.spec as Json | undefined)?.hard ?? {}) as Record<string, string>;
    return Object.entries(hard).every(([k, v]) => current[k] !== undefined && sameQuantity(k, current[k], v));
  }

  /** Creates the namespace's LimitRange, or replaces its default requests. */
  async ensureLimitRange(namespace: string, defaultRequest: Record<string, string>): Promise<void> {
    const spec = { limits: [{ type: "Container", defaultRequest }] };
    const raw = this.caches.limitRanges?.get(`${namespace}/${LIMIT_RANGE_NAME}`);
    if (!raw) {
      try {
        const created = await this.rest.create(paths.namespacedLimitRanges(namespace), {
          apiVersion: "v1",
          kind: "LimitRange",
          metadata: {
            name: LIMIT_RANGE_NAME,
            namespace,
            labels: { "app.kubernetes.io/managed-by": "gpulease" },
          },
          spec,
        });
        this.caches.limitRanges?.upsert(created);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error; // already exists: the watch will show it
      }
      return;
    }
    // A merge patch replaces the list of limits whole.
    const updated = await this.rest.patch(paths.limitRange(namespace, LIMIT_RANGE_NAME), "merge", {
      metadata: { resourceVersion: raw.metadata?.resourceVersion },
      spec,
    });
    this.caches.limitRanges?.upsert(updated);
  }

  async ensureResourceQuota(namespace: string, hard: Record<string, string>): Promise<void> {
    if (this.resourceQuotaUpToDate(namespace, hard)) return;
    await this.writeQuota(namespace, RESOURCE_QUOTA_NAME, { hard });
  }

  /** Creates the namespace's priority quota, or replaces its scope with one allowing these classes. */
  async ensurePriorityQuota(namespace: string, allowedClasses: string[]): Promise<void> {
    // A merge patch replaces the list of expressions whole.
    await this.writeQuota(namespace, PRIORITY_QUOTA_NAME, priorityQuotaSpec(allowedClasses));
  }

  /** Creates one of the operator's ResourceQuotas, or merge-patches its spec at the cached version. */
  private async writeQuota(namespace: string, name: string, spec: Json): Promise<void> {
    const raw = this.caches.resourceQuotas.get(`${namespace}/${name}`);
    if (!raw) {
      try {
        const created = await this.rest.create(paths.namespacedResourceQuotas(namespace), {
          apiVersion: "v1",
          kind: "ResourceQuota",
          metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": "gpulease" } },
          spec,
        });
        this.caches.resourceQuotas.upsert(created);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error; // already exists: the watch will show it
      }
      return;
    }
    const updated = await this.rest.patch(paths.resourceQuota(namespace, name), "merge", {
      metadata: { resourceVersion: raw.metadata?.resourceVersion },
      spec,
    });
    this.caches.resourceQuotas.upsert(updated);
  }

  /** Writes the priority allow-list into the ConfigMap the validating policy reads. */
  async writeTenantAdmission(namespace: string, value: string, create: boolean): Promise<void> {
    const data = { [ALLOWED_PRIORITY_CLASSES_KEY]: value };
    const path = paths.configMap(namespace, TENANT_ADMISSION_CONFIGMAP);
    if (create) {
      try {
        const created = await this.rest.create(paths.namespacedConfigMaps(namespace), {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: TENANT_ADMISSION_CONFIGMAP,
            namespace,
            labels: { "app.kubernetes.io/name": "gpulease" },
          },
          data,
        });
        this.caches.tenantAdmission?.upsert(created);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error; // already exists: the watch will show it
      }
      return;
    }
    const raw = this.caches.tenantAdmission?.get(`${namespace}/${TENANT_ADMISSION_CONFIGMAP}`);
    const updated = await this.rest.patch(path, "merge", {
      metadata: { resourceVersion: raw?.metadata?.resourceVersion },
      data,
    });
    this.caches.tenantAdmission?.upsert(updated);
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
    // A gated pod's required affinity may only be narrowed: every term keeps all it has (a tenant's
    // own `metadata.name NotIn [...]` included) and gets the pin ANDed to it.
    const samePin = (f: Json) =>
      f.key === pin.key &&
      f.operator === pin.operator &&
      JSON.stringify(f.values) === JSON.stringify(pin.values);
    const terms = ((required?.nodeSelectorTerms ?? []) as Json[]).map((term) => ({
      ...term,
      matchFields: [...((term.matchFields ?? []) as Json[]).filter((f) => !samePin(f)), pin],
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
    const condition = {
      type: "DisruptionTarget",
      status: "True",
      reason: "ReclaimedByGpuLease",
      message: `${message}`.slice(0, 1000),
      lastTransitionTime: new Date().toISOString(),
    };
    // One write for both: a pod's status subresource also takes metadata (its strategy keeps only the
    // spec and owner references), so a burst of notices costs one request per pod, and a pod never
    // shows one half without the other.
    try {
      const noticed = await this.rest.patch(`${paths.pod(pod.namespace, pod.name)}/status`, "strategic", {
        metadata: { annotations: { [ANNOTATION_RECLAIM_DEADLINE]: deadline } },
        status: { conditions: [condition] },
      });
      this.caches.pods.upsert(noticed);
      const annotations = (noticed.metadata?.annotations ?? {}) as Record<string, string>;
      if (annotations[ANNOTATION_RECLAIM_DEADLINE] === deadline) return;
    } catch (error) {
      if (error instanceof NotFoundError) return;
      // The annotation is the contract; the condition is a courtesy some API servers refuse.
      this.log.debug({ err: String(error), pod: pod.name }, "DisruptionTarget condition not set");
    }
    // An API server that refused the status write, or dropped its metadata: the annotation alone.
    const updated = await this.rest.patch(paths.pod(pod.namespace, pod.name), "merge", {
      metadata: { annotations: { [ANNOTATION_RECLAIM_DEADLINE]: deadline } },
    });
    this.caches.pods.upsert(updated);
  }

  /** A condition on a pod's status, for what the pod's owner must read there (e.g. a refused bind). */
  async setPodCondition(
    pod: PodView,
    condition: { type: string; status: "True" | "False"; reason: string; message: string },
  ): Promise<void> {
    const updated = await this.rest.patch(`${paths.pod(pod.namespace, pod.name)}/status`, "strategic", {
      status: {
        conditions: [
          {
            ...condition,
            message: condition.message.slice(0, 1000),
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
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

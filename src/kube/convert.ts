/**
 * Raw API objects → the plain views the core decides from. Lenient by design: a field that is missing
 * or odd becomes a safe default; leases and quotas go through the zod parser, and a refused one is
 * reported as malformed instead of being dropped silently or crashing anything.
 */
import {
  ANNOTATION_LENT,
  ANNOTATION_POD_GROUP_SIZE,
  ANNOTATION_RETURNING,
  FINALIZER,
  gpuLeaseSpecView,
  LABEL_LEASE,
  LABEL_RECLAIM,
  LABEL_TENANT,
  parseGpuLease,
  parseTenantQuota,
  SCHEDULING_GATE,
  TAINT_LENT,
  tenantQuotaSpecView,
} from "../api/index.ts";
import type {
  LeaseView,
  MalformedObject,
  NamespaceView,
  NodeSelectorRequirement,
  NodeView,
  PodView,
  QuotaView,
} from "../core/model.ts";
import { type PodResourceSpec, podRequest, podRequests } from "../core/pod-request.ts";
import { parseQuantity } from "./quantity.ts";
import type { KubeObject } from "./rest.ts";

type Json = Record<string, unknown>;

const obj = (value: unknown): Json => (value && typeof value === "object" ? (value as Json) : {});
const arr = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const strings = (value: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(value))) if (typeof v === "string") out[k] = v;
  return out;
};
const time = (value: unknown): number => {
  const parsed = Date.parse(str(value) ?? "");
  return Number.isNaN(parsed) ? 0 : parsed;
};

export interface ConvertSettings {
  lendableSelector: Record<string, string>;
  resourceNames: string[];
  gpuModelLabel: string;
}

export function toNodeView(raw: KubeObject, settings: ConvertSettings): NodeView {
  const metadata = obj(raw.metadata);
  const spec = obj(raw.spec);
  const status = obj(raw.status);
  const labels = strings(metadata.labels);
  const allocatable = obj(status.allocatable);
  const gpus: Record<string, number> = {};
  for (const name of settings.resourceNames)
    gpus[name] = Math.floor(parseQuantity(str(allocatable[name]) ?? "0"));
  const taints = arr(spec.taints);
  const selectorMatches = Object.entries(settings.lendableSelector).every(([k, v]) => labels[k] === v);
  const reclaimRequested = labels[LABEL_RECLAIM] === "true";
  return {
    name: str(metadata.name) ?? "",
    labels,
    annotations: strings(metadata.annotations),
    gpus,
    gpuModel: labels[settings.gpuModelLabel],
    ready: arr(status.conditions).some((c) => c.type === "Ready" && c.status === "True"),
    unschedulable: spec.unschedulable === true,
    lendable: selectorMatches && !reclaimRequested,
    reclaimRequested,
    // Lent by the operator's own record or the taint: a taint removed by hand does not un-lend a node.
    lent:
      taints.some((t) => t.key === TAINT_LENT) || strings(metadata.annotations)[ANNOTATION_LENT] === "true",
    lentTaint: taints.some((t) => t.key === TAINT_LENT),
    lentMark: strings(metadata.annotations)[ANNOTATION_LENT] === "true",
    returning: strings(metadata.annotations)[ANNOTATION_RETURNING] !== undefined,
    taints: taints
      .filter((t) => t.key !== TAINT_LENT && (t.effect === "NoSchedule" || t.effect === "NoExecute"))
      .map((t) => ({ key: str(t.key) ?? "", value: str(t.value) ?? "", effect: str(t.effect) ?? "" })),
    cpuMillis: Math.round(parseQuantity(str(allocatable.cpu)) * 1000),
    memoryBytes: parseQuantity(str(allocatable.memory)),
    ...(allocatable.pods !== undefined ? { pods: Math.floor(parseQuantity(str(allocatable.pods))) } : {}),
  };
}

/** A container's requests, parsed; a limit stands in for an absent request (the API server's default). */
function containerRequests(container: Json): Record<string, number> {
  const resources = obj(container.resources);
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries({ ...obj(resources.limits), ...obj(resources.requests) }))
    out[name] = parseQuantity(str(value) ?? (typeof value === "number" ? value : undefined));
  return out;
}

function quantities(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, quantity] of Object.entries(obj(value)))
    out[name] = parseQuantity(str(quantity) ?? (typeof quantity === "number" ? quantity : undefined));
  return out;
}

/** The parts of a pod spec that make up its request (see core/pod-request). */
export function podResourceSpec(spec: Json): PodResourceSpec {
  return {
    containers: arr(spec.containers).map((c) => ({ requests: containerRequests(c) })),
    initContainers: arr(spec.initContainers).map((c) => ({
      requests: containerRequests(c),
      sidecar: c.restartPolicy === "Always",
    })),
    podLevel: { ...quantities(obj(spec.resources).limits), ...quantities(obj(spec.resources).requests) },
    overhead: quantities(spec.overhead),
  };
}

/** The single node a pod's required affinity pins it to with matchFields metadata.name, if any. */
export function pinnedNode(spec: Json): string | undefined {
  const required = obj(obj(obj(spec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution);
  const terms = arr(required.nodeSelectorTerms);
  if (terms.length === 0) return undefined;
  let node: string | undefined;
  for (const term of terms) {
    const field = arr(term.matchFields).find((f) => f.key === "metadata.name" && f.operator === "In");
    const values = Array.isArray(field?.values) ? (field.values as unknown[]) : [];
    if (values.length !== 1 || typeof values[0] !== "string") return undefined;
    if (node !== undefined && node !== values[0]) return undefined;
    node = values[0];
  }
  return node;
}

function requirements(value: unknown): NodeSelectorRequirement[] {
  return arr(value).map((r) => ({
    key: str(r.key) ?? "",
    operator: str(r.operator) ?? "",
    values: Array.isArray(r.values)
      ? (r.values as unknown[]).filter((v): v is string => typeof v === "string")
      : [],
  }));
}

/** Pods of one Job or pod group share a demand key; any other pod is its own group. */
const GROUP_LABELS = [
  "gpulease.io/pod-group",
  "scheduling.x-k8s.io/pod-group",
  "kueue.x-k8s.io/pod-group-name",
];

/** Annotations that give a pod group's size (gpulease's own, and Kueue's plain pod groups). */
const GROUP_SIZE_ANNOTATIONS = [ANNOTATION_POD_GROUP_SIZE, "kueue.x-k8s.io/pod-group-total-count"];

function podGroupSize(metadata: Json): number | undefined {
  const annotations = strings(metadata.annotations);
  for (const name of GROUP_SIZE_ANNOTATIONS) {
    const size = Number(annotations[name]);
    if (Number.isInteger(size) && size > 0) return size;
  }
  return undefined;
}

function podGroup(metadata: Json): string {
  const labels = strings(metadata.labels);
  for (const label of GROUP_LABELS) if (labels[label]) return `group/${labels[label]}`;
  const owner = arr(metadata.ownerReferences).find((o) => o.controller === true && o.kind === "Job");
  if (owner) return `job/${str(owner.name)}`;
  return `pod/${str(metadata.name)}`;
}

export function toPodView(raw: KubeObject, resourceNames: string[]): PodView {
  const metadata = obj(raw.metadata);
  const spec = obj(raw.spec);
  const status = obj(raw.status);
  const labels = strings(metadata.labels);
  const scheduled = arr(status.conditions).find((c) => c.type === "PodScheduled");
  const unschedulable = scheduled?.status === "False" && scheduled.reason === "Unschedulable";
  const required = obj(obj(obj(spec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution);
  const resources = podResourceSpec(spec);
  return {
    namespace: str(metadata.namespace) ?? "",
    name: str(metadata.name) ?? "",
    uid: str(metadata.uid) ?? "",
    createdAt: time(metadata.creationTimestamp),
    nodeName: str(spec.nodeName) || undefined,
    phase: str(status.phase) ?? "Pending",
    terminating: metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
    gpus: podRequests(resources, resourceNames),
    lease: labels[LABEL_LEASE],
    gated: arr(spec.schedulingGates).some((g) => g.name === SCHEDULING_GATE),
    unschedulable,
    targetNode: pinnedNode(spec),
    annotations: podAnnotations(metadata.annotations),
    unschedulableSince: unschedulable ? time(scheduled?.lastTransitionTime) || undefined : undefined,
    group: podGroup(metadata),
    groupSize: podGroupSize(metadata),
    nodeSelector: strings(spec.nodeSelector),
    affinityTerms: arr(required.nodeSelectorTerms).map((t) => ({
      matchExpressions: requirements(t.matchExpressions),
      matchFields: requirements(t.matchFields),
    })),
    tolerations: arr(spec.tolerations).map((t) => ({
      ...(str(t.key) !== undefined ? { key: str(t.key) } : {}),
      ...(str(t.operator) !== undefined ? { operator: str(t.operator) } : {}),
      ...(str(t.value) !== undefined ? { value: str(t.value) } : {}),
      ...(str(t.effect) !== undefined ? { effect: str(t.effect) } : {}),
    })),
    cpuMillis: Math.round(podRequest(resources, "cpu") * 1000),
    memoryBytes: podRequest(resources, "memory"),
  };
}

export function toNamespaceView(raw: KubeObject): NamespaceView {
  const metadata = obj(raw.metadata);
  return {
    name: str(metadata.name) ?? "",
    tenant: strings(metadata.labels)[LABEL_TENANT],
    ...(metadata.deletionTimestamp !== undefined ? { terminating: true } : {}),
  };
}

export function toLeaseView(raw: KubeObject): LeaseView | MalformedObject {
  const metadata = obj(raw.metadata);
  const parsed = parseGpuLease(raw);
  if (!parsed.ok) {
    return {
      kind: "GpuLease",
      namespace: str(metadata.namespace),
      name: str(metadata.name) ?? "",
      errors: parsed.errors,
    };
  }
  const lease = parsed.value;
  const annotations = strings(metadata.annotations);
  return {
    namespace: str(metadata.namespace) ?? "",
    name: lease.metadata.name,
    uid: str(metadata.uid) ?? "",
    generation: typeof metadata.generation === "number" ? metadata.generation : 0,
    createdAt: time(metadata.creationTimestamp),
    deleting: metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
    hasFinalizer: (lease.metadata.finalizers ?? []).includes(FINALIZER),
    spec: gpuLeaseSpecView(lease.spec),
    status: lease.status ?? {},
    annotations,
  };
}

export function toQuotaView(raw: KubeObject): QuotaView | MalformedObject {
  const metadata = obj(raw.metadata);
  const parsed = parseTenantQuota(raw);
  if (!parsed.ok)
    return {
      kind: "TenantQuota",
      namespace: undefined,
      name: str(metadata.name) ?? "",
      errors: parsed.errors,
    };
  return {
    name: parsed.value.metadata.name,
    generation: typeof metadata.generation === "number" ? metadata.generation : 0,
    spec: tenantQuotaSpecView(parsed.value.spec),
    status: parsed.value.status ?? {},
  };
}

export function isMalformed(view: object): view is MalformedObject {
  return "errors" in view;
}

const pick = (from: Json, keys: string[]): Json => {
  const out: Json = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
};

/**
 * One copy of each string the caches hold many times over: JSON.parse makes a new string for every
 * occurrence of a namespace, a label value, a condition type, a toleration key or a timestamp of the
 * same second. At 10,000 pods that is about 13 of some 86 MB of live heap. Bounded: when full it
 * starts again, which costs only the sharing.
 */
export class StringTable {
  private table = new Map<string, string>();

  constructor(private readonly limit = 100_000) {}

  get size(): number {
    return this.table.size;
  }

  intern(value: string): string {
    const known = this.table.get(value);
    if (known !== undefined) return known;
    if (this.table.size >= this.limit) this.table = new Map();
    this.table.set(value, value);
    return value;
  }

  /** A copy of a JSON value with every string in it interned (keys are already V8's own). */
  internAll(value: unknown): unknown {
    if (typeof value === "string") return this.intern(value);
    if (Array.isArray(value)) return value.map((item) => this.internAll(item));
    if (value && typeof value === "object") {
      const out: Json = {};
      for (const [key, item] of Object.entries(value)) out[key] = this.internAll(item);
      return out;
    }
    return value;
  }
}

/** The table the informer caches share (names, UIDs and resource versions are never put in it). */
export const cacheStrings = new StringTable();

/** Metadata the caches keep: what identifies the object as is, the rest interned. */
function slimMetadata(metadata: Json, annotations: unknown, table: StringTable): Json {
  const kept = pick(metadata, ["name", "uid", "resourceVersion"]);
  const shared = table.internAll(
    pick({ ...metadata, annotations }, [
      "namespace",
      "creationTimestamp",
      "deletionTimestamp",
      "labels",
      "annotations",
      "ownerReferences",
    ]),
  ) as Json;
  return { ...kept, ...shared };
}

/** The pod annotations the operator reads: its own, and a pod group's size as Kueue writes it. */
function podAnnotations(annotations: unknown): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(strings(annotations)))
    if (name.startsWith("gpulease.io/") || GROUP_SIZE_ANNOTATIONS.includes(name)) kept[name] = value;
  return kept;
}

const slimContainer = (container: Json): Json => pick(container, ["name", "resources", "restartPolicy"]);

/**
 * What the pod cache keeps: the fields the operator reads (scheduling, resources, lease label, gates,
 * conditions) and writes through patches. A cluster's pods are most of the operator's memory; whole
 * pods (volumes, env, probes, container statuses…) would triple it.
 */
export function slimPod(raw: KubeObject, table: StringTable = cacheStrings): KubeObject {
  const metadata = obj(raw.metadata);
  const spec = obj(raw.spec);
  const status = obj(raw.status);
  const annotations = podAnnotations(metadata.annotations);
  return {
    apiVersion: raw.apiVersion,
    kind: raw.kind,
    metadata: slimMetadata(
      metadata,
      Object.keys(annotations).length > 0 ? annotations : undefined,
      table,
    ) as KubeObject["metadata"],
    spec: table.internAll({
      ...pick(spec, [
        "nodeName",
        "nodeSelector",
        "affinity",
        "tolerations",
        "schedulingGates",
        "priority",
        "resources",
        "overhead",
      ]),
      containers: arr(spec.containers).map(slimContainer),
      ...(spec.initContainers ? { initContainers: arr(spec.initContainers).map(slimContainer) } : {}),
    }) as Json,
    status: table.internAll({
      ...pick(status, ["phase"]),
      // The only condition the operator reads (Unschedulable); it writes DisruptionTarget blind.
      conditions: arr(status.conditions)
        .filter((c) => c.type === "PodScheduled")
        .map((c) => pick(c, ["type", "status", "reason", "lastTransitionTime"])),
    }) as Json,
  };
}

/**
 * A node as the cache keeps it: what the node view and the node patch read (labels, annotations,
 * taints, allocatable, readiness). A kubelet's node also lists its images, addresses and system
 * info, often several kilobytes, and its heartbeat rewrites the conditions every few seconds.
 */
export function slimNode(raw: KubeObject, table: StringTable = cacheStrings): KubeObject {
  const metadata = obj(raw.metadata);
  const status = obj(raw.status);
  return {
    apiVersion: raw.apiVersion,
    kind: raw.kind,
    metadata: slimMetadata(metadata, metadata.annotations, table) as KubeObject["metadata"],
    spec: table.internAll(pick(obj(raw.spec), ["taints", "unschedulable"])) as Json,
    status: table.internAll({
      ...pick(status, ["allocatable"]),
      conditions: arr(status.conditions)
        .filter((c) => c.type === "Ready")
        .map((c) => pick(c, ["type", "status"])),
    }) as Json,
  };
}

/**
 * A Job as the cache keeps it: only what tells how many pods it runs at once. Internal demand of a
 * Job is planned as soon as that many of its pods exist, not a settle period later.
 */
export function slimJob(raw: KubeObject): KubeObject {
  const metadata = obj(raw.metadata);
  return {
    apiVersion: raw.apiVersion,
    kind: raw.kind,
    metadata: pick(metadata, ["name", "namespace", "uid", "resourceVersion"]) as KubeObject["metadata"],
    spec: pick(obj(raw.spec), ["parallelism", "completions", "suspend"]),
    status: pick(obj(raw.status), ["succeeded"]),
  };
}

/** The number of pods a Job's controller keeps at once: min(parallelism, completions left). */
export function jobPodsAtOnce(raw: KubeObject): number {
  const spec = obj(raw.spec);
  if (spec.suspend === true) return 0;
  const parallelism = typeof spec.parallelism === "number" ? spec.parallelism : 1;
  if (typeof spec.completions !== "number") return parallelism;
  const succeeded = obj(raw.status).succeeded;
  return Math.max(
    0,
    Math.min(parallelism, spec.completions - (typeof succeeded === "number" ? succeeded : 0)),
  );
}

/**
 * The snapshot the pure core decides from: plain data distilled from the informer caches. Nothing here
 * knows about the Kubernetes client; times are epoch milliseconds.
 */
import type {
  Allocation,
  GpuLeaseSpecView,
  GpuLeaseStatus,
  TenantQuotaSpecView,
  TenantQuotaStatus,
} from "../api/index.ts";
import type { KueueSnapshot } from "./kueue-check.ts";
import type { RoleBindingView } from "./tenant-bindings.ts";

export interface NodeView {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** GPUs the device plugin reports, by resource name. */
  gpus: Record<string, number>;
  gpuModel: string | undefined;
  ready: boolean;
  unschedulable: boolean;
  /** Matches the lendable selector and is not marked for reclaim. */
  lendable: boolean;
  /** Labelled gpulease.io/reclaim=true by the platform team. */
  reclaimRequested: boolean;
  /** Lent: carries the gpulease.io/lent taint or the operator's gpulease.io/lent annotation. */
  lent: boolean;
  /** Whether the lent taint is there (absent: not read, taken as there). */
  lentTaint?: boolean;
  /** Whether the operator's lent annotation is there (absent: not read, taken as there). */
  lentMark?: boolean;
  /** Marked Returning by a reclaim (annotation gpulease.io/returning). */
  returning: boolean;
  /** Other NoSchedule/NoExecute taints, for fit simulation. */
  taints: Taint[];
  cpuMillis: number;
  memoryBytes: number;
  /** Pods the node takes (allocatable `pods`; absent: the kubelet's default, 110). */
  pods?: number;
}

export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  createdAt: number;
  nodeName: string | undefined;
  phase: string;
  terminating: boolean;
  /** GPU requests by resource name (the pod's effective request). */
  gpus: Record<string, number>;
  /** Value of the gpulease.io/lease label. */
  lease: string | undefined;
  /** Still carries the gpulease.io/lease scheduling gate. */
  gated: boolean;
  /** The scheduler marked it PodScheduled=False/Unschedulable. */
  unschedulable: boolean;
  /** The node its required affinity pins it to (matchFields metadata.name In [one node]), if any. */
  targetNode: string | undefined;
  /** When the scheduler marked it Unschedulable. */
  unschedulableSince: number | undefined;
  /** Pods of one Job or pod group form one demand; this is the group's key (the pod's uid otherwise). */
  group: string;
  /** How many pods its group has, where the pod says so (a pod-group size annotation). */
  groupSize: number | undefined;
  nodeSelector: Record<string, string>;
  /** Required node affinity terms (ORed); each term's requirements are ANDed. */
  affinityTerms: NodeSelectorTerm[];
  tolerations: Toleration[];
  cpuMillis: number;
  memoryBytes: number;
  annotations: Record<string, string>;
}

export interface Taint {
  key: string;
  value: string;
  effect: string;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values: string[];
}

export interface NodeSelectorTerm {
  matchExpressions: NodeSelectorRequirement[];
  matchFields: NodeSelectorRequirement[];
}

export interface NamespaceView {
  name: string;
  /** Value of the gpulease.io/tenant label. */
  tenant: string | undefined;
  /** Being deleted: nothing can be created in it any more. */
  terminating?: boolean;
}

export interface LeaseView {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  createdAt: number;
  deleting: boolean;
  hasFinalizer: boolean;
  spec: GpuLeaseSpecView;
  status: GpuLeaseStatus;
  annotations: Record<string, string>;
}

export interface QuotaView {
  name: string;
  generation: number;
  spec: TenantQuotaSpecView;
  status: TenantQuotaStatus;
}

/** An object the runtime parser refused, kept so it can be reported instead of crashing anything. */
export interface MalformedObject {
  kind: "GpuLease" | "TenantQuota";
  namespace: string | undefined;
  name: string;
  errors: string[];
}

export interface PoolSettings {
  idlePeriodMs: number;
  headroomGpus: number;
  resourceNames: string[];
  expiryWarningMs: number;
  meteringIntervalMs: number;
  /** Grace after a reclaim deadline before a pod whose eviction a PDB blocks is deleted. */
  evictionGraceMs: number;
  /** Grace before a tenant pod on a lent node without an Active lease allocating it is evicted (default 30 s). */
  orphanGraceMs?: number;
  /** Priority classes tenant pods may name besides gpulease-tenant (default: none). */
  tenantPriorityClasses?: string[];
}

export interface ClusterSnapshot {
  now: number;
  settings: PoolSettings;
  nodes: NodeView[];
  pods: PodView[];
  namespaces: NamespaceView[];
  leases: LeaseView[];
  quotas: QuotaView[];
  /**
   * How many pods each internal Job runs at once, by demand key (`namespace/job/name`): a Job's demand
   * is planned as soon as all of them have a verdict, or INCOMPLETE_GROUP_WAIT_MS after its newest pod.
   * Jobs absent here wait GROUP_SETTLE_MS for stragglers.
   */
  groupSizes?: ReadonlyMap<string, number>;
  /** The ResourceQuotas the operator keeps, as last written (absent: every one is written). */
  resourceQuotas?: { namespace: string; hard: Record<string, string> }[];
  /** The LimitRanges the operator keeps (`gpulease`), their default requests (absent: not watched). */
  limitRanges?: { namespace: string; defaultRequest: Record<string, string> }[];
  /**
   * The priority ResourceQuotas (`gpulease-priority`) as last written, with the classes they allow
   * (absent: not watched, none is planned).
   */
  priorityQuotas?: { namespace: string; allowedClasses: string[] }[];
  /**
   * The ConfigMap gpulease-tenant-admission as last seen, in the operator's namespace (absent: not
   * watched, nothing is planned for it).
   */
  tenantAdmission?: { namespace: string; exists: boolean; value: string | undefined };
  /**
   * Leases that disappeared while the operator watched them (deleted without waiting for the
   * finalizer), as the operator last saw them: the operator's own record, until they are in the ledger.
   */
  vanishedLeases?: VanishedLease[];
  /** `namespace/name` of leases in the cache the parser refuses: they exist, though not in `leases`. */
  unreadableLeases?: string[];
  /** RoleBindings of every namespace, for reporting a tenant's users bound outside its namespaces. */
  roleBindings?: RoleBindingView[];
  /**
   * Gated pods whose last bind the API server refused (by uid), and until when they wait before the
   * next try: kept by the shell, so one unbindable pod is not retried first in every pass.
   */
  bindBackoff?: ReadonlyMap<string, { until: number }>;
  /** When the operator first saw each orphan pod (by uid): the shell carries the plan's `orphans` over. */
  orphansSince?: ReadonlyMap<string, number>;
  /** Kueue's Workloads waiting on gpulease's AdmissionCheck (absent: Kueue is not installed). */
  kueue?: KueueSnapshot;
}

export interface VanishedLease {
  lease: LeaseView;
  /** When the operator noticed it gone: its usage ends there. */
  vanishedAt: number;
}

export type { Allocation };

export const leaseKey = (lease: { namespace: string; name: string }) => `${lease.namespace}/${lease.name}`;

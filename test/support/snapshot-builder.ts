/** Small builders for pure-core tests: a cluster described in a few lines. */
import {
  gpuLeaseSpecView,
  parseGpuLease,
  parseTenantQuota,
  tenantQuotaSpecView,
} from "../../src/api/index.ts";
import type {
  ClusterSnapshot,
  LeaseView,
  NamespaceView,
  NodeView,
  PodView,
  QuotaView,
} from "../../src/core/model.ts";

export const T0 = Date.parse("2026-11-28T12:00:00Z");
export const H100 = "NVIDIA-H100-80GB-HBM3";

export function node(name: string, over: Partial<NodeView> = {}): NodeView {
  return {
    name,
    labels: { "gpulease.io/lendable": "true" },
    annotations: {},
    gpus: { "nvidia.com/gpu": 8 },
    gpuModel: H100,
    ready: true,
    unschedulable: false,
    lendable: true,
    reclaimRequested: false,
    lent: false,
    returning: false,
    taints: [],
    cpuMillis: 96_000,
    memoryBytes: 2 ** 40,
    ...over,
  };
}

export function quota(
  name: string,
  spec: Record<string, unknown> = {},
  status: Record<string, unknown> = {},
): QuotaView {
  const parsed = parseTenantQuota({
    metadata: { name },
    spec: { limits: [{ maxGpus: 64, maxReservedGpus: 16 }], ...spec },
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return { name, generation: 1, spec: tenantQuotaSpecView(parsed.value.spec), status };
}

let uid = 0;
export function lease(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  over: Partial<Omit<LeaseView, "spec">> = {},
): LeaseView {
  const parsed = parseGpuLease({ metadata: { name, namespace }, spec });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return {
    namespace,
    name,
    uid: `uid-${name}-${++uid}`,
    generation: 1,
    createdAt: T0,
    deleting: false,
    hasFinalizer: true,
    status: {},
    annotations: {},
    ...over,
    spec: gpuLeaseSpecView(parsed.value.spec),
  };
}

export function pod(namespace: string, name: string, over: Partial<PodView> = {}): PodView {
  return {
    namespace,
    name,
    uid: `pod-${namespace}-${name}`,
    createdAt: T0,
    nodeName: undefined,
    phase: "Pending",
    terminating: false,
    gpus: { "nvidia.com/gpu": 1 },
    lease: undefined,
    gated: false,
    unschedulable: false,
    targetNode: undefined,
    annotations: {},
    unschedulableSince: undefined,
    group: `pod/${name}`,
    groupSize: undefined,
    nodeSelector: {},
    affinityTerms: [],
    tolerations: [],
    cpuMillis: 1000,
    memoryBytes: 2 ** 30,
    ...over,
  };
}

export function tenantNs(name: string, tenant: string): NamespaceView {
  return { name, tenant };
}

export function snapshot(parts: Partial<ClusterSnapshot>): ClusterSnapshot {
  return {
    now: T0,
    settings: {
      idlePeriodMs: 0,
      headroomGpus: 0,
      resourceNames: ["nvidia.com/gpu"],
      expiryWarningMs: 5 * 60_000,
      meteringIntervalMs: 0,
      evictionGraceMs: 30_000,
      orphanGraceMs: 30_000,
    },
    nodes: [],
    pods: [],
    namespaces: [],
    leases: [],
    quotas: [],
    ...parts,
  };
}

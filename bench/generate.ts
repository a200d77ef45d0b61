/** Synthetic clusters for the in-process benchmarks: deterministic for a seed. */
import { parseTenantQuota, tenantQuotaSpecView } from "../src/api/index.ts";
import type { ClusterSnapshot, LeaseView, NodeView, PodView, QuotaView } from "../src/core/model.ts";
import { lease, node, pod } from "../test/support/snapshot-builder.ts";

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export const MODELS = ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"];
const iso = (ms: number) => new Date(ms).toISOString();

export function makeNode(name: string, model: string, over: Partial<NodeView> = {}): NodeView {
  return node(name, {
    labels: { "gpulease.io/lendable": "true", "nvidia.com/gpu.product": model },
    gpuModel: model,
    ...over,
  });
}

export function makeQuota(name: string, priority: number, maxGpus: number): QuotaView {
  const parsed = parseTenantQuota({
    metadata: { name },
    spec: {
      limits: [{ maxGpus, maxReservedGpus: Math.floor(maxGpus / 4) }],
      reclaimNotice: "2m",
      minRuntime: "5m",
      priority,
      pricing: { interruptiblePerGpuHour: "1.20", reservedPerGpuHour: "2.50" },
    },
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return { name, generation: 1, spec: tenantQuotaSpecView(parsed.value.spec), status: {} };
}

export function makeLease(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  createdAt: number,
  status = {},
): LeaseView {
  return lease(namespace, name, spec, { createdAt, status });
}

/** A running internal pod of 8 GPUs unless told otherwise. */
export function makePod(namespace: string, name: string, over: Partial<PodView> = {}): PodView {
  return pod(namespace, name, {
    createdAt: 0,
    phase: "Running",
    gpus: { "nvidia.com/gpu": 8 },
    cpuMillis: 8000,
    memoryBytes: 2 ** 34,
    ...over,
  });
}

export interface BigClusterOptions {
  nodes: number;
  leases: number;
  tenants: number;
  /** Share of leases already Active (placed), the rest Pending. */
  activeShare: number;
  internalPods: number;
  seed: number;
  now: number;
}

/**
 * A large cluster in steady state: most lendable nodes lent and full of Active leases (placed without
 * overlap), Pending leases queued, internal pods on the rest, some internal pods waiting.
 */
export function bigCluster(o: BigClusterOptions): ClusterSnapshot {
  const random = rng(o.seed);
  const nodes: NodeView[] = [];
  for (let i = 0; i < o.nodes; i++) nodes.push(makeNode(`node-${i}`, MODELS[i % 2] as string));
  const quotas: QuotaView[] = [];
  const namespaces = [];
  for (let t = 0; t < o.tenants; t++) {
    quotas.push(makeQuota(`tenant-${t}`, t % 3, Math.ceil((o.nodes * 8) / o.tenants) * 2));
    namespaces.push({ name: `tenant-${t}`, tenant: `tenant-${t}` });
  }
  const leases: LeaseView[] = [];
  const active = Math.floor(o.leases * o.activeShare);
  // Fill lent nodes with Active leases of 1, 2, 4 or 8 GPUs without overlap.
  let node = 0;
  let free = 8;
  for (let i = 0; i < active && node < o.nodes; i++) {
    const gpus = [1, 2, 4, 8][Math.floor(random() * 4)] as number;
    if (gpus > free) {
      node++;
      free = 8;
      if (node >= o.nodes) break;
    }
    const target = nodes[node] as NodeView;
    target.lent = true;
    free -= gpus;
    const tenant = i % o.tenants;
    leases.push(
      makeLease(`tenant-${tenant}`, `a-${i}`, { gpus, gpuModel: target.gpuModel }, o.now - 3_600_000, {
        phase: "Active",
        admittedAt: iso(o.now - 3_600_000),
        allocations: [{ node: target.name, gpus, since: iso(o.now - 3_600_000) }],
        pricing: { perGpuHour: "1.20", currency: "USD" },
      }),
    );
  }
  for (let i = leases.length; i < o.leases; i++) {
    const tenant = i % o.tenants;
    const gpus = [1, 2, 4, 8, 16][Math.floor(random() * 5)] as number;
    leases.push(
      makeLease(
        `tenant-${tenant}`,
        `p-${i}`,
        { gpus, ...(gpus >= 8 ? { gpusPerNode: 8 } : {}) },
        o.now - Math.floor(random() * 600_000),
      ),
    );
  }
  const pods: PodView[] = [];
  for (let i = 0; i < o.internalPods; i++) {
    const n = nodes[nodes.length - 1 - (i % Math.max(1, nodes.length - node - 1))] as NodeView;
    pods.push(makePod("training", `t-${i}`, { nodeName: n.name }));
  }
  return {
    now: o.now,
    settings: {
      idlePeriodMs: 0,
      headroomGpus: 0,
      resourceNames: ["nvidia.com/gpu"],
      expiryWarningMs: 300_000,
      meteringIntervalMs: 60_000,
      evictionGraceMs: 30_000,
    },
    nodes,
    pods,
    namespaces,
    leases,
    quotas,
  };
}

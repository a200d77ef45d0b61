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
  /** Leases in all: Active ones on the lent nodes, the rest Pending. */
  leases: number;
  tenants: number;
  seed: number;
  now: number;
}

/** Node models and sizes of the big cluster: three models, 4- and 8-GPU nodes. */
const FLEET = [
  { model: "NVIDIA-H100-80GB-HBM3", sizes: [8] },
  { model: "NVIDIA-A100-SXM4-80GB", sizes: [4, 8] },
  { model: "NVIDIA-L40S", sizes: [4] },
] as const;
/** Pending lease shapes: every one fits on one empty node of some model (blocks of 8 on 8-GPU nodes). */
const SHAPES = [
  { gpus: 1, block: 1 },
  { gpus: 2, block: 1 },
  { gpus: 4, block: 1 },
  { gpus: 4, block: 4 },
  { gpus: 8, block: 8 },
  { gpus: 16, block: 8 },
] as const;

/**
 * A large cluster as an owner has it: 45 % of the nodes lent and partly filled with Active leases,
 * 25 % busy with internal pods of 1-8 GPUs (spread, each node within its capacity), 30 % idle and
 * lendable; Pending leases of the shapes above, half pinned to a model that has nodes big enough.
 */
export function bigCluster(o: BigClusterOptions): ClusterSnapshot {
  const random = rng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const tenant = (i: number) => `tenant-${i % o.tenants}`;
  const nodes: NodeView[] = [];
  const pods: PodView[] = [];
  const leases: LeaseView[] = [];
  let capacity = 0;
  for (let i = 0; i < o.nodes; i++) {
    const kind = pick(FLEET);
    const size = pick(kind.sizes);
    const n = makeNode(`node-${i}`, kind.model, { gpus: { "nvidia.com/gpu": size } });
    nodes.push(n);
    capacity += size;
    const role = random();
    if (role < 0.45) {
      n.lent = true;
      const target = Math.ceil(size * (0.25 + random() * 0.75));
      for (let used = 0; used < target && leases.length < o.leases; ) {
        const gpus = Math.min(target - used, pick([1, 2, 4, 8]));
        const at = o.now - 3_600_000;
        leases.push(
          makeLease(tenant(leases.length), `a-${leases.length}`, { gpus, gpuModel: kind.model }, at, {
            phase: "Active",
            admittedAt: iso(at),
            allocations: [{ node: n.name, gpus, since: iso(at) }],
            pricing: { perGpuHour: "1.20", currency: "USD" },
          }),
        );
        used += gpus;
      }
    } else if (role < 0.7) {
      const target = 1 + Math.floor(random() * size);
      for (let used = 0; used < target; ) {
        const gpus = Math.min(size - used, pick([1, 2, 4, 8]));
        pods.push(
          makePod("training", `t-${pods.length}`, { nodeName: n.name, gpus: { "nvidia.com/gpu": gpus } }),
        );
        used += gpus;
      }
    }
  }
  for (let i = leases.length; i < o.leases; i++) {
    const shape = pick(SHAPES);
    const models = FLEET.filter((f) => f.sizes.some((s) => s >= shape.block)).map((f) => f.model);
    const gpuModel = random() < 0.5 ? pick(models) : undefined;
    leases.push(
      makeLease(
        tenant(i),
        `p-${i}`,
        {
          gpus: shape.gpus,
          ...(shape.block > 1 ? { gpusPerNode: shape.block } : {}),
          ...(gpuModel ? { gpuModel } : {}),
          priority: pick([-10, 0, 0, 10]),
        },
        o.now - Math.floor(random() * 600_000),
      ),
    );
  }
  const quotas: QuotaView[] = [];
  const namespaces = [];
  for (let t = 0; t < o.tenants; t++) {
    // Quotas sum to twice the cluster: some tenants are capped, the cluster is the tighter limit.
    quotas.push(makeQuota(`tenant-${t}`, t % 3, Math.ceil((capacity * 2) / o.tenants)));
    namespaces.push({ name: `tenant-${t}`, tenant: `tenant-${t}` });
  }
  return {
    now: o.now,
    settings: {
      idlePeriodMs: 0,
      headroomGpus: 16,
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

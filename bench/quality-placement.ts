/**
 * Placement quality: owner-like clusters, the planner's admissions against the proven optimum of a
 * mixed-integer program that allows exactly what the planner may do, and a naive first-fit baseline
 * bound by the same rules. The feasibility rules are read from the core's own helpers (node accounts,
 * quota limits), so the three differ only in which leases they admit and where they put them.
 */
import { parseTenantQuota, tenantQuotaSpecView } from "../src/api/index.ts";
import { accountNodes, type NodeAccount, tenantNamespaces } from "../src/core/accounting.ts";
import { isPending } from "../src/core/admission.ts";
import type { ClusterSnapshot, LeaseView, NodeView, PodView, QuotaView } from "../src/core/model.ts";
import { planCluster } from "../src/core/planner.ts";
import {
  limitKey,
  matchLimit,
  neverAdmissible,
  quotaBlocks,
  type TenantUsage,
  usageOf,
} from "../src/core/quota-rules.ts";
import { makeLease, makeNode, makePod, rng } from "./generate.ts";
import { Mip, type Term } from "./mip.ts";

const NOW = Date.parse("2026-11-28T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const pick = <T>(r: () => number, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;

/** GPU models and the node sizes they come in. */
const FLEET = [
  { model: "NVIDIA-A100-SXM4-80GB", sizes: [8, 4] },
  { model: "NVIDIA-H100-80GB-HBM3", sizes: [8] },
  { model: "NVIDIA-L40S", sizes: [4] },
] as const;

/** Lease shapes a tenant asks for: GPUs and gpusPerNode (1: any split). */
const SHAPES = [
  { gpus: 1, block: 1 },
  { gpus: 2, block: 1 },
  { gpus: 3, block: 1 },
  { gpus: 4, block: 1 },
  { gpus: 2, block: 2 },
  { gpus: 6, block: 2 },
  { gpus: 4, block: 4 },
  { gpus: 12, block: 4 },
  { gpus: 8, block: 8 },
  { gpus: 16, block: 8 },
] as const;

export interface PlacementInstance {
  snapshot: ClusterSnapshot;
  /** GPUs the pool could lend now: free on lent nodes plus idle nodes, less the headroom. */
  capacity: number;
  /** Pending demand in GPUs, as a multiple of `capacity`. */
  demandFactor: number;
}

/**
 * A cluster an owner could have: several GPU models, 4- and 8-GPU nodes, lent nodes partly used by
 * Active leases, nodes busy with internal pods of 1/2/4/8 GPUs, idle nodes, a headroom, tenants with
 * priorities and quotas (a per-model limit for some), gang and model-pinned leases, a few Reserved.
 */
export function placementInstance(seed: number, nodeCount: number, quotasBind = true): PlacementInstance {
  const r = rng(seed * 7919 + 13);
  const tenants = Array.from({ length: 3 + Math.floor(r() * 3) }, (_, i) => `tenant-${i}`);
  const nodes: NodeView[] = [];
  const pods: PodView[] = [];
  const leases: LeaseView[] = [];
  const activeGpus = new Map<string, number>();
  let capacity = 0;
  let idleGpus = 0;
  let id = 0;
  for (let i = 0; i < nodeCount; i++) {
    const kind = pick(r, FLEET);
    const size = pick(r, kind.sizes);
    const node = makeNode(`node-${String(i).padStart(3, "0")}`, kind.model, {
      gpus: { "nvidia.com/gpu": size },
    });
    nodes.push(node);
    const role = r();
    if (role < 0.35) {
      // Lent, partly used: Active leases fill 25-100 % of it.
      node.lent = true;
      const target = Math.ceil(size * (0.25 + r() * 0.75));
      let used = 0;
      while (used < target) {
        const gpus = Math.min(target - used, pick(r, [1, 2, 4, 8]));
        const tenant = pick(r, tenants);
        const age = (5 + Math.floor(r() * 600)) * 60_000;
        leases.push(
          makeLease(tenant, `active-${id++}`, { gpus, gpuModel: kind.model }, NOW - age, {
            phase: "Active",
            admittedAt: iso(NOW - age),
            allocations: [{ node: node.name, gpus, since: iso(NOW - age) }],
            pricing: { perGpuHour: "1.20", currency: "USD" },
          }),
        );
        activeGpus.set(tenant, (activeGpus.get(tenant) ?? 0) + gpus);
        used += gpus;
      }
      capacity += size - used;
    } else if (role < 0.55) {
      // Internal training on it: not lendable while any internal GPU pod runs.
      let used = 0;
      const target = 1 + Math.floor(r() * size);
      while (used < target) {
        const gpus = Math.min(size - used, pick(r, [1, 2, 4, 8]));
        pods.push(
          makePod("training", `train-${id++}`, { nodeName: node.name, gpus: { "nvidia.com/gpu": gpus } }),
        );
        used += gpus;
      }
    } else {
      idleGpus += size;
    }
  }
  const headroomGpus = pick(r, [0, 8, 16]);
  capacity += Math.max(0, idleGpus - headroomGpus);

  const demandFactor = 0.8 + r() * 0.5;
  const demandByTenant = new Map<string, number>();
  let demand = 0;
  while (demand < demandFactor * capacity) {
    const shape = pick(r, SHAPES);
    const tenant = pick(r, tenants);
    // Pinned to a model that has nodes big enough for the block, half the time.
    const models = FLEET.filter((f) => f.sizes.some((s) => s >= shape.block)).map((f) => f.model);
    const gpuModel = r() < 0.5 ? pick(r, models) : undefined;
    const reserved = r() < 0.1;
    leases.push(
      makeLease(
        tenant,
        `pending-${id++}`,
        {
          gpus: shape.gpus,
          ...(shape.block > 1 ? { gpusPerNode: shape.block } : {}),
          ...(gpuModel ? { gpuModel } : {}),
          ...(reserved ? { class: "Reserved", duration: "8h" } : {}),
          priority: pick(r, [-10, 0, 0, 10]),
        },
        NOW - Math.floor(r() * 3_600_000),
      ),
    );
    demand += shape.gpus;
    demandByTenant.set(tenant, (demandByTenant.get(tenant) ?? 0) + shape.gpus);
  }
  const quotas: QuotaView[] = tenants.map((name) => {
    // A quota between half and 1.3 times what the tenant holds and asks for: some tenants are capped.
    const maxGpus = Math.round(
      (activeGpus.get(name) ?? 0) + (0.5 + r() * 0.8) * (demandByTenant.get(name) ?? 0),
    );
    const limits: Record<string, unknown>[] = [{ maxGpus, maxReservedGpus: Math.floor(maxGpus / 4) }];
    if (r() < 0.4) {
      const modelCap = Math.round(maxGpus * (0.2 + r() * 0.4));
      limits.push({
        gpuModel: pick(r, FLEET).model,
        maxGpus: modelCap,
        maxReservedGpus: Math.floor(modelCap / 4),
      });
    }
    const parsed = parseTenantQuota({
      metadata: { name },
      spec: {
        // Lifted quotas keep the same random draws, so the clusters are the same but for the quotas.
        limits: quotasBind ? limits : [{ maxGpus: 1_000_000, maxReservedGpus: 1_000_000 }],
        reclaimNotice: "2m",
        priority: pick(r, [0, 10, 20]),
        pricing: { interruptiblePerGpuHour: "1.20", reservedPerGpuHour: "2.50" },
      },
    });
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    return { name, generation: 1, spec: tenantQuotaSpecView(parsed.value.spec), status: {} };
  });
  return {
    snapshot: {
      now: NOW,
      settings: {
        idlePeriodMs: 0,
        headroomGpus,
        resourceNames: ["nvidia.com/gpu"],
        expiryWarningMs: 0,
        meteringIntervalMs: 0,
        evictionGraceMs: 0,
      },
      nodes,
      pods,
      namespaces: tenants.map((t) => ({ name: t, tenant: t })),
      leases,
      quotas,
    },
    capacity,
    demandFactor,
  };
}

/** The pieces every method shares: lendable nodes, admissible pending leases, quota headroom. */
interface Problem {
  /** Lent nodes with free GPUs and idle Internal nodes that may be lent now. */
  nodes: { name: string; model: string; free: number; capacity: number; lent: boolean }[];
  /** Idle Internal GPUs, and how many of them lending may take (the headroom rule). */
  idleInternalGpus: number;
  lendableIdleGpus: number;
  leases: { lease: LeaseView; quota: QuotaView; limit: string; block: number }[];
  quotas: Map<string, QuotaView>;
  usage: Map<string, TenantUsage>;
}

function problemOf(snapshot: ClusterSnapshot): Problem {
  const accounts = accountNodes(snapshot);
  const owners = tenantNamespaces(snapshot);
  const quotas = new Map(snapshot.quotas.map((q) => [q.name, q]));
  const idle = (a: NodeAccount) =>
    a.state === "Internal" && a.node.lendable && !a.node.reclaimRequested && !a.internalBusy;
  const nodes: Problem["nodes"] = [];
  let idleInternalGpus = 0;
  for (const a of accounts.values()) {
    if (a.resourceName === undefined) continue;
    if (idle(a)) idleInternalGpus += a.capacity;
    if ((a.state === "Lent" || idle(a)) && a.free > 0)
      nodes.push({
        name: a.node.name,
        model: a.node.gpuModel ?? "",
        free: a.free,
        capacity: a.capacity,
        lent: a.state === "Lent",
      });
  }
  nodes.sort((x, y) => (x.name < y.name ? -1 : 1));
  const leases: Problem["leases"] = [];
  const usage = new Map<string, TenantUsage>();
  for (const quota of snapshot.quotas) {
    const own = snapshot.leases.filter((l) => owners.get(l.namespace) === quota.name);
    usage.set(quota.name, usageOf(quota, own));
  }
  for (const lease of snapshot.leases) {
    if (!isPending(lease)) continue;
    const quota = quotas.get(owners.get(lease.namespace) ?? "");
    if (!quota || quota.spec.suspend || neverAdmissible(quota, lease)) continue;
    const limit = matchLimit(quota, lease);
    if (!limit) continue;
    leases.push({ lease, quota, limit: limitKey(limit), block: lease.spec.gpusPerNode ?? 1 });
  }
  return {
    nodes,
    idleInternalGpus,
    lendableIdleGpus: Math.max(0, idleInternalGpus - snapshot.settings.headroomGpus),
    leases,
    quotas,
    usage,
  };
}

/** GPUs of Pending leases the planner admits in one plan, and why each lease it leaves waits. */
export function plannerLent(snapshot: ClusterSnapshot): { lent: number; waiting: Map<string, string> } {
  const decisions = planCluster(snapshot).decisions;
  const waiting = new Map<string, string>();
  for (const d of decisions) if (d.kind === "wait") waiting.set(d.lease.name, d.refusal.reason);
  return {
    lent: decisions.filter((d) => d.kind === "admit").reduce((sum, d) => sum + d.lease.spec.gpus, 0),
    waiting,
  };
}

/**
 * Naive baseline: leases in arrival order, each split over the matching nodes in name order (first
 * fit, lent and idle nodes alike), under the same quota, model, block and headroom rules.
 */
export function naiveLent(snapshot: ClusterSnapshot): number {
  const p = problemOf(snapshot);
  const free = new Map(p.nodes.map((n) => [n.name, n.free]));
  const lent = new Set(p.nodes.filter((n) => n.lent).map((n) => n.name));
  let idleLeft = p.idleInternalGpus;
  const models = [...new Set(p.nodes.map((n) => n.model))].sort();
  let total = 0;
  const order = [...p.leases].sort(
    (a, b) => a.lease.createdAt - b.lease.createdAt || (a.lease.name < b.lease.name ? -1 : 1),
  );
  for (const { lease, quota, block } of order) {
    const usage = p.usage.get(quota.name) as TenantUsage;
    if (quotaBlocks(quota, lease, usage)) continue;
    for (const model of lease.spec.gpuModel ? [lease.spec.gpuModel] : models) {
      let remaining = lease.spec.gpus / block;
      let idleAfter = idleLeft;
      const taken: [string, number][] = [];
      for (const node of p.nodes) {
        if (remaining === 0) break;
        if (node.model !== model) continue;
        const units = Math.min(remaining, Math.floor((free.get(node.name) ?? 0) / block));
        if (units === 0) continue;
        if (!lent.has(node.name)) {
          if (idleAfter - node.capacity < snapshot.settings.headroomGpus) continue;
          idleAfter -= node.capacity;
        }
        taken.push([node.name, units * block]);
        remaining -= units;
      }
      if (remaining > 0) continue;
      for (const [name, gpus] of taken) {
        free.set(name, (free.get(name) ?? 0) - gpus);
        lent.add(name);
      }
      idleLeft = idleAfter;
      const added = usageOf(quota, [
        {
          ...lease,
          status: { phase: "Active", allocations: taken.map(([node, gpus]) => ({ node, gpus, since: "" })) },
        },
      ]);
      for (const [key, value] of added.byLimit) {
        const entry = usage.byLimit.get(key) ?? { gpus: 0, reservedGpus: 0 };
        entry.gpus += value.gpus;
        entry.reservedGpus += value.reservedGpus;
        usage.byLimit.set(key, entry);
      }
      usage.totalGpus += lease.spec.gpus;
      total += lease.spec.gpus;
      break;
    }
  }
  return total;
}

/**
 * The most GPUs any admission could lend now, as a MIP: which pending leases to admit, how many blocks
 * of each on each node. What the planner enforces, the MIP enforces: node free GPUs, the lease's model
 * (one model per lease, any model when unpinned), whole blocks of gpusPerNode per node, the tenant's
 * limit (the model's own, else the any-model one) for all GPUs and for Reserved ones, and the
 * headroom of idle Internal GPUs that lending whole nodes must leave. It relaxes the fair order
 * (tenant priority, share, lease priority, age): it may admit any subset.
 */
export function optimumLent(
  snapshot: ClusterSnapshot,
  timeLimitSeconds: number,
): {
  lent: number;
  bound: number;
  gap: number;
  optimal: boolean;
  seconds: number;
  admitted: string[];
  /** The optimum's allocations, by lease name. */
  placements: Map<string, { node: string; gpus: number }[]>;
} {
  const p = problemOf(snapshot);
  const mip = new Mip();
  const objective: Term[] = [];
  const onNode = new Map<string, Term[]>(p.nodes.map((n) => [n.name, []]));
  const byLimit = new Map<string, { all: Term[]; reserved: Term[]; quota: QuotaView; limit: string }>();
  p.leases.forEach(({ lease, quota, limit, block }, i) => {
    const a = mip.variable(`a${i}`, "bin");
    objective.push([lease.spec.gpus, a]);
    const usable = p.nodes.filter(
      (n) => (lease.spec.gpuModel === undefined || n.model === lease.spec.gpuModel) && n.free >= block,
    );
    const models = [...new Set(usable.map((n) => n.model))];
    const choice = new Map<string, string>();
    if (models.length > 1) {
      // One model per lease: u(lease, model) chooses it.
      for (const [m, model] of models.entries()) choice.set(model, mip.variable(`u${i}_${m}`, "bin"));
      mip.row([...[...choice.values()].map((u): Term => [1, u]), [-1, a]], "=", 0);
    }
    const blocks: Term[] = [];
    for (const [j, n] of p.nodes.entries()) {
      if (!usable.includes(n)) continue;
      const most = Math.min(Math.floor(n.free / block), lease.spec.gpus / block);
      const k = mip.variable(`k${i}_${j}`, "int", most);
      blocks.push([block, k]);
      (onNode.get(n.name) as Term[]).push([block, k]);
      mip.row(
        [
          [1, k],
          [-most, choice.get(n.model) ?? a],
        ],
        "<=",
        0,
      );
    }
    mip.row([...blocks, [-lease.spec.gpus, a]], "=", 0);
    const key = `${quota.name}|${limit}`;
    const entry = byLimit.get(key) ?? { all: [], reserved: [], quota, limit };
    entry.all.push([lease.spec.gpus, a]);
    if (lease.spec.class === "Reserved") entry.reserved.push([lease.spec.gpus, a]);
    byLimit.set(key, entry);
  });
  const lending: Term[] = [];
  for (const [j, n] of p.nodes.entries()) {
    const terms = onNode.get(n.name) as Term[];
    if (n.lent) mip.row(terms, "<=", n.free);
    else {
      const w = mip.variable(`w${j}`, "bin");
      mip.row([...terms, [-n.free, w]], "<=", 0);
      lending.push([n.capacity, w]);
    }
  }
  mip.row(lending, "<=", p.lendableIdleGpus);
  for (const { all, reserved, quota, limit } of byLimit.values()) {
    const spec = quota.spec.limits.find((l) => limitKey(l) === limit);
    const used = p.usage.get(quota.name)?.byLimit.get(limit) ?? { gpus: 0, reservedGpus: 0 };
    mip.row(all, "<=", Math.max(0, (spec?.maxGpus ?? 0) - used.gpus));
    if (reserved.length > 0)
      mip.row(reserved, "<=", Math.max(0, (spec?.maxReservedGpus ?? 0) - used.reservedGpus));
  }
  if (objective.length === 0)
    return { lent: 0, bound: 0, gap: 0, optimal: true, seconds: 0, admitted: [], placements: new Map() };
  const result = mip.solve("max", objective, timeLimitSeconds);
  if (result.status === "infeasible")
    throw new Error("placement MIP infeasible: admitting nothing is always feasible");
  return {
    lent: Math.round(result.objective),
    // GPUs are whole: a fractional bound rounds down.
    bound: Math.floor(result.bound + 1e-6),
    gap: result.gap,
    optimal: result.status === "optimal",
    seconds: result.seconds,
    admitted: p.leases.filter((_, i) => result.value(`a${i}`) === 1).map((x) => x.lease.name),
    placements: new Map(
      p.leases
        .map(({ lease, block }, i) => ({
          name: lease.name,
          allocations: p.nodes
            .map((n, j) => ({ node: n.name, gpus: result.value(`k${i}_${j}`) * block }))
            .filter((a) => a.gpus > 0),
        }))
        .filter((x) => x.allocations.length > 0)
        .map((x) => [x.name, x.allocations]),
    ),
  };
}

/**
 * Checks the optimum against the core rather than against the MIP's own rows: its allocations, written
 * as Active leases on lent nodes, must leave no node over-allocated (accountNodes), no tenant over a
 * limit it was within (usageOf), the headroom of idle GPUs, and each lease whole, on one model, in
 * blocks. Returns what is wrong, if anything.
 */
export function checkPlacements(
  snapshot: ClusterSnapshot,
  placements: Map<string, { node: string; gpus: number }[]>,
): string | undefined {
  const before = problemOf(snapshot);
  const byName = new Map(snapshot.nodes.map((n) => [n.name, n]));
  const newlyLent = new Set<string>();
  for (const [name, allocations] of placements) {
    const lease = snapshot.leases.find((l) => l.name === name) as LeaseView;
    const block = lease.spec.gpusPerNode ?? 1;
    const models = new Set(allocations.map((a) => byName.get(a.node)?.gpuModel));
    if (allocations.reduce((s, a) => s + a.gpus, 0) !== lease.spec.gpus) return `${name}: not whole`;
    if (allocations.some((a) => a.gpus % block !== 0)) return `${name}: not in blocks of ${block}`;
    if (models.size !== 1 || (lease.spec.gpuModel !== undefined && !models.has(lease.spec.gpuModel)))
      return `${name}: on models ${[...models].join(", ")}`;
    for (const a of allocations) if (!byName.get(a.node)?.lent) newlyLent.add(a.node);
  }
  const after: ClusterSnapshot = {
    ...snapshot,
    nodes: snapshot.nodes.map((n) => (newlyLent.has(n.name) ? { ...n, lent: true } : n)),
    leases: snapshot.leases.map((l) => {
      const allocations = placements.get(l.name);
      return allocations
        ? { ...l, status: { phase: "Active", allocations: allocations.map((a) => ({ ...a, since: "" })) } }
        : l;
    }),
  };
  for (const a of accountNodes(after).values()) if (a.free < 0) return `${a.node.name} over-allocated`;
  const owners = tenantNamespaces(after);
  for (const quota of snapshot.quotas) {
    const used = usageOf(
      quota,
      after.leases.filter((l) => owners.get(l.namespace) === quota.name),
    );
    for (const limit of quota.spec.limits) {
      const now = used.byLimit.get(limitKey(limit)) ?? { gpus: 0, reservedGpus: 0 };
      const was = before.usage.get(quota.name)?.byLimit.get(limitKey(limit)) ?? { gpus: 0, reservedGpus: 0 };
      if (now.gpus > Math.max(limit.maxGpus, was.gpus)) return `${quota.name} over ${limitKey(limit)}`;
      if (now.reservedGpus > Math.max(limit.maxReservedGpus ?? 0, was.reservedGpus))
        return `${quota.name} over its Reserved ${limitKey(limit)}`;
    }
  }
  const lentGpus = [...newlyLent].reduce((s, n) => s + (byName.get(n)?.gpus["nvidia.com/gpu"] ?? 0), 0);
  if (lentGpus > before.lendableIdleGpus)
    return `lends ${lentGpus} idle GPUs, headroom allows ${before.lendableIdleGpus}`;
  return undefined;
}

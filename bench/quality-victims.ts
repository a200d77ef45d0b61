/**
 * Victim choice quality: for one internal demand on a cluster with lent nodes, the planner's victims
 * against the least GPUs and the least GPU-time any valid reclaim could evict (a MIP, solved exactly),
 * and a naive baseline (Kueue-style: lowest priority first, then the most recently admitted).
 */
import { ANNOTATION_LAST_CHECKPOINT, parseTenantQuota, tenantQuotaSpecView } from "../src/api/index.ts";
import { accountNodes, holdsAllocation, tenantNamespaces } from "../src/core/accounting.ts";
import {
  type ClusterSnapshot,
  type LeaseView,
  leaseKey,
  type NodeView,
  type PodView,
} from "../src/core/model.ts";
import { planCluster } from "../src/core/planner.ts";
import { gpuTimeLost, protection } from "../src/core/reclaim-planner.ts";
import { groupFits, type NodeRoom, staticFit } from "../src/core/scheduling-fit.ts";
import { makeLease, makeNode, makePod, rng } from "./generate.ts";
import { Mip, type Term } from "./mip.ts";

const NOW = Date.parse("2026-11-28T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const pick = <T>(r: () => number, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;
const H100 = "NVIDIA-H100-80GB-HBM3";
const A100 = "NVIDIA-A100-SXM4-80GB";
const RESOURCE = "nvidia.com/gpu";

export interface VictimInstance {
  snapshot: ClusterSnapshot;
  demand: PodView[];
}

/**
 * 4-10 lent nodes of two models (8- and 4-GPU), partly free; leases of 1-8 GPUs, some spanning two
 * nodes (some of those allow partial reclaim), some inside their tenant's minRuntime, some Reserved,
 * some with a recent checkpoint; 2-3 tenants and lease priorities; internal nodes with a few GPUs
 * left; one internal demand of 2, 4, 8 or 16 GPUs in one or several pods, pinned to a model or not.
 */
export function victimInstance(seed: number): VictimInstance {
  const r = rng(seed * 104_729 + 7);
  const tenants = Array.from({ length: 2 + Math.floor(r() * 2) }, (_, i) => `tenant-${i}`);
  const nodes: NodeView[] = [];
  const free = new Map<string, number>();
  const lentCount = 4 + Math.floor(r() * 7);
  for (let i = 0; i < lentCount; i++) {
    const model = r() < 0.6 ? H100 : A100;
    const size = model === H100 ? 8 : pick(r, [8, 4]);
    const node = makeNode(`lent-${i}`, model, { lent: true, gpus: { [RESOURCE]: size } });
    nodes.push(node);
    free.set(node.name, size);
  }
  const leases: LeaseView[] = [];
  let id = 0;
  const addLease = (
    tenant: string,
    allocations: { node: string; gpus: number }[],
    spec: Record<string, unknown>,
  ) => {
    const gpus = allocations.reduce((s, a) => s + a.gpus, 0);
    const age = (1 + Math.floor(r() * 300)) * 60_000;
    const reserved = r() < 0.08;
    const view = makeLease(
      tenant,
      `l-${id++}`,
      {
        gpus,
        priority: pick(r, [-10, 0, 0, 10]),
        ...(reserved ? { class: "Reserved", duration: "24h" } : {}),
        ...spec,
      },
      NOW - age,
      {
        phase: "Active",
        admittedAt: iso(NOW - age),
        allocations: allocations.map((a) => ({ ...a, since: iso(NOW - age) })),
        pricing: { perGpuHour: "1.20", currency: "USD" },
      },
    );
    // A recent checkpoint on some: less work lost if they stop now.
    if (r() < 0.4)
      view.annotations[ANNOTATION_LAST_CHECKPOINT] = iso(
        NOW - (1 + Math.floor(r() * (age / 60_000))) * 60_000,
      );
    leases.push(view);
    for (const a of allocations) free.set(a.node, (free.get(a.node) ?? 0) - a.gpus);
  };
  // Leases spanning two nodes of one model, in blocks.
  const spans = Math.floor(r() * (lentCount / 2));
  for (let s = 0; s < spans; s++) {
    const block = pick(r, [2, 4, 8]);
    const fits = nodes.filter((n) => (free.get(n.name) ?? 0) >= block);
    const first = fits.length ? pick(r, fits) : undefined;
    const second = fits.filter((n) => n !== first && n.gpuModel === first?.gpuModel);
    if (!first || second.length === 0) continue;
    addLease(
      pick(r, tenants),
      [
        { node: first.name, gpus: block },
        { node: pick(r, second).name, gpus: block },
      ],
      { gpusPerNode: block, gpuModel: first.gpuModel, allowPartialReclaim: r() < 0.5 },
    );
  }
  // Each node then filled to 50-100 % with single-node leases.
  for (const node of nodes) {
    const size = node.gpus[RESOURCE] ?? 0;
    const target = Math.ceil(size * (0.5 + r() * 0.5));
    while (size - (free.get(node.name) ?? 0) < target) {
      const gpus = Math.min(free.get(node.name) ?? 0, pick(r, [1, 2, 4, 8]));
      addLease(pick(r, tenants), [{ node: node.name, gpus }], { gpuModel: node.gpuModel });
    }
  }
  // Internal nodes, busy with a few GPUs left over.
  const pods: PodView[] = [];
  const internalCount = 1 + Math.floor(r() * 3);
  for (let i = 0; i < internalCount; i++) {
    const model = r() < 0.6 ? H100 : A100;
    const node = makeNode(`internal-${i}`, model);
    nodes.push(node);
    let used = 0;
    const target = 8 - Math.floor(r() * 4);
    while (used < target) {
      const gpus = Math.min(target - used, pick(r, [1, 2, 4, 8]));
      pods.push(
        makePod("training", `busy-${i}-${used}`, { nodeName: node.name, gpus: { [RESOURCE]: gpus } }),
      );
      used += gpus;
    }
  }
  const total = pick(r, [2, 4, 8, 16]);
  const split = r() < 0.5 ? 1 : total <= 8 ? 2 : 4;
  const podGpus = Math.min(total / split, 8);
  const count = total / podGpus;
  const pinned = r() < 0.3 ? pick(r, [H100, A100]) : undefined;
  const demand = Array.from({ length: count }, (_, i) =>
    makePod("training", `job-${i}`, {
      nodeName: undefined,
      phase: "Pending",
      unschedulable: true,
      unschedulableSince: NOW - 1000,
      createdAt: NOW - 5000,
      group: "job/train",
      groupSize: count,
      gpus: { [RESOURCE]: podGpus },
      cpuMillis: 1000,
      memoryBytes: 2 ** 30,
      ...(pinned ? { nodeSelector: { "nvidia.com/gpu.product": pinned } } : {}),
    }),
  );
  const quotas = tenants.map((name) => {
    const parsed = parseTenantQuota({
      metadata: { name },
      spec: {
        limits: [{ maxGpus: 1000, maxReservedGpus: 1000 }],
        reclaimNotice: "2m",
        ...(r() < 0.7 ? { minRuntime: "15m" } : {}),
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
        headroomGpus: 0,
        resourceNames: [RESOURCE],
        expiryWarningMs: 0,
        meteringIntervalMs: 0,
        evictionGraceMs: 0,
      },
      nodes,
      pods: [...pods, ...demand],
      namespaces: tenants.map((t) => ({ name: t, tenant: t })),
      leases,
      quotas,
    },
    demand,
  };
}

/** What one method evicts: GPUs, GPU-seconds of work lost, and the highest priorities it hits. */
export interface VictimOutcome {
  gpus: number;
  lost: number;
  tenantPriority: number;
  leasePriority: number;
}

interface Victim {
  lease: LeaseView;
  tenantPriority: number;
  /** Whole: evicted entirely; otherwise one node's allocation at a time. */
  whole: boolean;
  protectedNow: boolean;
}

function victimsOf(snapshot: ClusterSnapshot): {
  lentNodes: { node: NodeView; capacity: number; leases: LeaseView[] }[];
  rooms: NodeRoom[];
  victims: Map<string, Victim>;
} {
  const accounts = accountNodes(snapshot);
  const owners = tenantNamespaces(snapshot);
  const quotas = new Map(snapshot.quotas.map((q) => [q.name, q]));
  const victims = new Map<string, Victim>();
  for (const lease of snapshot.leases) {
    if (!holdsAllocation(lease)) continue;
    const quota = quotas.get(owners.get(lease.namespace) ?? "");
    victims.set(leaseKey(lease), {
      lease,
      tenantPriority: quota?.spec.priority ?? 0,
      whole: !lease.spec.allowPartialReclaim,
      protectedNow: protection(lease, quota, snapshot.now) !== undefined,
    });
  }
  const lentNodes = [...accounts.values()]
    .filter((a) => a.state === "Lent")
    .map((a) => ({
      node: a.node,
      capacity: a.capacity - a.internalUsed,
      leases: [...victims.values()]
        .filter((v) => (v.lease.status.allocations ?? []).some((x) => x.node === a.node.name))
        .map((v) => v.lease),
    }));
  const rooms: NodeRoom[] = [...accounts.values()]
    .filter((a) => a.state === "Internal" && a.free > 0)
    .map((a) => ({
      node: a.node,
      gpus: a.free,
      cpuMillis: a.node.cpuMillis,
      memoryBytes: a.node.memoryBytes,
    }));
  return { lentNodes, rooms, victims };
}

const allocationOn = (lease: LeaseView, node: string) =>
  (lease.status.allocations ?? []).find((a) => a.node === node)?.gpus ?? 0;

/** The planner's reclaim for the demand, or undefined when it makes none. */
export function plannerVictims(inst: VictimInstance): VictimOutcome | undefined {
  const plan = planCluster(inst.snapshot);
  const decision = plan.reclaims[0];
  if (!decision) return undefined;
  const { victims } = victimsOf(inst.snapshot);
  let lost = 0;
  let tenantPriority = Number.NEGATIVE_INFINITY;
  let leasePriority = Number.NEGATIVE_INFINITY;
  for (const hit of decision.hits) {
    const v = victims.get(leaseKey(hit.lease)) as Victim;
    if (v.protectedNow) throw new Error(`the planner chose protected lease ${leaseKey(hit.lease)}`);
    lost += gpuTimeLost(hit.lease, hit.gpus, inst.snapshot.now);
    tenantPriority = Math.max(tenantPriority, v.tenantPriority);
    leasePriority = Math.max(leasePriority, hit.lease.spec.priority);
  }
  return { gpus: decision.gpusEvicted, lost, tenantPriority, leasePriority };
}

/**
 * Naive baseline, as Kueue's preemption orders candidates: lowest tenant priority, then lowest lease
 * priority, then the most recently admitted; whole leases are evicted until the demand fits.
 */
export function naiveVictims(inst: VictimInstance): VictimOutcome | undefined {
  const { lentNodes, rooms, victims } = victimsOf(inst.snapshot);
  const order = [...victims.values()]
    .filter((v) => !v.protectedNow)
    .sort(
      (a, b) =>
        a.tenantPriority - b.tenantPriority ||
        a.lease.spec.priority - b.lease.spec.priority ||
        Date.parse(b.lease.status.admittedAt ?? "") - Date.parse(a.lease.status.admittedAt ?? "") ||
        (a.lease.name < b.lease.name ? -1 : 1),
    );
  const evicted = new Set<string>();
  const outcome: VictimOutcome = { gpus: 0, lost: 0, tenantPriority: -Infinity, leasePriority: -Infinity };
  for (const v of order) {
    evicted.add(leaseKey(v.lease));
    outcome.gpus += v.lease.spec.gpus;
    outcome.lost += gpuTimeLost(v.lease, v.lease.spec.gpus, inst.snapshot.now);
    outcome.tenantPriority = Math.max(outcome.tenantPriority, v.tenantPriority);
    outcome.leasePriority = Math.max(outcome.leasePriority, v.lease.spec.priority);
    const freed = lentNodes
      .filter((n) => n.leases.every((l) => evicted.has(leaseKey(l))))
      .map((n) => ({
        node: n.node,
        gpus: n.capacity,
        cpuMillis: n.node.cpuMillis,
        memoryBytes: n.node.memoryBytes,
      }));
    if (groupFits(inst.demand, [...rooms, ...freed], () => RESOURCE)) return outcome;
  }
  return undefined;
}

export interface VictimOptimum {
  /** No reclaim is needed (the demand fits already), or none can serve it (protections, fit). */
  kind: "fits" | "impossible" | "ok";
  /** Least GPUs and least GPU-time over every valid reclaim. */
  anyGpus: number;
  anyLost: number;
  /** The planner's rule first: the lowest highest tenant priority hit, then lease priority. */
  tenantPriority: number;
  leasePriority: number;
  /** Least GPUs and least GPU-time among reclaims that hit no higher priority than that. */
  ruleGpus: number;
  ruleLost: number;
}

/**
 * Every valid reclaim, as a MIP: y(lease) evicts a whole lease, y(lease, node) one node's part of a
 * lease that allows partial reclaim; f(node) frees a lent node, possible only when every lease on it
 * is evicted there (so never a node holding a Reserved lease or one inside its minRuntime); each
 * demand pod goes to one node whose model and selector it matches (staticFit), within the free GPUs
 * of Internal nodes or the whole of freed nodes. CPU and memory are left out: the generated pods ask
 * for 1 core of the nodes' 96.
 */
function victimMip(
  inst: VictimInstance,
  allow: (v: Victim) => boolean,
  objective: "gpus" | "lost",
): number | undefined {
  const { lentNodes, rooms, victims } = victimsOf(inst.snapshot);
  const mip = new Mip();
  const cost: Term[] = [];
  const keys = [...victims.keys()];
  const evictVar = (v: Victim, node: string): string | undefined => {
    if (v.protectedNow || !allow(v)) return undefined;
    const i = keys.indexOf(leaseKey(v.lease));
    const name = v.whole ? `y${i}` : `y${i}_${lentNodes.findIndex((n) => n.node.name === node)}`;
    if (!mip.has(name)) {
      mip.variable(name, "bin");
      const gpus = v.whole ? v.lease.spec.gpus : allocationOn(v.lease, node);
      cost.push([objective === "gpus" ? gpus : gpuTimeLost(v.lease, gpus, inst.snapshot.now), name]);
    }
    return name;
  };
  const targets: { node: NodeView; gpus: number; freedBy?: string }[] = rooms.map((r) => ({
    node: r.node,
    gpus: r.gpus,
  }));
  for (const [j, n] of lentNodes.entries()) {
    const guards = n.leases.map((l) => evictVar(victims.get(leaseKey(l)) as Victim, n.node.name));
    if (guards.some((g) => g === undefined)) continue;
    const f = mip.variable(`f${j}`, "bin");
    for (const g of guards)
      mip.row(
        [
          [1, f],
          [-1, g as string],
        ],
        "<=",
        0,
      );
    targets.push({ node: n.node, gpus: n.capacity, freedBy: f });
  }
  const load = targets.map((): Term[] => []);
  for (const [p, pod] of inst.demand.entries()) {
    const gpus = pod.gpus[RESOURCE] ?? 0;
    const choices: Term[] = [];
    for (const [t, target] of targets.entries()) {
      if (target.gpus < gpus || !staticFit(pod, target.node)) continue;
      const z = mip.variable(`z${p}_${t}`, "bin");
      choices.push([1, z]);
      (load[t] as Term[]).push([gpus, z]);
    }
    if (choices.length === 0) return undefined;
    mip.row(choices, "=", 1);
  }
  for (const [t, target] of targets.entries()) {
    const terms = load[t] as Term[];
    if (terms.length === 0) continue;
    if (target.freedBy) mip.row([...terms, [-target.gpus, target.freedBy]], "<=", 0);
    else mip.row(terms, "<=", target.gpus);
  }
  const result = mip.solve("min", cost, 60);
  if (result.status === "infeasible") return undefined;
  if (result.status !== "optimal") throw new Error("victim MIP not solved to optimality within 60 s");
  return result.objective;
}

export function victimOptimum(inst: VictimInstance): VictimOptimum {
  const { victims } = victimsOf(inst.snapshot);
  const none = { anyGpus: 0, anyLost: 0, tenantPriority: 0, leasePriority: 0, ruleGpus: 0, ruleLost: 0 };
  const anyGpus = victimMip(inst, () => true, "gpus");
  if (anyGpus === undefined) return { kind: "impossible", ...none };
  if (anyGpus === 0) return { kind: "fits", ...none };
  const anyLost = victimMip(inst, () => true, "lost") as number;
  const open = [...victims.values()].filter((v) => !v.protectedNow);
  const tenantLevels = [...new Set(open.map((v) => v.tenantPriority))].sort((a, b) => a - b);
  const tenantPriority = tenantLevels.find(
    (t) => victimMip(inst, (v) => v.tenantPriority <= t, "gpus") !== undefined,
  ) as number;
  const leaseLevels = [
    ...new Set(open.filter((v) => v.tenantPriority <= tenantPriority).map((v) => v.lease.spec.priority)),
  ].sort((a, b) => a - b);
  const leasePriority = leaseLevels.find(
    (l) =>
      victimMip(inst, (v) => v.tenantPriority <= tenantPriority && v.lease.spec.priority <= l, "gpus") !==
      undefined,
  ) as number;
  const rule = (v: Victim) => v.tenantPriority <= tenantPriority && v.lease.spec.priority <= leasePriority;
  return {
    kind: "ok",
    anyGpus,
    anyLost,
    tenantPriority,
    leasePriority,
    ruleGpus: victimMip(inst, rule, "gpus") as number,
    ruleLost: victimMip(inst, rule, "lost") as number,
  };
}

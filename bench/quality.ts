/**
 * Quality benchmark, in-process: placement and victim choice against the exact optimum (small
 * generated instances, exhaustive search) and against a bound (large ones).
 *
 *   tsx bench/quality.ts [--smoke]
 */
import { writeFileSync } from "node:fs";
import type { LeaseView, NodeView } from "../src/core/model.ts";
import { planCluster } from "../src/core/planner.ts";
import { makeLease, makeNode, makePod, makeQuota, rng } from "./generate.ts";
import { machine, printTable } from "./machine.ts";

const smoke = process.argv.includes("--smoke");
const now = Date.parse("2026-11-28T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const MODEL = "NVIDIA-H100-80GB-HBM3";
const settings = {
  idlePeriodMs: 0,
  headroomGpus: 0,
  resourceNames: ["nvidia.com/gpu"],
  expiryWarningMs: 0,
  meteringIntervalMs: 0,
  evictionGraceMs: 0,
};

interface Request {
  gpus: number;
  block: number;
}

/** Can these requests all be placed on `nodes` nodes of 8 GPUs (each request in blocks on single nodes)? */
function feasible(requests: Request[], nodes: number): boolean {
  const blocks: number[] = [];
  for (const r of requests) for (let i = 0; i < r.gpus / r.block; i++) blocks.push(r.block);
  blocks.sort((a, b) => b - a);
  const free = Array.from({ length: nodes }, () => 8);
  const place = (i: number): boolean => {
    if (i === blocks.length) return true;
    const size = blocks[i] as number;
    const tried = new Set<number>();
    for (let n = 0; n < nodes; n++) {
      const f = free[n] as number;
      if (f < size || tried.has(f)) continue;
      tried.add(f);
      free[n] = f - size;
      if (place(i + 1)) return true;
      free[n] = f;
    }
    return false;
  };
  return place(0);
}

/** The most GPUs any subset of the requests can have placed at once. */
function optimumLent(requests: Request[], nodes: number): number {
  let best = 0;
  for (let mask = 0; mask < 1 << requests.length; mask++) {
    const subset = requests.filter((_, i) => mask & (1 << i));
    const gpus = subset.reduce((s, r) => s + r.gpus, 0);
    if (gpus > best && gpus <= nodes * 8 && feasible(subset, nodes)) best = gpus;
  }
  return best;
}

function admitAll(requests: Request[], nodes: number): number {
  const snap = {
    now,
    settings,
    nodes: Array.from({ length: nodes }, (_, i) => makeNode(`n${i}`, MODEL)),
    pods: [],
    namespaces: [{ name: "t", tenant: "t" }],
    quotas: [makeQuota("t", 0, 1_000_000)],
    leases: requests.map((r, i) =>
      makeLease("t", `l${i}`, { gpus: r.gpus, ...(r.block > 1 ? { gpusPerNode: r.block } : {}) }, now + i),
    ),
  };
  const plan = planCluster(snap);
  return plan.leaseStatuses
    .filter((s) => s.status.phase === "Active")
    .reduce((s, x) => s + x.lease.spec.gpus, 0);
}

function randomRequests(random: () => number, count: number): Request[] {
  return Array.from({ length: count }, () => {
    const kind = Math.floor(random() * 6);
    return [
      { gpus: 1, block: 1 },
      { gpus: 2, block: 1 },
      { gpus: 3, block: 1 },
      { gpus: 4, block: 4 },
      { gpus: 8, block: 8 },
      { gpus: 6, block: 2 },
    ][kind] as Request;
  });
}

// --- placement ------------------------------------------------------------------------------------
const random = rng(42);
const small = smoke ? 30 : 300;
let smallRatioSum = 0;
let smallWorst = 1;
let smallOptimal = 0;
for (let i = 0; i < small; i++) {
  const nodes = 2 + Math.floor(random() * 3);
  const requests = randomRequests(random, 5 + Math.floor(random() * 5));
  const ours = admitAll(requests, nodes);
  const best = optimumLent(requests, nodes);
  const ratio = best === 0 ? 1 : ours / best;
  smallRatioSum += ratio;
  smallWorst = Math.min(smallWorst, ratio);
  if (ours === best) smallOptimal++;
}
const large = smoke ? 3 : 20;
let largeRatioSum = 0;
for (let i = 0; i < large; i++) {
  const nodes = 200;
  const requests = randomRequests(random, 600);
  const ours = admitAll(requests, nodes);
  const bound = Math.min(
    nodes * 8,
    requests.reduce((s, r) => s + r.gpus, 0),
  );
  largeRatioSum += ours / bound;
}

// --- victims --------------------------------------------------------------------------------------
interface VictimInstance {
  nodes: NodeView[];
  leases: LeaseView[];
  demandGpus: number;
}

function victimInstance(r: () => number): VictimInstance {
  const nodeCount = 3 + Math.floor(r() * 4);
  const nodes = Array.from({ length: nodeCount }, (_, i) => makeNode(`n${i}`, MODEL, { lent: true }));
  const leases: LeaseView[] = [];
  let id = 0;
  for (const node of nodes) {
    let free = 8;
    while (free > 0) {
      const gpus = Math.min(free, [1, 2, 4, 8][Math.floor(r() * 4)] as number);
      const age = (10 + Math.floor(r() * 300)) * 60_000;
      leases.push(
        makeLease("t", `l${id++}`, { gpus }, now - age, {
          phase: "Active",
          admittedAt: iso(now - age),
          allocations: [{ node: node.name, gpus, since: iso(now - age) }],
          pricing: { perGpuHour: "1", currency: "USD" },
        }),
      );
      free -= gpus;
    }
  }
  return { nodes, leases, demandGpus: 8 };
}

/** Fewest GPUs evicted, and least GPU-time lost, over every set of leases that frees a whole node. */
function victimOptimum(inst: VictimInstance): { gpus: number; lost: number } {
  let bestGpus = Number.POSITIVE_INFINITY;
  let bestLost = Number.POSITIVE_INFINITY;
  for (const node of inst.nodes) {
    const here = inst.leases.filter((l) => l.status.allocations?.[0]?.node === node.name);
    const gpus = here.reduce((s, l) => s + l.spec.gpus, 0);
    const lost = here.reduce(
      (s, l) => s + (l.spec.gpus * (now - Date.parse(l.status.admittedAt ?? ""))) / 1000,
      0,
    );
    bestGpus = Math.min(bestGpus, gpus);
    bestLost = Math.min(bestLost, lost);
  }
  return { gpus: bestGpus, lost: bestLost };
}

const victims = smoke ? 50 : 1000;
const vr = rng(7);
let overEvictionSum = 0;
let lostRatioSum = 0;
let lostOptimal = 0;
for (let i = 0; i < victims; i++) {
  const inst = victimInstance(vr);
  const plan = planCluster({
    now,
    settings,
    nodes: inst.nodes,
    pods: [
      makePod("training", "t", {
        nodeName: undefined,
        phase: "Pending",
        unschedulable: true,
        unschedulableSince: now - 1000,
      }),
    ],
    namespaces: [{ name: "t", tenant: "t" }],
    quotas: [makeQuota("t", 0, 1_000_000)],
    leases: inst.leases,
  });
  const decision = plan.reclaims[0];
  const evicted = decision?.gpusEvicted ?? 0;
  const lost = (decision?.hits ?? []).reduce(
    (s, h) => s + (h.gpus * (now - Date.parse(h.lease.status.admittedAt ?? ""))) / 1000,
    0,
  );
  const best = victimOptimum(inst);
  overEvictionSum += evicted / inst.demandGpus;
  lostRatioSum += best.lost === 0 ? 1 : lost / best.lost;
  if (Math.abs(lost - best.lost) < 1e-6) lostOptimal++;
}

const result = {
  benchmark: "quality",
  smoke,
  machine: machine(),
  placement: {
    smallInstances: small,
    lentShareOfOptimumMean: smallRatioSum / small,
    lentShareOfOptimumWorst: smallWorst,
    optimalShare: smallOptimal / small,
    largeInstances: large,
    lentShareOfUpperBoundMean: largeRatioSum / large,
  },
  victims: {
    instances: victims,
    overEvictionMean: overEvictionSum / victims,
    gpuTimeLostVsBestMean: lostRatioSum / victims,
    optimalShare: lostOptimal / victims,
  },
  goals: { lentShareOfOptimum: 0.98, overEviction: 1.1 },
};
printTable("Quality: placement and victim choice", [
  [
    `placement, ${small} small instances: lent GPUs / optimum (mean)`,
    result.placement.lentShareOfOptimumMean.toFixed(4),
  ],
  ["  worst instance", result.placement.lentShareOfOptimumWorst.toFixed(3)],
  ["  instances placed optimally", `${(result.placement.optimalShare * 100).toFixed(1)} %`],
  [
    `placement, ${large} instances of 200 nodes: lent / upper bound`,
    result.placement.lentShareOfUpperBoundMean.toFixed(4),
  ],
  [
    `victims, ${victims} instances: over-eviction (evicted / needed)`,
    result.victims.overEvictionMean.toFixed(3),
  ],
  ["  GPU-time lost / best plan's (mean)", result.victims.gpuTimeLostVsBestMean.toFixed(3)],
  ["  instances with the least GPU-time lost", `${(result.victims.optimalShare * 100).toFixed(1)} %`],
  ["machine", `${result.machine.cores} × ${result.machine.cpu}`],
]);
writeFileSync(
  new URL(`results/quality${smoke ? "-smoke" : ""}.json`, import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);

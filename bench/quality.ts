/**
 * Quality benchmark, in-process: the planner's placement and victim choice against the proven optimum
 * of a mixed-integer program (HiGHS), with a naive baseline under the same rules in the same table.
 *
 *   tsx bench/quality.ts [--smoke]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { machine, printTable } from "./machine.ts";
import { initSolver } from "./mip.ts";
import {
  checkPlacements,
  naiveLent,
  optimumLent,
  placementInstance,
  plannerLent,
} from "./quality-placement.ts";
import {
  naiveVictims,
  plannerVictims,
  type VictimOutcome,
  victimInstance,
  victimOptimum,
} from "./quality-victims.ts";

const smoke = process.argv.includes("--smoke");
const highsVersion = (
  JSON.parse(readFileSync(new URL("../node_modules/highs/package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
await initSolver();

const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((s, x) => s + x, 0) / xs.length);
const min = (xs: number[]) => (xs.length === 0 ? Number.NaN : Math.min(...xs));
const max = (xs: number[]) => (xs.length === 0 ? Number.NaN : Math.max(...xs));
/** a / b where 0 / 0 counts as a perfect 1. */
const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? 1 : Number.POSITIVE_INFINITY) : a / b);

// --- placement ------------------------------------------------------------------------------------
interface PlacementRow {
  seed: number;
  nodes: number;
  capacity: number;
  demandFactor: number;
  planner: number;
  naive: number;
  /** The solver's best solution; `bound` its proven upper bound (equal when optimal). */
  optimum: number;
  bound: number;
  optimal: boolean;
  gap: number;
  solveSeconds: number;
  missed: Record<string, number>;
  /** Of those, GPUs of leases pinned to a model. */
  missedPinned: number;
}

function placementRows(
  seeds: number[],
  nodesFor: (seed: number) => number,
  limitSeconds: number,
  quotasBind = true,
): PlacementRow[] {
  return seeds.map((seed) => {
    const inst = placementInstance(seed, nodesFor(seed), quotasBind);
    const ours = plannerLent(inst.snapshot);
    const planner = ours.lent;
    const naive = naiveLent(inst.snapshot);
    const opt = optimumLent(inst.snapshot, limitSeconds);
    // GPUs the optimum admits that the planner leaves waiting, by the planner's reason.
    const missed: Record<string, number> = {};
    let missedPinned = 0;
    for (const name of opt.admitted) {
      const reason = ours.waiting.get(name);
      const lease = inst.snapshot.leases.find((l) => l.name === name);
      if (reason !== undefined && lease) {
        missed[reason] = (missed[reason] ?? 0) + lease.spec.gpus;
        if (lease.spec.gpuModel !== undefined) missedPinned += lease.spec.gpus;
      }
    }
    const wrong = checkPlacements(inst.snapshot, opt.placements);
    if (wrong) throw new Error(`seed ${seed}: the MIP's optimum breaks a rule of the core: ${wrong}`);
    // A method above the proven bound means the MIP forbids something the planner may do: unfair.
    if (planner > opt.bound || naive > opt.bound)
      throw new Error(`seed ${seed}: planner ${planner} or naive ${naive} above the MIP bound ${opt.bound}`);
    return {
      seed,
      nodes: inst.snapshot.nodes.length,
      capacity: inst.capacity,
      demandFactor: inst.demandFactor,
      planner,
      naive,
      optimum: opt.lent,
      bound: opt.bound,
      optimal: opt.optimal,
      // Against the best solution known (the solver's, the planner's or the naive one's).
      gap: opt.bound === 0 ? 0 : (opt.bound - Math.max(opt.lent, planner, naive)) / opt.bound,
      solveSeconds: opt.seconds,
      missed,
      missedPinned,
    };
  });
}

/** Against the proven bound: equal to the optimum when proved, and never flattering when not. */
function summarize(rows: PlacementRow[]) {
  const plannerRatios = rows.map((r) => ratio(r.planner, r.bound));
  const naiveRatios = rows.map((r) => ratio(r.naive, r.bound));
  return {
    instances: rows.length,
    plannerMean: mean(plannerRatios),
    plannerWorst: min(plannerRatios),
    plannerOptimalShare: rows.filter((r) => r.planner === r.bound).length / rows.length,
    naiveMean: mean(naiveRatios),
    naiveWorst: min(naiveRatios),
    naiveOptimalShare: rows.filter((r) => r.naive === r.bound).length / rows.length,
    plannerAboveNaive: rows.filter((r) => r.planner > r.naive).length,
    plannerBelowNaive: rows.filter((r) => r.planner < r.naive).length,
    provedOptimal: rows.filter((r) => r.optimal).length,
    maxGap: max(rows.map((r) => r.gap)),
    meanSolveSeconds: mean(rows.map((r) => r.solveSeconds)),
    meanDemandFactor: mean(rows.map((r) => r.demandFactor)),
    minDemandFactor: min(rows.map((r) => r.demandFactor)),
    maxDemandFactor: max(rows.map((r) => r.demandFactor)),
    nodesMin: min(rows.map((r) => r.nodes)),
    nodesMax: max(rows.map((r) => r.nodes)),
    /** GPUs the optimum lends and the planner leaves waiting, summed over instances, by reason. */
    missedByReason: rows.reduce<Record<string, number>>((sum, r) => {
      for (const [reason, gpus] of Object.entries(r.missed)) sum[reason] = (sum[reason] ?? 0) + gpus;
      return sum;
    }, {}),
    missedPinned: rows.reduce((s, r) => s + r.missedPinned, 0),
    optimumTotal: rows.reduce((s, r) => s + r.bound, 0),
    plannerTotal: rows.reduce((s, r) => s + r.planner, 0),
  };
}

const seeds = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);
const placementLimit = smoke ? 5 : 30;
const owner = placementRows(seeds(smoke ? 4 : 50), (seed) => 30 + ((seed * 37) % 31), placementLimit);
// The same clusters with quotas lifted: what is left is packing alone (no fair order to pay for).
const lifted = placementRows(seeds(smoke ? 2 : 50), (seed) => 30 + ((seed * 37) % 31), placementLimit, false);
const largeLimit = smoke ? 3 : 60;
const large = placementRows(seeds(smoke ? 1 : 3, 1001), () => 200, largeLimit);

// --- victims --------------------------------------------------------------------------------------
interface VictimRow {
  seed: number;
  demandGpus: number;
  pods: number;
  planner: VictimOutcome | undefined;
  naive: VictimOutcome | undefined;
  optimum: ReturnType<typeof victimOptimum>;
}
const victimSeeds = seeds(smoke ? 20 : 300);
const victimRows: VictimRow[] = [];
const skipped = { fits: 0, impossible: 0, plannerReclaimedNeedlessly: 0 };
for (const seed of victimSeeds) {
  const inst = victimInstance(seed);
  const optimum = victimOptimum(inst);
  const planner = plannerVictims(inst);
  if (optimum.kind !== "ok") {
    skipped[optimum.kind]++;
    if (planner) skipped.plannerReclaimedNeedlessly++;
    continue;
  }
  victimRows.push({
    seed,
    demandGpus: inst.demand.reduce((s, p) => s + (p.gpus["nvidia.com/gpu"] ?? 0), 0),
    pods: inst.demand.length,
    planner,
    naive: naiveVictims(inst),
    optimum,
  });
}
function victimSummary(pick: (row: VictimRow) => VictimOutcome | undefined) {
  const served = victimRows.filter((r) => pick(r) !== undefined);
  const o = (r: VictimRow) => pick(r) as VictimOutcome;
  const gpus = served.map((r) => ratio(o(r).gpus, r.optimum.ruleGpus));
  const lost = served.map((r) => ratio(o(r).lost, r.optimum.ruleLost));
  return {
    served: served.length,
    unserved: victimRows.length - served.length,
    /** Against the least possible under the planner's priority rule. */
    evictedOverMinMean: mean(gpus),
    evictedOverMinWorst: max(gpus),
    lostOverMinMean: mean(lost),
    lostOverMinWorst: max(lost),
    leastLostShare: served.filter((r) => o(r).lost <= r.optimum.ruleLost + 1e-6).length / served.length,
    /** Against the least possible over every valid reclaim, priorities ignored. */
    evictedOverAnyMinMean: mean(served.map((r) => ratio(o(r).gpus, r.optimum.anyGpus))),
    lostOverAnyMinMean: mean(served.map((r) => ratio(o(r).lost, r.optimum.anyLost))),
    /** Reclaims that hit a higher tenant or lease priority than some valid reclaim needs. */
    higherPriorityThanNeeded: served.filter(
      (r) =>
        o(r).tenantPriority > r.optimum.tenantPriority ||
        (o(r).tenantPriority === r.optimum.tenantPriority && o(r).leasePriority > r.optimum.leasePriority),
    ).length,
  };
}

const goals = {
  placementMean: 0.98,
  placementWorst: 0.9,
  evictedOverMin: 1.05,
  lostOverMin: 1.01,
};
const result = {
  benchmark: "quality",
  smoke,
  machine: machine(),
  solver: `HiGHS through the npm package highs ${highsVersion} (WebAssembly), run to a zero gap`,
  goals,
  placement: {
    timeLimitSeconds: placementLimit,
    owner: summarize(owner),
    quotasLifted: summarize(lifted),
    large: { ...summarize(large), timeLimitSeconds: largeLimit },
    rows: owner,
    liftedRows: lifted,
    largeRows: large,
  },
  victims: {
    instances: victimSeeds.length,
    compared: victimRows.length,
    skipped,
    demandGpus: [...new Set(victimRows.map((r) => r.demandGpus))].sort((a, b) => a - b),
    planner: victimSummary((r) => r.planner),
    naive: victimSummary((r) => r.naive),
    rows: victimRows.map((r) => ({
      seed: r.seed,
      demandGpus: r.demandGpus,
      pods: r.pods,
      planner: r.planner ?? null,
      naive: r.naive ?? null,
      optimum: r.optimum,
    })),
  },
};

const p = result.placement.owner;
const l = result.placement.large;
const vp = result.victims.planner;
const vn = result.victims.naive;
const f = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
printTable("Quality: placement against the MIP optimum, victims against the MIP minimum", [
  [
    `placement, ${p.instances} clusters of ${p.nodesMin}-${p.nodesMax} nodes: planner / optimum (mean; worst)`,
    `${f(p.plannerMean)}; ${f(p.plannerWorst, 3)}`,
  ],
  ["  naive first-fit / optimum (mean; worst)", `${f(p.naiveMean)}; ${f(p.naiveWorst, 3)}`],
  [
    "  at the optimum: planner; naive",
    `${f(p.plannerOptimalShare * 100, 1)} %; ${f(p.naiveOptimalShare * 100, 1)} %`,
  ],
  ["  planner above / below naive (instances)", `${p.plannerAboveNaive} / ${p.plannerBelowNaive}`],
  ["  proved optimal; largest gap", `${p.provedOptimal} of ${p.instances}; ${f(p.maxGap)}`],
  [
    "  quotas lifted: planner; naive / optimum (mean)",
    `${f(result.placement.quotasLifted.plannerMean)}; ${f(result.placement.quotasLifted.naiveMean)}`,
  ],
  [`placement, ${l.instances} clusters of 200 nodes: planner / MIP bound (mean)`, f(l.plannerMean)],
  [
    "  naive / MIP bound; proved optimal; largest gap",
    `${f(l.naiveMean)}; ${l.provedOptimal} of ${l.instances}; ${f(l.maxGap)}`,
  ],
  [
    `victims, ${result.victims.compared} demands: planner evicted / minimum (mean; worst)`,
    `${f(vp.evictedOverMinMean)}; ${f(vp.evictedOverMinWorst, 3)}`,
  ],
  [
    "  planner GPU-time lost / minimum (mean; worst)",
    `${f(vp.lostOverMinMean)}; ${f(vp.lostOverMinWorst, 3)}`,
  ],
  [
    "  naive evicted / minimum; lost / minimum (mean)",
    `${f(vn.evictedOverMinMean)}; ${f(vn.lostOverMinMean)}`,
  ],
  [
    "  priorities ignored: planner evicted; lost / minimum",
    `${f(vp.evictedOverAnyMinMean)}; ${f(vp.lostOverAnyMinMean)}`,
  ],
  ["  unserved though a reclaim existed: planner; naive", `${vp.unserved}; ${vn.unserved}`],
  ["machine", `${result.machine.cores} × ${result.machine.cpu}`],
]);
writeFileSync(
  new URL(`results/quality${smoke ? "-smoke" : ""}.json`, import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);

/**
 * Planner benchmark, in-process: the pure core on large synthetic clusters (1,000 and 10,000 nodes).
 * Times the first plan (every pending lease decided) and a replan after one real event of each kind,
 * from scratch and by the incremental planner (which the operator runs; checked equal to the plan
 * from scratch on the same snapshot), in wall and CPU time; counts admission decisions; reads the heap after a forced GC. Writes
 * bench/results/planner.json.
 *
 *   NODE_OPTIONS=--expose-gc tsx bench/planner.ts [--smoke]
 */
import { writeFileSync } from "node:fs";
import { IncrementalPlanner, planDivergence, type ReuseStats } from "../src/core/incremental-planner.ts";
import type { ClusterSnapshot } from "../src/core/model.ts";
import type { PlanAction } from "../src/core/plan-actions.ts";
import { planCluster } from "../src/core/planner.ts";
import { planReclaimFirst } from "../src/core/reclaim-first-plan.ts";
import { bigCluster, makeLease, makeNode, makePod } from "./generate.ts";
import { machine, percentile, printTable } from "./machine.ts";

const smoke = process.argv.includes("--smoke");
const now = Date.parse("2026-11-28T12:00:00Z");
const sizes = smoke
  ? [{ nodes: 200, leases: 1_000, runs: 5 }]
  : [
      { nodes: 1_000, leases: 5_000, runs: 60 },
      { nodes: 10_000, leases: 50_000, runs: 20 },
    ];

interface Timing {
  wallMs: { p50: number; p99: number };
  cpuMs: { p50: number; p99: number };
  runs: number;
}

/** Wall and CPU time of `fn` over `runs` runs, each on its own input made (untimed) by `setup`. */
function time<T>(runs: number, setup: (run: number) => T, fn: (input: T) => unknown): Timing {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let run = 0; run < runs; run++) {
    const input = setup(run);
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    fn(input);
    wall.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
  }
  // With fewer than 100 runs the p99 is the slowest run.
  return {
    wallMs: { p50: percentile(wall, 50), p99: percentile(wall, 99) },
    cpuMs: { p50: percentile(cpu, 50), p99: percentile(cpu, 99) },
    runs,
  };
}

const gc = (globalThis as { gc?: () => void }).gc;
function heapAfterGcMB(): number | undefined {
  if (!gc) return undefined;
  gc();
  return Math.round(process.memoryUsage().heapUsed / 2 ** 20);
}

/**
 * Whether both plans give the same notices, to leases and their pods (the bench's own check that it
 * timed a real reclaim, decided as the whole plan decides it).
 */
function sameNotices(a: PlanAction[], b: PlanAction[]): boolean {
  const ids = (actions: PlanAction[]) =>
    actions
      .filter((x) => x.kind === "podNotice" || (x.kind === "leaseStatus" && x.transition === "noticeGiven"))
      .map((x) => x.id)
      .sort()
      .join();
  return ids(a) === ids(b) && ids(a) !== "";
}

/** The snapshot once the first plan's writes are applied, as the caches hold them after one pass. */
function steadyAfter(snapshot: ClusterSnapshot): ClusterSnapshot {
  const plan = planCluster(snapshot);
  const lentNow = new Set(plan.lendNodes.map((c) => c.node));
  const statusByUid = new Map(plan.leaseStatuses.map((x) => [x.lease.uid, x.status]));
  const quotaStatus = new Map(plan.quotaStatuses.map((x) => [x.quota.name, x.status]));
  return {
    ...snapshot,
    nodes: snapshot.nodes.map((n) => (lentNow.has(n.name) ? { ...n, lent: true } : n)),
    leases: snapshot.leases.map((l) => ({
      ...l,
      status: statusByUid.get(l.uid) ?? l.status,
      hasFinalizer: true,
    })),
    quotas: snapshot.quotas.map((q) => ({ ...q, status: quotaStatus.get(q.name) ?? q.status })),
  };
}

function measure(size: { nodes: number; leases: number; runs: number }) {
  const snapshot = bigCluster({ nodes: size.nodes, leases: size.leases, tenants: 100, seed: 7, now });
  const pending = snapshot.leases.filter((l) => l.status.phase === undefined);
  const busy = new Set(snapshot.pods.map((p) => p.nodeName));
  const idleNodes = snapshot.nodes.filter((n) => !n.lent && !busy.has(n.name)).length;
  planCluster(snapshot); // warm up
  const first = time(size.runs, () => snapshot, planCluster);
  const plan = planCluster(snapshot);
  const admitted = plan.decisions.filter((d) => d.kind === "admit").length;

  const steady = steadyAfter(snapshot);
  const active = steady.leases.filter((l) => l.status.phase === "Active");
  const events: Record<string, (run: number) => ClusterSnapshot> = {
    "lease created": (run) => ({
      ...steady,
      leases: [...steady.leases, makeLease(`tenant-${run % 100}`, `new-${run}`, { gpus: 4 }, now)],
    }),
    "lease ended": (run) => {
      const gone = active[(run * 7919) % active.length]?.uid;
      return { ...steady, leases: steady.leases.filter((l) => l.uid !== gone) };
    },
    "pod turned Unschedulable": (run) => ({
      ...steady,
      pods: [
        ...steady.pods,
        makePod("training", `wait-${run}`, {
          phase: "Pending",
          unschedulable: true,
          unschedulableSince: now - 1000,
        }),
      ],
    }),
    "node added": (run) => ({
      ...steady,
      nodes: [...steady.nodes, makeNode(`added-${run}`, "NVIDIA-H100-80GB-HBM3")],
    }),
  };
  planCluster(steady); // warm up
  const replan: Record<string, Timing & { admitted: number; decisions: number }> = {};
  for (const [kind, make] of Object.entries(events)) {
    const after = planCluster(make(0));
    replan[kind] = {
      ...time(size.runs, make, planCluster),
      admitted: after.decisions.filter((d) => d.kind === "admit").length,
      decisions: after.decisions.length,
    };
  }
  // The incremental planner, as the operator runs it: it planned the steady state, then one event
  // comes. Each timed run starts from the steady state planned again (untimed).
  const incremental: Record<string, Timing & { sameAsReference: boolean; reuse: ReuseStats }> = {};
  for (const [kind, make] of Object.entries(events)) {
    const planner = new IncrementalPlanner();
    planner.plan(steady);
    const event = make(0);
    const checked = planner.plan(event);
    const reuse = planner.lastStats();
    const sameAsReference = planDivergence(checked, planCluster(event)) === undefined;
    incremental[kind] = {
      ...time(
        size.runs,
        (run) => {
          planner.plan(steady);
          return make(run + 1);
        },
        (input) => planner.plan(input),
      ),
      sameAsReference,
      reuse,
    };
  }
  // What the operator runs first when an internal pod turns Unschedulable: the reclaim-first plan
  // (its notices go out before the whole plan is even computed).
  const unschedulable = events["pod turned Unschedulable"] as (run: number) => ClusterSnapshot;
  const firstReclaim = planReclaimFirst(unschedulable(0));
  const reclaimFirst = {
    ...time(size.runs, unschedulable, planReclaimFirst),
    notices: firstReclaim.noticesGiven.length,
    sameAsWholePlan: sameNotices(firstReclaim.actions, planCluster(unschedulable(0)).actions),
  };
  // Heap with the cluster, its steady state and one plan held: what a running operator keeps.
  const heapMB = heapAfterGcMB();
  return {
    size: {
      nodes: size.nodes,
      leases: size.leases,
      pending: pending.length,
      active: snapshot.leases.length - pending.length,
      lentNodes: snapshot.nodes.filter((n) => n.lent).length,
      idleNodes,
      pods: snapshot.pods.length,
      tenants: 100,
      gpus: snapshot.nodes.reduce((s, n) => s + (n.gpus["nvidia.com/gpu"] ?? 0), 0),
    },
    firstPlan: first,
    admissionDecisions: plan.decisions.length,
    admitted,
    admissionDecisionsPerSecond: Math.round(plan.decisions.length / (first.wallMs.p50 / 1000)),
    replan,
    incremental,
    reclaimFirst,
    heapAfterGcMB: heapMB,
  };
}

const results: ReturnType<typeof measure>[] = [];
const host = machine();
// Each size printed as soon as it is measured: the large one takes minutes.
for (const size of sizes) {
  const r = measure(size);
  results.push(r);
  const ms = (t: Timing) =>
    `${t.wallMs.p50.toFixed(1)} / ${t.wallMs.p99.toFixed(1)} ms wall, ${t.cpuMs.p50.toFixed(1)} ms CPU`;
  printTable(
    `Planner: ${r.size.nodes} nodes (${r.size.lentNodes} lent, ${r.size.idleNodes} idle), ${r.size.leases} leases (${r.size.pending} pending), ${r.size.pods} pods`,
    [
      ["first plan p50 / p99", ms(r.firstPlan)],
      ...Object.entries(r.replan).map(([kind, t]): [string, string] => [
        `replan after ${kind} p50 / p99`,
        ms(t),
      ]),
      ...Object.entries(r.incremental).map(([kind, t]): [string, string] => [
        `incremental replan after ${kind} p50 / p99 (same as from scratch: ${t.sameAsReference}; lease plans reused ${t.reuse.leasePlansReused} of ${t.reuse.leasePlansReused + t.reuse.leasePlansComputed}, admission ${t.reuse.admission})`,
        ms(t),
      ]),
      [
        `reclaim-first plan after pod turned Unschedulable p50 / p99 (${r.reclaimFirst.notices} notice(s), same as whole plan: ${r.reclaimFirst.sameAsWholePlan})`,
        ms(r.reclaimFirst),
      ],
      ["admission decisions (admitted)", `${r.admissionDecisions} (${r.admitted})`],
      ["admission decisions per second", r.admissionDecisionsPerSecond],
      ["heap after forced GC (MB)", r.heapAfterGcMB ?? "n/a (run with --expose-gc)"],
      ["machine", `${host.cores} × ${host.cpu}, Node ${host.node}`],
    ],
  );
}
const result = {
  benchmark: "planner",
  smoke,
  machine: host,
  sizes: results,
  goal: { fullPlanMs: 50, atNodes: 10_000 },
};
writeFileSync(
  new URL(`results/planner${smoke ? "-smoke" : ""}.json`, import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);

/**
 * Planner benchmark, in-process: the pure core on a large snapshot. Prints time per full plan and
 * decisions per second, writes bench/results/planner.json.
 *
 *   tsx bench/planner.ts [--smoke]
 */
import { writeFileSync } from "node:fs";
import { accountNodes } from "../src/core/accounting.ts";
import { admit } from "../src/core/admission.ts";
import { internalDemand } from "../src/core/demand.ts";
import { planCluster } from "../src/core/planner.ts";
import { planReclaim } from "../src/core/reclaim-planner.ts";
import { bigCluster, makePod } from "./generate.ts";
import { machine, percentile, printTable } from "./machine.ts";

const smoke = process.argv.includes("--smoke");
const size = smoke ? { nodes: 500, leases: 2500 } : { nodes: 10_000, leases: 50_000 };
const now = Date.parse("2026-11-28T12:00:00Z");

function time(fn: () => unknown, runs: number): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

const snapshot = bigCluster({
  ...size,
  tenants: 100,
  activeShare: 0.8,
  internalPods: Math.floor(size.nodes / 4),
  seed: 7,
  now,
});
const pending = snapshot.leases.filter((l) => l.status.phase === undefined).length;
// Internal demand: 20 pods of 8 GPUs waiting, so the reclaim planner works for real.
const withDemand = {
  ...snapshot,
  pods: [
    ...snapshot.pods,
    ...Array.from({ length: 20 }, (_, i) =>
      makePod("training", `wait-${i}`, {
        phase: "Pending",
        unschedulable: true,
        unschedulableSince: now - 1000,
      }),
    ),
  ],
};
const runs = smoke ? 3 : 10;
planCluster(snapshot); // warm up
const full = time(() => planCluster(snapshot), runs);
const fullDemand = time(() => planCluster(withDemand), runs);
const admission = time(() => admit(snapshot, accountNodes(snapshot)), runs);
const reclaim = time(() => {
  const owners = new Map(withDemand.namespaces.map((n) => [n.name, n.tenant ?? ""]));
  planReclaim(
    withDemand,
    accountNodes(withDemand),
    internalDemand(withDemand.pods, owners, ["nvidia.com/gpu"]),
    owners,
  );
}, runs);
const plan = planCluster(snapshot);
// Steady state: the plan's writes applied, as the caches hold them after one pass. Every later event
// (a pod, a lease) replans from here.
const lentNow = new Set(plan.lendNodes.map((c) => c.node));
const statusByUid = new Map(plan.leaseStatuses.map((x) => [x.lease.uid, x.status]));
const steady = {
  ...snapshot,
  nodes: snapshot.nodes.map((n) => (lentNow.has(n.name) ? { ...n, lent: true } : n)),
  leases: snapshot.leases.map((l) => ({
    ...l,
    status: statusByUid.get(l.uid) ?? l.status,
    hasFinalizer: true,
  })),
  quotas: snapshot.quotas.map((q) => ({
    ...q,
    status: plan.quotaStatuses.find((x) => x.quota.name === q.name)?.status ?? q.status,
  })),
};
planCluster(steady);
const replan = time(() => planCluster(steady), runs);
const steadyWrites = planCluster(steady).leaseStatuses.length;
const decisions = plan.decisions.length + plan.leaseStatuses.length;
const heap = process.memoryUsage();
const result = {
  benchmark: "planner",
  smoke,
  machine: machine(),
  size: { ...size, pending, pods: snapshot.pods.length, tenants: 100 },
  fullPlanMs: { p50: percentile(full, 50), p95: percentile(full, 95) },
  steadyReplanMs: { p50: percentile(replan, 50), p95: percentile(replan, 95) },
  steadyReplanLeaseWrites: steadyWrites,
  fullPlanWithReclaimMs: { p50: percentile(fullDemand, 50), p95: percentile(fullDemand, 95) },
  admissionMs: { p50: percentile(admission, 50), p95: percentile(admission, 95) },
  reclaimPlanningMs: { p50: percentile(reclaim, 50), p95: percentile(reclaim, 95) },
  admitted: plan.decisions.filter((d) => d.kind === "admit").length,
  decisionsPerSecond: Math.round(decisions / (percentile(full, 50) / 1000)),
  heapUsedMB: Math.round(heap.heapUsed / 2 ** 20),
  goal: { fullPlanMs: 50 },
};
printTable(
  `Planner: ${size.nodes} nodes, ${size.leases} leases (${pending} pending), ${snapshot.pods.length} pods`,
  [
    [
      "first plan p50 / p95 (ms)",
      `${result.fullPlanMs.p50.toFixed(1)} / ${result.fullPlanMs.p95.toFixed(1)}`,
    ],
    [
      "steady replan p50 / p95 (ms)",
      `${result.steadyReplanMs.p50.toFixed(1)} / ${result.steadyReplanMs.p95.toFixed(1)}`,
    ],
    ["lease status writes on a steady replan", result.steadyReplanLeaseWrites],
    ["full plan with 20 reclaims p50 (ms)", result.fullPlanWithReclaimMs.p50.toFixed(1)],
    ["admission only p50 (ms)", result.admissionMs.p50.toFixed(1)],
    ["reclaim planning only p50 (ms)", result.reclaimPlanningMs.p50.toFixed(1)],
    ["leases admitted in one plan", result.admitted],
    ["decisions per second", result.decisionsPerSecond],
    ["heap used (MB)", result.heapUsedMB],
    ["machine", `${result.machine.cores} × ${result.machine.cpu}, Node ${result.machine.node}`],
  ],
);
writeFileSync(
  new URL(`results/planner${smoke ? "-smoke" : ""}.json`, import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);

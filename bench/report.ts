/**
 * Turns bench/results/*.json into BENCHMARKS.md and SVG plots in bench/plots/.
 *
 *   tsx bench/report.ts
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Outcome, Throughput } from "./kueue.ts";

const ROOT = resolve(import.meta.dirname, "..");
const results = (name: string): Record<string, unknown> | undefined => {
  const path = resolve(ROOT, `bench/results/${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>) : undefined;
};
type Json = Record<string, unknown>;
/** A bench/results/scale-*.json, as far as this report reads it. */
type ScaleResult = Json & {
  admission: Json;
  binding: Json;
  idle: Json;
  reclaim: Json & {
    reactionMs: Json;
    evictionAfterDeadlineMs: Json;
    /** The bench's own clock (runs since it was added). */
    reactionObservedMs?: Json;
    evictionAfterDeadlineObservedMs?: Json;
  };
};
const scaleResults = (name: string) => results(name) as ScaleResult | undefined;
const num = (v: unknown, digits = 1) =>
  typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "n/a";
mkdirSync(resolve(ROOT, "bench/plots"), { recursive: true });

function barChart(
  file: string,
  title: string,
  bars: { label: string; value: number }[],
  unit: string,
  goal?: number,
): void {
  const width = 640;
  const rowH = 34;
  const height = 50 + bars.length * rowH;
  const max = Math.max(goal ?? 0, ...bars.map((b) => b.value)) * 1.1 || 1;
  const x = (v: number) => 220 + (v / max) * (width - 260);
  const rows = bars
    .map((b, i) => {
      const y = 40 + i * rowH;
      return `<text x="210" y="${y + 17}" text-anchor="end" font-size="12">${b.label}</text>
<rect x="220" y="${y + 4}" width="${Math.max(1, x(b.value) - 220)}" height="20" fill="#4C78A8"/>
<text x="${x(b.value) + 6}" y="${y + 18}" font-size="12">${b.value.toFixed(1)} ${unit}</text>`;
    })
    .join("\n");
  const goalLine =
    goal === undefined
      ? ""
      : `<line x1="${x(goal)}" y1="34" x2="${x(goal)}" y2="${height - 6}" stroke="#E45756" stroke-dasharray="4 3"/><text x="${x(goal) + 4}" y="30" font-size="11" fill="#E45756">goal ${goal} ${unit}</text>`;
  writeFileSync(
    resolve(ROOT, "bench/plots", file),
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" role="img">
<title>${title}</title>
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${title}</text>
${rows}
${goalLine}
</svg>
`,
  );
}

function lineChart(
  file: string,
  title: string,
  series: { name: string; color: string; points: [number, number][] }[],
  xLabel: string,
  yLabel: string,
): void {
  const width = 640;
  const height = 300;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = Math.max(...xs, 1);
  const yMax = Math.max(...ys, 1) * 1.1;
  const px = (v: number) => 50 + (v / xMax) * (width - 70);
  const py = (v: number) => height - 40 - (v / yMax) * (height - 80);
  const paths = series
    .map(
      (s) =>
        `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map(([a, b]) => `${px(a).toFixed(1)},${py(b).toFixed(1)}`).join(" ")}"/>`,
    )
    .join("\n");
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${60 + i * 170}" y="32" width="12" height="12" fill="${s.color}"/><text x="${76 + i * 170}" y="42" font-size="12">${s.name}</text>`,
    )
    .join("\n");
  writeFileSync(
    resolve(ROOT, "bench/plots", file),
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" role="img">
<title>${title}</title>
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${title}</text>
${legend}
<line x1="50" y1="${height - 40}" x2="${width - 20}" y2="${height - 40}" stroke="#333"/>
<line x1="50" y1="50" x2="50" y2="${height - 40}" stroke="#333"/>
<text x="${width / 2}" y="${height - 10}" font-size="12" text-anchor="middle">${xLabel}</text>
<text x="14" y="${height / 2}" font-size="12" transform="rotate(-90 14 ${height / 2})" text-anchor="middle">${yLabel}</text>
<text x="46" y="${py(yMax / 1.1) + 4}" font-size="10" text-anchor="end">${Math.round(yMax / 1.1)}</text>
<text x="${px(xMax)}" y="${height - 26}" font-size="10" text-anchor="middle">${Math.round(xMax)}</text>
${paths}
</svg>
`,
  );
}

const lines: string[] = ["# Benchmarks", ""];
lines.push(
  "Figures from the last full run of each benchmark on this project's machine (2 cores, 24 GiB, no GPU).",
  "Each benchmark is one command; each writes `bench/results/<name>.json`, and `npm run bench:report`",
  "turns them into this page and the plots in `bench/plots/`. `make bench-smoke` runs a small smoke of each (about 30 s)",
  "and never judges wall time.",
  "",
);

/** bench/results/planner.json, as far as this report reads it. */
interface PlannerTiming {
  wallMs: { p50: number; p99: number };
  cpuMs: { p50: number; p99: number };
  runs: number;
}
interface PlannerSize {
  size: {
    nodes: number;
    leases: number;
    pending: number;
    active: number;
    lentNodes: number;
    idleNodes: number;
    pods: number;
    tenants: number;
    gpus: number;
  };
  firstPlan: PlannerTiming;
  admissionDecisions: number;
  admitted: number;
  admissionDecisionsPerSecond: number;
  replan: Record<string, PlannerTiming & { admitted: number; decisions: number }>;
  /** The incremental planner's replan after the same events (absent in runs before it existed). */
  incremental?: Record<
    string,
    PlannerTiming & {
      sameAsReference: boolean;
      reuse: { leasePlansReused: number; leasePlansComputed: number; admission: string };
    }
  >;
  /** The reclaim-first plan after a pod turned Unschedulable (absent in runs before it existed). */
  reclaimFirst?: PlannerTiming & { notices: number; sameAsWholePlan: boolean };
  heapAfterGcMB: number | undefined;
}
const planner = results("planner") as (Json & { sizes: PlannerSize[] }) | undefined;
const plannerAt = (nodes: number) => planner?.sizes?.find((s) => s.size.nodes === nodes);
if (planner?.sizes) {
  const t = (x: PlannerTiming) =>
    `${num(x.wallMs.p50)} ms | ${num(x.wallMs.p99)} ms | ${num(x.cpuMs.p50)} ms | ${x.runs}`;
  lines.push(
    "## Planner (in-process)",
    "",
    "`npm run bench:planner` — the pure core on synthetic clusters: three GPU models, 4- and 8-GPU nodes;",
    "45 % of the nodes lent and partly used by Active leases, 25 % busy with internal pods (spread, within",
    "each node), 30 % idle; Pending leases of 1-16 GPUs (some gangs of 4 or 8 per node), half pinned to a",
    "model, each able to fit on some node. A replan is timed after one real event applied to the state the",
    "first plan's writes leave, from scratch and by the incremental planner the operator runs (ADR 0011),",
    "which has planned that state before; each incremental plan is checked equal to the plan from scratch",
    "on the same snapshot. Wall and CPU time per plan; p99 is the slowest run when there are fewer than 100",
    "runs. Heap: after a forced GC, with the cluster, its steady state and a plan held.",
    "",
  );
  for (const r of planner.sizes) {
    lines.push(
      `| ${r.size.nodes} nodes (${r.size.lentNodes} lent, ${r.size.idleNodes} idle, ${r.size.gpus} GPUs), ${r.size.leases} leases (${r.size.pending} pending), ${r.size.pods} internal pods | wall p50 | wall p99 | CPU p50 | runs |`,
      "|---|---|---|---|---|",
      `| first plan (every pending lease decided; ${r.admitted} of ${r.admissionDecisions} admitted) | ${t(r.firstPlan)} |`,
      ...Object.entries(r.replan).map(
        ([kind, x]) => `| replan after one event: ${kind} (${x.admitted} admitted) | ${t(x)} |`,
      ),
      ...Object.entries(r.incremental ?? {}).map(
        ([kind, x]) =>
          `| incremental replan after ${kind} (lease plans reused: ${x.reuse.leasePlansReused} of ${x.reuse.leasePlansReused + x.reuse.leasePlansComputed}; admission ${x.reuse.admission}; same plan as from scratch: ${x.sameAsReference ? "yes" : "no"}) | ${t(x)} |`,
      ),
      ...(r.reclaimFirst
        ? [
            `| reclaim-first plan after pod turned Unschedulable (${r.reclaimFirst.notices} lease(s) noticed; same notices as the whole plan: ${r.reclaimFirst.sameAsWholePlan ? "yes" : "no"}) | ${t(r.reclaimFirst)} |`,
          ]
        : []),
      "",
      `Admission decisions per second (first plan): ${r.admissionDecisionsPerSecond}; heap after a forced GC ${r.heapAfterGcMB ?? "n/a"} MB.`,
      "",
    );
  }
  lines.push("![planner](bench/plots/planner.svg)", "");
  const big = planner.sizes[planner.sizes.length - 1] as PlannerSize;
  barChart(
    "planner.svg",
    `Planner, ${big.size.nodes} nodes / ${big.size.leases} leases (wall p50, ms)`,
    [
      { label: "first plan", value: big.firstPlan.wallMs.p50 },
      ...Object.entries(big.replan).map(([kind, x]) => ({ label: kind, value: x.wallMs.p50 })),
    ],
    "ms",
    50,
  );
}

interface SnapshotBuildSize {
  size: { nodes: number; pods: number; leases: number };
  firstBuildMs: number;
  afterOneEvent: Record<string, PlannerTiming>;
}
const snapshotBuild = results("snapshot-build") as { sizes: SnapshotBuildSize[] } | undefined;
const snapshotBuildBefore = results("snapshot-build-baseline") as { sizes: SnapshotBuildSize[] } | undefined;
if (snapshotBuild?.sizes) {
  lines.push(
    "## Snapshot build (in-process)",
    "",
    "`npm run bench:snapshot` — what every pass costs before the planner starts: the operator's",
    "SnapshotBuilder over informer caches of N nodes, 6N pods and 5N leases (100 tenants). One real change",
    "lands in a cache, as a watch event does, then one build is timed (CPU; p99 is the slowest of 50).",
    "Before: the same benchmark at 97d4561, when every build read every cached object",
    "(`bench/results/snapshot-build-baseline.json`); now: views patched from the caches' change events.",
    "The pod status written is a Ready condition, which the planner does not read: the build now keeps",
    "the pod's view and array, as it does for a kubelet's status updates.",
    "",
  );
  for (const r of snapshotBuild.sizes) {
    const before = snapshotBuildBefore?.sizes.find((b) => b.size.nodes === r.size.nodes);
    const cpu = (x: PlannerTiming | undefined) =>
      x === undefined ? "n/a" : `${num(x.cpuMs.p50, 2)} / ${num(x.cpuMs.p99, 2)} ms`;
    lines.push(
      `| ${r.size.nodes} nodes, ${r.size.pods} pods, ${r.size.leases} leases: build after | before, CPU p50 / p99 | now, CPU p50 / p99 |`,
      "|---|---|---|",
      ...Object.entries(r.afterOneEvent).map(
        ([kind, x]) => `| ${kind} | ${cpu(before?.afterOneEvent[kind])} | ${cpu(x)} |`,
      ),
      `| first build (every object converted, wall) | ${before ? `${num(before.firstBuildMs)} ms` : "n/a"} | ${num(r.firstBuildMs)} ms |`,
      "",
    );
  }
}

/** Says when other work shared the machine during a run (a load average above its cores). */
function loadNote(result: Json): string[] {
  const m = result.machine as { cores?: number; loadAverage?: number } | undefined;
  if (m?.loadAverage === undefined || m.cores === undefined || m.loadAverage <= m.cores) return [];
  return [
    `Measured while other work shared the machine: 1-minute load average ${m.loadAverage} on ${m.cores} cores when`,
    "the figures were written; latencies are pessimistic, and the write ceiling was taken under the same load.",
  ];
}

function scaleSection(file: string, heading: string, plot: string): void {
  const s = scaleResults(file);
  if (!s) return;
  // Results of the bench's own clock (absent from runs before it existed).
  const observed = s.reclaim.reactionObservedMs;
  lines.push(
    heading,
    "",
    "etcd, kube-apiserver, kube-controller-manager, kube-scheduler 1.37 and kwok on this machine; the operator as a process.",
    ...loadNote(s),
    "",
    ...(observed
      ? []
      : [
          "**Measured before this round's changes, with the old method**: reaction and eviction delay are the",
          "operator's own log, the write ceiling was taken on an empty cluster with tiny patches, and the",
          "executor was the one the plan-as-actions change replaced. `bench/scale.ts` now measures with its own",
          "watcher and on the loaded cluster; these rows stand until the next full run replaces them.",
          "",
        ]),
    "| figure | value |",
    "|---|---|",
    ...(observed
      ? [
          `| API server write ceiling on the loaded cluster (status writes/s; 16 writers, real status size) | ${s.writeCeilingPerSecond} |`,
          `| reclaim reaction, bench's clock: Unschedulable seen → notice seen on a victim pod, p50 / p99 / max | ${observed.p50} / ${observed.p99} / ${observed.max} ms (${observed.count} Jobs) |`,
          `| eviction − deadline, bench's clock (deletion seen), p50 / p99 / max / min | ${s.reclaim.evictionAfterDeadlineObservedMs?.p50} / ${s.reclaim.evictionAfterDeadlineObservedMs?.p99} / ${s.reclaim.evictionAfterDeadlineObservedMs?.max} / ${s.reclaim.evictionAfterDeadlineObservedMs?.min} ms |`,
        ]
      : []),
    ...(observed
      ? [`| admission: leases/s reaching Active | ${num(s.admission.leasesPerSecond)} |`]
      : [
          `| API server write ceiling, one client, empty cluster (status writes/s) | ${s.writeCeilingPerSecond} |`,
          `| admission: leases/s reaching Active | ${num(s.admission.leasesPerSecond)} (${num((s.admission.shareOfWriteCeiling as number) * 100, 0)} % of the ceiling) |`,
        ]),
    `| API requests per lease (admission) | ${num(s.admission.apiRequestsPerLease, 2)} |`,
    `| API requests/s while admitting, as a share of the ceiling | ${num((s.admission.leasesPerSecond as number) * (s.admission.apiRequestsPerLease as number), 0)} (${num(((s.admission.leasesPerSecond as number) * (s.admission.apiRequestsPerLease as number) * 100) / (s.writeCeilingPerSecond as number), 0)} %) |`,
    `| binding: pods/s ungated | ${num(s.binding.podsPerSecond)} |`,
    `| reclaim reaction, Unschedulable → notice${observed ? ", the operator's own log (for comparison)" : ""} p50 / p99 / max | ${s.reclaim.reactionMs?.p50} / ${s.reclaim.reactionMs?.p99} / ${s.reclaim.reactionMs?.max} ms (${s.reclaim.reactionMs?.count} reclaims) |`,
    `| eviction − deadline${observed ? ", the operator's own log (for comparison)" : ""} p50 / p99 / max | ${s.reclaim.evictionAfterDeadlineMs.p50} / ${s.reclaim.evictionAfterDeadlineMs.p99} / ${s.reclaim.evictionAfterDeadlineMs.max} ms (${s.reclaim.evictionAfterDeadlineMs.count} evictions; min ${s.reclaim.evictionAfterDeadlineMs.min} ms) |`,
    `| GPU return latency (mean, Returning → Internal) | ${num(s.reclaim.gpuReturnMeanSeconds)} s |`,
    `| internal Jobs scheduled | ${s.reclaim.jobsScheduled} of ${s.reclaim.jobs} within ${num(s.reclaim.jobsScheduledWithinSeconds)} s of creation (notice 5 s) |`,
    `| planner loop: passes, mean pass (plan + writes) | ${(s.passes as Json | undefined)?.count ?? "n/a"}, ${num((s.passes as Json | undefined)?.meanMs)} ms |`,
    `| operator RSS busy / idle | ${s.admission.operatorRssMB} / ${s.idle.rssMB} MB |`,
    `| operator V8 heap used / total, external memory (end of run) | ${s.heapUsedMB ?? "n/a"} / ${s.heapTotalMB ?? "n/a"}, ${s.externalMB ?? "n/a"} MB |`,
    `| operator CPU while admitting / while idle | ${num(s.admission.operatorCpuSeconds)} s / ${num(s.idle.cpuShare, 3)} cores |`,
    `| while idle: plans, API requests per minute; Events still being written after the last pod ran | ${s.idle.reconcilesPerMinute ?? "n/a"}, ${s.idle.requestsPerMinute ?? "n/a"}; ${num(s.eventTailSeconds)} s |`,
    "",
    `![scale](bench/plots/${plot})`,
    "",
  );
  barChart(
    plot,
    `Throughput against the API server's write ceiling (${file})`,
    [
      { label: "write ceiling", value: s.writeCeilingPerSecond as number },
      { label: "leases admitted", value: s.admission.leasesPerSecond as number },
      { label: "pods ungated", value: s.binding.podsPerSecond as number },
    ],
    "/s",
  );
}
scaleSection(
  "scale-1000",
  "## Scale: 1,000 nodes × 8 GPUs, 2,000 leases, 10,000 tenant pods, 20 internal Jobs\n\n`npm run bench:scale`",
  "scale-1000.svg",
);
scaleSection(
  "scale-300",
  "## Scale: 300 nodes × 8 GPUs, 600 leases, 3,000 tenant pods, 10 internal Jobs\n\n`npm run bench:scale -- --nodes 300 --leases 600 --jobs 10` (latest code).",
  "scale-300.svg",
);

// Before and after the second round of profiling (the operator's own CPU profile at 300 nodes showed
// TLS handshakes: client-node opens a connection pool per request). "Before" is the previous published
// run at 1,000 nodes (commit 123ce6f); "after" is bench/results/scale-1000.json.
{
  const after = scaleResults("scale-1000");
  if (after) {
    const row = (figure: string, before: string, now: string) => `| ${figure} | ${before} | ${now} |`;
    lines.push(
      "## Before and after: 1,000 nodes",
      "",
      "What changed: one keep-alive connection pool instead of a TLS handshake per request; the lease finalizer",
      "added at creation by an admission policy; a Job's demand planned as soon as all its pods have a verdict",
      "(not after a fixed 1 s); reclaim evictions armed ahead of the deadline and sent the moment it passes, at",
      "higher concurrency and before pod bindings; idle measured once the Event backlog is written.",
      "",
      "| figure | before (123ce6f) | after |",
      "|---|---|---|",
      row("admission (leases/s)", "39.7", num(after.admission.leasesPerSecond)),
      row("API requests per lease", "3.80", num(after.admission.apiRequestsPerLease, 2)),
      row("binding (pods/s)", "46.5", num(after.binding.podsPerSecond)),
      row(
        "reclaim reaction p50 / p99 (ms)",
        "940 / 1,152",
        `${after.reclaim.reactionMs.p50} / ${after.reclaim.reactionMs.p99}`,
      ),
      row(
        "eviction − deadline p50 / p99 (ms)",
        "1,782 / 3,302",
        `${after.reclaim.evictionAfterDeadlineMs.p50} / ${after.reclaim.evictionAfterDeadlineMs.p99}`,
      ),
      row("mean pass, plan + writes (ms)", "388.7", num((after.passes as Json | undefined)?.meanMs)),
      row(
        "operator RSS busy / idle (MB)",
        "664 / 1,009",
        `${after.admission.operatorRssMB} / ${after.idle.rssMB}`,
      ),
      row("operator CPU idle (cores)", "0.93", num(after.idle.cpuShare, 3)),
      "",
    );
  }
}

// Memory: what ships against V8's own sizing and the settings tried before.
{
  const shipped = scaleResults("scale-1000");
  if (shipped) {
    const columns: [string, string][] = [
      ["scale-1000", "shipped: 768 MB old-space limit"],
      ["scale-1000-semi16", "and a 16 MB semi-space"],
      ["scale-1000-semi16-b", "the same, another run"],
      ["scale-1000-semi16-nocap", "16 MB semi-space, no limit"],
      ["scale-1000-noflags", "no flags"],
      ["scale-1000-arenas2", "earlier commit, no flags, 2 malloc arenas"],
      ["scale-1000-heap256", "earlier commit, old space capped at 256 MB"],
      ["scale-1000-optimize-for-size", "earlier commit, --optimize-for-size"],
    ];
    const present = columns.filter(([name]) => scaleResults(name));
    const gc = (r: ScaleResult) => r.gcSeconds as Record<string, number> | undefined;
    lines.push(
      "## Memory: what V8 commits, and the flags that size it",
      "",
      "`npm run bench:scale` runs the operator with the `NODE_OPTIONS` of the shipped Deployment",
      "(config/manager, `--max-old-space-size=768`); `--operator-node-options` adds flags, which win over",
      "`NODE_OPTIONS`. Until this round it ran the operator with no flags, so its memory figures were of a",
      "configuration that never shipped. All runs of this table but the last three are of the same source,",
      "one after the other. The shipped run had the 16 MB semi-space in `NODE_OPTIONS`, overridden on its",
      "command line by `--max-semi-space-size=64` (what V8 picks here by itself); the 16 MB runs were",
      "made while that flag was briefly shipped. The resident memory is mostly what V8 commits, not what",
      "is in use (the V8 heap used at the end of the run, a row below):",
      "",
      "- The old generation grows to the live heap times a growing factor and keeps what it grew. V8",
      "  bounds that factor by the old-space limit: about 1.5 at a 768 MB limit, 4 at 2 GB and above (V8's",
      "  heap controller). Without a limit V8 takes one from the machine's memory (here 4 GB), and the old",
      "  generation stayed committed at 285-294 MB when idle (the runs without the limit). The 768 MB limit",
      "  does not bind (see the heap used); it lowers the factor, for more major GC time.",
      "- The young generation is two semi-spaces committed whole: 2 x 64 MB on a machine with this much",
      "  memory. A 16 MB semi-space (Node's default before V8 sized it from memory) makes it 32 MB and",
      "  brings the RSS under 256 MB busy and idle, but it costs 10-14 % more operator CPU and slower",
      "  passes, and each of the three runs with it had a slower reclaim reaction (p99 1.1-1.6 s) than",
      "  both runs of this commit without it (under 0.9 s), though a lower eviction p99. With the latency",
      "  goal already missed, it is not shipped; the chart offers it (`maxSemiSpaceSizeMb`).",
      "- The caches keep slim records with shared strings (ADR 0013).",
      "",
      "The runs differ in machine state as much as in flags: the write ceiling row shows how fast the API",
      "server wrote during each, and the latency rows follow it. GC time is the operator's own (the",
      "prom-client histogram, whole run) and does not depend on the API server. The runs of earlier commits",
      "had the caches not yet slimmed.",
      "",
      `| figure | ${present.map(([, label]) => label).join(" | ")} |`,
      `|---|${present.map(() => "---").join("|")}|`,
      ...(
        [
          [
            "operator RSS busy / idle",
            (r: ScaleResult) => `${r.admission.operatorRssMB} / ${r.idle.rssMB} MB`,
          ],
          [
            "idle young / old generation committed",
            (r: ScaleResult) =>
              r.idle.newSpaceMB === undefined ? "n/a" : `${r.idle.newSpaceMB} / ${r.idle.oldSpaceMB} MB`,
          ],
          ["V8 heap used / total (end of run)", (r: ScaleResult) => `${r.heapUsedMB} / ${r.heapTotalMB} MB`],
          [
            "GC time minor / major, whole run",
            (r: ScaleResult) => {
              const g = gc(r);
              return g ? `${num(g.minor)} / ${num(g.major)} s` : "n/a";
            },
          ],
          ["CPU while admitting", (r: ScaleResult) => `${num(r.admission.operatorCpuSeconds)} s`],
          [
            "operator CPU, whole run",
            (r: ScaleResult) =>
              `${num((r.operator as Record<string, number> | undefined)?.cpuSecondsTotal)} s`,
          ],
          [
            "binding (pods ungated per s); mean pass, plan and writes",
            (r: ScaleResult) =>
              `${num(r.binding.podsPerSecond as number)}; ${num((r.passes as Record<string, number>).meanMs)} ms`,
          ],
          ["write ceiling of the run", (r: ScaleResult) => `${r.writeCeilingPerSecond} writes/s`],
          [
            "reclaim reaction p50 / p99, bench clock",
            (r: ScaleResult) =>
              `${r.reclaim.reactionObservedMs?.p50} / ${r.reclaim.reactionObservedMs?.p99} ms`,
          ],
          [
            "eviction − deadline p50 / p99, bench clock",
            (r: ScaleResult) =>
              `${r.reclaim.evictionAfterDeadlineObservedMs?.p50} / ${r.reclaim.evictionAfterDeadlineObservedMs?.p99} ms`,
          ],
        ] as [string, (r: ScaleResult) => string][]
      ).map(
        ([figure, value]) =>
          `| ${figure} | ${present.map(([name]) => value(scaleResults(name) as ScaleResult)).join(" | ")} |`,
      ),
      "",
    );
  }
}

const quality = results("quality");
/** bench/results/quality.json, as far as this report reads it. */
type PlacementSummary = {
  instances: number;
  plannerMean: number;
  plannerWorst: number;
  plannerOptimalShare: number;
  naiveMean: number;
  naiveWorst: number;
  naiveOptimalShare: number;
  plannerAboveNaive: number;
  plannerBelowNaive: number;
  provedOptimal: number;
  maxGap: number;
  meanSolveSeconds: number;
  meanDemandFactor: number;
  minDemandFactor: number;
  maxDemandFactor: number;
  nodesMin: number;
  nodesMax: number;
  timeLimitSeconds?: number;
  missedByReason: Record<string, number>;
  missedPinned: number;
  optimumTotal: number;
  plannerTotal: number;
};
type VictimSummary = {
  served: number;
  unserved: number;
  evictedOverMinMean: number;
  evictedOverMinWorst: number;
  lostOverMinMean: number;
  lostOverMinWorst: number;
  leastLostShare: number;
  evictedOverAnyMinMean: number;
  lostOverAnyMinMean: number;
  higherPriorityThanNeeded: number;
};
type QualityResult = {
  solver: string;
  goals: { placementMean: number; placementWorst: number; evictedOverMin: number; lostOverMin: number };
  placement: {
    timeLimitSeconds: number;
    owner: PlacementSummary;
    quotasLifted: PlacementSummary;
    large: PlacementSummary;
  };
  victims: {
    instances: number;
    compared: number;
    skipped: { fits: number; impossible: number; plannerReclaimedNeedlessly: number };
    demandGpus: number[];
    planner: VictimSummary;
    naive: VictimSummary;
  };
};
const qualityResult = quality as QualityResult | undefined;
if (qualityResult) {
  const q = qualityResult;
  const o = q.placement.owner;
  const big = q.placement.large;
  const vp = q.victims.planner;
  const vn = q.victims.naive;
  const pct = (v: number) => `${num(v * 100)} %`;
  lines.push(
    "## Quality (in-process)",
    "",
    `\`npm run bench:quality\` — the planner against the proven optimum of a mixed-integer program (${q.solver}),`,
    "with a naive baseline under the same rules. Instances are generated from fixed seeds (bench/quality-placement.ts,",
    "bench/quality-victims.ts); every instance's figures are in bench/results/quality.json.",
    "",
    `**Placement**: ${o.instances} clusters of ${o.nodesMin}–${o.nodesMax} nodes: three GPU models, 4- and 8-GPU nodes, lent`,
    "nodes already partly used by Active leases, nodes busy with internal pods of 1/2/4/8 GPUs (not lendable),",
    "idle nodes and a headroom of 0, 8 or 16 idle GPUs; 3–5 tenants with priorities and quotas (some with a",
    "per-model limit), Pending leases of 1–16 GPUs, gang leases (gpusPerNode 2, 4, 8), half of them pinned to a",
    `model, a tenth Reserved; demand ${num(o.minDemandFactor, 2)}–${num(o.maxDemandFactor, 2)}× the lendable capacity (mean ${num(o.meanDemandFactor, 2)}×).`,
    "The figure is GPUs of Pending leases admitted in one plan, divided by the MIP's proven bound (the optimum",
    "when proved).",
    "",
    "| placement | planner | naive first-fit |",
    "|---|---|---|",
    `| lent GPUs / optimum, mean | ${num(o.plannerMean, 4)} | ${num(o.naiveMean, 4)} |`,
    `| worst instance | ${num(o.plannerWorst, 3)} | ${num(o.naiveWorst, 3)} |`,
    `| instances at the optimum | ${pct(o.plannerOptimalShare)} | ${pct(o.naiveOptimalShare)} |`,
    `| instances where it lends more than the other | ${o.plannerAboveNaive} | ${o.plannerBelowNaive} |`,
    `| the same clusters, quotas lifted: lent / optimum, mean (worst) | ${num(q.placement.quotasLifted.plannerMean, 4)} (${num(q.placement.quotasLifted.plannerWorst, 3)}) | ${num(q.placement.quotasLifted.naiveMean, 4)} (${num(q.placement.quotasLifted.naiveWorst, 3)}) |`,
    `| ${big.instances} clusters of 200 nodes: lent / MIP bound (${big.timeLimitSeconds} s limit) | ${num(big.plannerMean, 4)} | ${num(big.naiveMean, 4)} |`,
    "",
    `Optimum proved on ${o.provedOptimal} of ${o.instances} clusters within ${q.placement.timeLimitSeconds} s (largest gap ${num(o.maxGap, 4)}; mean solve ${num(o.meanSolveSeconds, 2)} s);`,
    `at 200 nodes on ${big.provedOptimal} of ${big.instances}, largest gap between the bound and the best solution known ${num(big.maxGap, 4)}.`,
    "",
    `Where the planner falls short (${o.instances} clusters): the optimum lends ${o.optimumTotal} GPUs, the planner ${o.plannerTotal}. Of the`,
    `GPUs the optimum admits and the planner leaves waiting, ${Object.entries(o.missedByReason)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, gpus]) => `${gpus} wait with ${reason}`)
      .join(", ")}; ${o.missedPinned} of them are leases pinned to a model.`,
    "QuotaExceeded: the fair order spent the tenant's quota on other leases. InsufficientCapacity: earlier",
    "placements left no room of the right model and block size. Admission packs the leases it admits in one",
    "plan again when a lease fits only that way (pinned leases first, then largest blocks), and may move a",
    "lease without a model to another model (admission.ts, `repack`); with quotas lifted that leaves packing",
    `${num(1 - q.placement.quotasLifted.plannerMean, 4)} short of the optimum on average. What remains with quotas is the order within a`,
    "tenant: its leases are served by lease priority, then age, and the quota goes to the first that fit;",
    "the MIP may skip an older or higher-priority lease to fill the quota with two others (the worst",
    "instance: a 3-GPU lease admitted before a younger 16-GPU one of the same priority, which then no longer",
    "fits the quota). The planner keeps the order: a tenant's lease priority means what the README says.",
    "",
    "The MIP allows exactly what the planner may do: a lease on one GPU model only (its own, or any one model",
    "when unpinned), whole blocks of gpusPerNode on each node, free GPUs of lent nodes, idle Internal nodes",
    "lent whole while the headroom of idle GPUs stays, the tenant's limit (the model's own, else the any-model",
    "one) for all GPUs and for Reserved GPUs; nodes with internal pods are never lent. It relaxes the fair",
    "order (tenant priority, tenant share, lease priority, age): it may admit any subset of the Pending",
    "leases, where the planner serves them in order, best-effort. Naive: leases in arrival order, each split",
    "over the matching nodes in name order (first fit), under the same rules. Both directions are checked on",
    "every instance: neither method lends more than the MIP's bound, and the optimum's own allocations,",
    "written as Active leases, pass the core's accounting (no node over-allocated, no quota exceeded, the",
    "headroom kept, each lease whole, on one model, in blocks).",
    "",
    `**Victims**: ${q.victims.compared} internal demands of ${q.victims.demandGpus.join("/")} GPUs (one pod or several, pinned to a`,
    "model or not) on 4–10 lent nodes of two models (4- and 8-GPU), partly free, with leases of 1–8 GPUs, some",
    "spanning two nodes (half of those allow partial reclaim), some inside their tenant's minRuntime, some",
    "Reserved, some with a recent checkpoint; 2–3 tenants with priorities, lease priorities; internal nodes",
    `with a few GPUs left. (Of ${q.victims.instances} generated, ${q.victims.skipped.fits} needed no reclaim and ${q.victims.skipped.impossible} could not be served by any; the planner`,
    `reclaimed for ${q.victims.skipped.plannerReclaimedNeedlessly} of those.)`,
    "",
    "The minimum is over every valid reclaim (a MIP: whole leases evicted unless they allow partial reclaim, a",
    "node freed only when every lease on it goes, never a Reserved lease or one inside its minRuntime, every",
    "demand pod on one node it matches). The planner first hits the lowest tenant priority, then the lowest",
    "lease priority, it can; the minimum is taken under that same rule (the lowest priorities any valid",
    "reclaim needs), and, in the last rows, with priorities ignored. GPU-time lost counts since the last",
    "checkpoint, else since admission.",
    "",
    "| victims | planner | naive (Kueue-style: lowest priority, then newest) |",
    "|---|---|---|",
    `| GPUs evicted / minimum, mean | ${num(vp.evictedOverMinMean, 4)} | ${num(vn.evictedOverMinMean, 4)} |`,
    `| worst | ${num(vp.evictedOverMinWorst, 3)} | ${num(vn.evictedOverMinWorst, 3)} |`,
    `| GPU-time lost / minimum, mean | ${num(vp.lostOverMinMean, 4)} | ${num(vn.lostOverMinMean, 4)} |`,
    `| worst | ${num(vp.lostOverMinWorst, 3)} | ${num(vn.lostOverMinWorst, 3)} |`,
    `| demands with the least GPU-time lost | ${pct(vp.leastLostShare)} | ${pct(vn.leastLostShare)} |`,
    `| hit a higher priority than needed | ${vp.higherPriorityThanNeeded} | ${vn.higherPriorityThanNeeded} |`,
    `| served though a reclaim existed | ${vp.served} of ${q.victims.compared} | ${vn.served} of ${q.victims.compared} |`,
    `| priorities ignored: GPUs evicted / minimum | ${num(vp.evictedOverAnyMinMean, 4)} | ${num(vn.evictedOverAnyMinMean, 4)} |`,
    `| priorities ignored: GPU-time lost / minimum | ${num(vp.lostOverAnyMinMean, 4)} | ${num(vn.lostOverAnyMinMean, 4)} |`,
    "",
    "The planner optimizes GPU-time lost before GPUs evicted (after priorities), so its GPUs evicted may",
    "exceed the minimum where fewer GPUs would lose more work. CPU and memory are not modelled: the generated",
    "pods ask for 1 core of 96.",
    "",
  );
}

const day = results("day");
if (day) {
  const d = day as Json & {
    internalExtraWaitBeyondNoticeMs: Json;
    internalWaitBeyondNoticeAndMinRuntimeMs: Json;
    internalWaitMs: Json;
    series: { hour: number; idleGpus: number; lentGpus: number; internalGpus: number }[];
  };
  lines.push(
    "## A day in the life (in-process, accelerated)",
    "",
    `\`npm run bench:day\` — ${d.hours} h of a ${d.nodes}-node cluster (${d.totalGpus} GPUs: ${(d.fleet as { model: string; gpus: number; count: number }[]).map((f) => `${f.count} × ${f.gpus} ${f.model}`).join(", ")}) in 5 s steps, after ${d.warmupHours === undefined ? "a" : `${d.warmupHours} h of`} warm-up.`,
    "Internal training rises and falls (15-80 % of the GPUs); its pods ask for 1/2/4/8 GPUs, 70 % of them for",
    "one model, and a scheduler stand-in places them by the planner's own fit rules on the fullest node that",
    "takes them (MostAllocated). Tenant leases of 1-16 GPUs (gangs from 8, half pinned to a model, 15 %",
    `Reserved, 1-5 h) arrive at a rate that offers ${num(d.demandFactor, 1)}× the idle GPUs of the hour; a lease Pending for 2 h is`,
    `given up. Lent means GPUs held by leases (not whole lent nodes), against every GPU no internal pod uses, less the headroom of ${d.headroomGpus}.`,
    "",
    "| figure | value |",
    "|---|---|",
    `| share of idle GPU-hours lent | ${num((d.lentShareOfIdle as number) * 100)} % (${num(d.lentGpuHours, 0)} of ${num(d.idleGpuHours, 0)}) |`,
    `| the same, idle GPUs on nodes without internal pods only (busy nodes are never lent) | ${num((d.lentShareOfIdleNodes as number) * 100)} % (of ${num(d.idleNodeGpuHours, 0)}) |`,
    `| share of the most that could be lent (idle, or what leases asked for if less) | ${num((d.lentShareOfBound as number) * 100)} % (of ${num(d.boundGpuHours, 0)}) |`,
    `| whole lent nodes, GPU-hours (a lent node may be partly used) | ${num(d.lentNodeGpuHours, 0)} |`,
    `| internal pods' wait p50 / p99 | ${num((d.internalWaitMs.p50 as number) / 1000, 0)} / ${num((d.internalWaitMs.p99 as number) / 1000, 0)} s |`,
    `| internal extra wait beyond the notice p50 / p99 / max | ${num((d.internalExtraWaitBeyondNoticeMs.p50 as number) / 1000, 0)} / ${num((d.internalExtraWaitBeyondNoticeMs.p99 as number) / 1000, 0)} / ${num((d.internalExtraWaitBeyondNoticeMs.max as number) / 1000, 0)} s (${d.internalExtraWaitBeyondNoticeMs.count} pods waited on a reclaim) |`,
    `| internal wait beyond notice + minRuntime (the most the tenant contract allows) p50 / p99 / max | ${num((d.internalWaitBeyondNoticeAndMinRuntimeMs.p50 as number) / 1000, 0)} / ${num((d.internalWaitBeyondNoticeAndMinRuntimeMs.p99 as number) / 1000, 0)} / ${num((d.internalWaitBeyondNoticeAndMinRuntimeMs.max as number) / 1000, 0)} s |`,
    `| tenant leases / given up waiting / reclaimed / GPU-hours lost to reclaim | ${d.leases} / ${d.leasesGivenUp} / ${d.reclaimedLeases} / ${num(d.tenantGpuHoursLostToReclaim)} |`,
    `| revenue | ${num(d.revenue, 2)} USD |`,
    "",
    "![day](bench/plots/day.svg)",
    "",
  );
  lineChart(
    "day.svg",
    "A day in the life: GPUs over time",
    [
      { name: "internal in use", color: "#4C78A8", points: d.series.map((p) => [p.hour, p.internalGpus]) },
      { name: "idle (not internal)", color: "#72B7B2", points: d.series.map((p) => [p.hour, p.idleGpus]) },
      { name: "held by leases", color: "#F58518", points: d.series.map((p) => [p.hour, p.lentGpus]) },
    ],
    "hour",
    "GPUs",
  );
}

// Issue 13: lending with Kueue alone vs with gpulease, on one control plane with real Kueue.
{
  const k = results("kueue") as
    | (Json & { results: Outcome[]; nodes: number; scale?: number; throughput?: Throughput[] })
    | undefined;
  if (k) {
    const [alone, withUs] = k.results as [Outcome, Outcome];
    const cell = (f: (r: Outcome) => string | number) => `| ${f(alone)} | ${f(withUs)} |`;
    lines.push(
      "## Side by side with Kueue alone",
      "",
      "`npm run bench:kueue` — one control plane, real Kueue v0.17.0, " +
        `${k.nodes} nodes × 8 GPUs per setup, all four lent out: four external workloads of 8 GPUs, ` +
        "one PodDisruptionBudget over them (minAvailable 3), then an internal Job of 2 pods × 8 GPUs arrives. " +
        "Kueue alone: an external ClusterQueue with no quota of its own borrows the GPUs in a cohort, and the " +
        "internal queue takes them back with `reclaimWithinCohort: Any`. gpulease: the external pods run on " +
        `GpuLeases with a ${withUs.noticeSeconds} s notice (evictionGrace 10 s), and the Job's ClusterQueue uses ` +
        "the check `gpulease.io/capacity`. How pods ended is read from the API server's audit log. One run; " +
        `load average ${num((k.machine as Json | undefined)?.loadAverage)} at its end (the machine was shared).`,
      "",
      "| | Kueue alone | gpulease |",
      "|---|---|---|",
      `| notice given to the evicted tenant ${cell((r) => `${r.noticeSeconds} s`)}`,
      `| internal Job created → first eviction ${cell((r) => `${num(r.firstEvictionSeconds, 2)} s`)}`,
      `| internal Job created → all its pods on nodes ${cell((r) => `${num(r.podsRunningSeconds, 2)} s`)}`,
      `| GPUs needed / evicted / evicted beyond the need ${cell((r) => `${r.gpusNeeded} / ${r.gpusEvicted} / ${r.unnecessaryGpusEvicted}`)}`,
      `| pods ended through the Eviction API (PDB checked) ${cell((r) => r.evictionApi)}`,
      `| evictions the PDB refused (429) ${cell((r) => r.evictionsRefusedByPdb)}`,
      `| pods deleted without asking the PDB ${cell((r) => r.deletedDirectly)}`,
      "",
      ...(k.throughput
        ? [
            `Admission throughput, ${k.scale} nodes × 8 GPUs (a separate pool per side): Kueue admitting ` +
              `${k.scale} single-pod Workloads of 8 GPUs queued while their ClusterQueue was on hold ` +
              "(`stopPolicy: Hold`, then released; Kueue's shipped client limits, 50 QPS, burst 100), and " +
              `gpulease admitting ${k.scale} GpuLeases of 8 GPUs created before the operator started (timed from ` +
              "its work loop starting). Both timed until the last one shows Admitted / Active. Not the same work: " +
              "Kueue checks quota and writes each Workload (then ungates its pod); gpulease places each lease on " +
              "nodes, taints them and writes its status. One run each.",
            "",
            "| | admitted | in | per second |",
            "|---|---|---|---|",
            ...k.throughput.map(
              (t) => `| ${t.what} | ${t.count} | ${num(t.seconds, 2)} s | ${num(t.perSecond)} |`,
            ),
            "",
          ]
        : []),
      "The trade, as measured: Kueue alone gives the internal Job its GPUs within two seconds, with no " +
        "notice and around the PDB (it deletes the borrowers' pods). gpulease gives the full notice. It evicts " +
        "through the Eviction API at the deadline and waits for the PDB until `evictionGrace` past it. Only " +
        "then does it delete. Time-to-capacity is the notice, plus the grace where a PDB holds a pod. Neither " +
        "evicted more than the Job needed.",
      "",
      "![kueue](bench/plots/kueue.svg)",
      "",
    );
    barChart(
      "kueue.svg",
      "Internal Job created → all its pods on nodes",
      [
        { label: "Kueue alone", value: alone.podsRunningSeconds },
        { label: "gpulease (10 s notice)", value: withUs.podsRunningSeconds },
      ],
      "s",
    );
  }
}

// Goals of issue 6, each with the figure it is judged by.
{
  const p10k = plannerAt(10_000);
  const big = scaleResults("scale-1000");
  const mid = scaleResults("scale-300");
  const d = day as
    | (Json & { internalExtraWaitBeyondNoticeMs: Json; internalWaitBeyondNoticeAndMinRuntimeMs?: Json })
    | undefined;
  const row = (goal: string, figure: string, met: boolean | undefined) =>
    `| ${goal} | ${figure} | ${met === undefined ? "n/a" : met ? "met" : "missed"} |`;
  lines.push(
    "## Goals",
    "",
    ...(big && loadNote(big).length > 0
      ? [
          "The scale figures below come from the 1,000-node run, which shared the machine with other work (see above).",
          "",
        ]
      : []),
    "| goal | figure | |",
    "|---|---|---|",
    row(
      "reclaim reaction p99 ≤ 100 ms",
      `p99 ${big?.reclaim.reactionObservedMs?.p99 ?? big?.reclaim.reactionMs?.p99} ms (1,000 nodes, ${big?.reclaim.reactionObservedMs ? "bench's clock: Unschedulable seen → notice seen on a victim" : "operator's log"})`,
      big
        ? ((big.reclaim.reactionObservedMs?.p99 ?? big.reclaim.reactionMs?.p99) as number) <= 100
        : undefined,
    ),
    row(
      "evictions within 1 s after the deadline",
      `p99 ${big?.reclaim.evictionAfterDeadlineObservedMs?.p99 ?? big?.reclaim.evictionAfterDeadlineMs.p99} ms (1,000 nodes, ${big?.reclaim.evictionAfterDeadlineObservedMs ? "bench's clock: deletion seen" : "operator's log"}); e2e tests: < 1 s, asserted on a small pool`,
      big
        ? ((big.reclaim.evictionAfterDeadlineObservedMs?.p99 ??
            big.reclaim.evictionAfterDeadlineMs.p99) as number) < 1000
        : undefined,
    ),
    row(
      "admission ≥ 80 % of the write ceiling",
      `${num((((big?.admission.leasesPerSecond as number) ?? Number.NaN) * ((big?.admission.apiRequestsPerLease as number) ?? Number.NaN) * 100) / ((big?.writeCeilingPerSecond as number) ?? Number.NaN), 0)} % in API requests/s against the ceiling of the same run (1,000 nodes; a lease needs ${num(big?.admission.apiRequestsPerLease, 2)} requests)`,
      big
        ? ((big.admission.leasesPerSecond as number) * (big.admission.apiRequestsPerLease as number)) /
            (big.writeCeilingPerSecond as number) >=
            0.8
        : undefined,
    ),
    row(
      "full plan ≤ 50 ms at 10,000 nodes",
      `${num(p10k?.firstPlan.wallMs.p50)} ms first plan, replan after one event ${num(Math.min(...Object.values(p10k?.replan ?? {}).map((x) => x.wallMs.p50)))}-${num(Math.max(...Object.values(p10k?.replan ?? {}).map((x) => x.wallMs.p50)))} ms (wall p50)`,
      p10k ? p10k.firstPlan.wallMs.p50 <= 50 : undefined,
    ),
    row(
      "operator ≤ 256 MB RSS at scale",
      `${big?.idle.rssMB} MB idle (1,000 nodes, 10,000 pods, the shipped NODE_OPTIONS; see "Memory"), ${mid?.idle.rssMB} MB (300 nodes, 3,000 pods, an earlier run without them)`,
      big ? (big.idle.rssMB as number) <= 256 : undefined,
    ),
    row(
      "≈ 0 CPU when idle",
      `${num(big?.idle.cpuShare, 3)} cores (1,000 nodes), ${num(mid?.idle.cpuShare, 3)} cores (300 nodes), once the Events are written`,
      big ? (big.idle.cpuShare as number) < 0.05 : undefined,
    ),
    row(
      `placement: lent / optimum ≥ ${qualityResult?.goals.placementMean} mean, ≥ ${qualityResult?.goals.placementWorst} worst, above naive`,
      `${num(qualityResult?.placement.owner.plannerMean, 4)} mean, ${num(qualityResult?.placement.owner.plannerWorst, 3)} worst; naive ${num(qualityResult?.placement.owner.naiveMean, 4)}`,
      qualityResult
        ? qualityResult.placement.owner.plannerMean >= qualityResult.goals.placementMean &&
            qualityResult.placement.owner.plannerWorst >= qualityResult.goals.placementWorst &&
            qualityResult.placement.owner.plannerMean > qualityResult.placement.owner.naiveMean
        : undefined,
    ),
    row(
      `victims: GPUs evicted / minimum ≤ ${qualityResult?.goals.evictedOverMin} (mean)`,
      `${num(qualityResult?.victims.planner.evictedOverMinMean, 4)}; naive ${num(qualityResult?.victims.naive.evictedOverMinMean, 4)}`,
      qualityResult
        ? qualityResult.victims.planner.evictedOverMinMean <= qualityResult.goals.evictedOverMin &&
            qualityResult.victims.planner.unserved === 0
        : undefined,
    ),
    row(
      `victims: GPU-time lost / minimum ≤ ${qualityResult?.goals.lostOverMin} (mean)`,
      `${num(qualityResult?.victims.planner.lostOverMinMean, 4)}; naive ${num(qualityResult?.victims.naive.lostOverMinMean, 4)}`,
      qualityResult
        ? qualityResult.victims.planner.lostOverMinMean <= qualityResult.goals.lostOverMin &&
            qualityResult.victims.planner.unserved === 0
        : undefined,
    ),
    row(
      "day trace: ≥ 90 % of idle GPU-hours lent (less the headroom)",
      `${num(((d?.lentShareOfIdle as number) ?? Number.NaN) * 100)} % (${num(((d?.lentShareOfBound as number) ?? Number.NaN) * 100)} % of min(idle, what leases asked for))`,
      d ? (d.lentShareOfIdle as number) >= 0.9 : undefined,
    ),
    row(
      "day trace: internal extra wait ≤ notice + 5 s",
      `p99 ${num(((d?.internalExtraWaitBeyondNoticeMs.p99 as number) ?? Number.NaN) / 1000, 0)} s beyond the notice, ${num(((d?.internalWaitBeyondNoticeAndMinRuntimeMs?.p99 as number) ?? Number.NaN) / 1000, 0)} s beyond notice + minRuntime (5 s simulation steps); real cluster: Jobs scheduled ${num(mid?.reclaim.jobsScheduledWithinSeconds)} s after creation with a 5 s notice`,
      d ? (d.internalExtraWaitBeyondNoticeMs.p99 as number) <= 5000 : undefined,
    ),
    "",
  );
}

// Goals of the issue on cost per event (incremental planning, a reclaim fast path, a smaller
// operator): each figure before (the committed baseline files, from commit 7bd24da) and now.
{
  type PlannerRun = Json & { sizes: PlannerSize[] };
  const at = (run: PlannerRun | undefined, nodes: number) => run?.sizes?.find((s) => s.size.nodes === nodes);
  const before10k = at(results("planner-baseline") as PlannerRun | undefined, 10_000);
  const now10k = plannerAt(10_000);
  const scaleBefore = scaleResults("scale-1000-baseline");
  const scaleNow = scaleResults("scale-1000");
  const scaleCapped = scaleResults("scale-1000-heap256");
  const semi16 = scaleResults("scale-1000-semi16");
  const ms = (v: number | undefined) => (v === undefined ? "n/a" : `${num(v)} ms`);
  const verdict = (v: number | undefined, goal: number) =>
    v === undefined ? "n/a" : v <= goal ? "met" : "missed";
  const row = (goal: string, before: string, now: string, met: string) =>
    `| ${goal} | ${before} | ${now} | ${met} |`;
  const replanP99 = (run: PlannerSize | undefined, kind: string) => run?.replan[kind]?.cpuMs.p99;
  const incrementalP99 = (run: PlannerSize | undefined, kind: string) => run?.incremental?.[kind]?.cpuMs.p99;
  const reaction = (r: ScaleResult | undefined) =>
    (r?.reclaim.reactionObservedMs?.p99 as number | undefined) ?? undefined;
  lines.push(
    "## Cost per event: before and after",
    "",
    "Goals of the issue on incremental planning, each judged by the figure beside it. Planner rows are CPU p99",
    "(the slowest of 20 runs) at 10,000 nodes / 50,000 leases; before is `bench/results/planner-baseline.json`",
    "and `scale-1000-baseline.json` (commit 7bd24da), now is `planner.json` and `scale-1000.json`.",
    "",
    "| goal | before | now | |",
    "|---|---|---|---|",
    ...["lease created", "lease ended", "pod turned Unschedulable", "node added"].map((kind) =>
      row(
        `replan after one event (${kind}) p99 ≤ 5 ms`,
        ms(replanP99(before10k, kind)),
        `${ms(incrementalP99(now10k, kind))} incremental (from scratch: ${ms(replanP99(now10k, kind))})`,
        verdict(incrementalP99(now10k, kind), 5),
      ),
    ),
    row(
      "reclaim-first plan after a pod turned Unschedulable (what runs before the notices go out)",
      "no such pass (the whole replan above)",
      ms(now10k?.reclaimFirst?.cpuMs.p99),
      "",
    ),
    ...(() => {
      const at10k = (r: { sizes: SnapshotBuildSize[] } | undefined) =>
        r?.sizes.find((x) => x.size.nodes === 10_000)?.afterOneEvent;
      const before = at10k(snapshotBuildBefore);
      const now = at10k(snapshotBuild);
      if (!before || !now) return [];
      const worst = (t: Record<string, PlannerTiming>) =>
        Math.max(...Object.values(t).map((x) => x.cpuMs.p99));
      return [
        row(
          "snapshot build after one event (before the planner starts; not in the rows above), worst kind",
          ms(worst(before)),
          ms(worst(now)),
          "",
        ),
      ];
    })(),
    row(
      "full plan from scratch ≤ 250 ms",
      ms(before10k?.firstPlan.cpuMs.p99),
      ms(now10k?.firstPlan.cpuMs.p99),
      verdict(now10k?.firstPlan.cpuMs.p99, 250),
    ),
    row(
      "reclaim reaction p99 ≤ 100 ms (1,000 nodes, bench's clock)",
      ms(reaction(scaleBefore)),
      ms(reaction(scaleNow)),
      verdict(reaction(scaleNow), 100),
    ),
    row(
      "operator RSS ≤ 256 MB busy and idle (1,000 nodes, 10,000 pods), no heap cap that costs latency",
      `${scaleBefore?.admission.operatorRssMB ?? "n/a"} MB busy, ${scaleBefore?.idle.rssMB ?? "n/a"} MB idle`,
      `${scaleNow?.admission.operatorRssMB ?? "n/a"} MB busy, ${scaleNow?.idle.rssMB ?? "n/a"} MB idle with the shipped \`--max-old-space-size=768\` (not reached: V8 heap ${scaleNow?.heapUsedMB ?? "n/a"} MB used of ${scaleNow?.heapTotalMB ?? "n/a"} MB; before, the bench ran without it); with a 16 MB semi-space as well ${semi16?.admission.operatorRssMB ?? "n/a"} / ${semi16?.idle.rssMB ?? "n/a"} MB, but reaction p99 ${ms(reaction(semi16))} (see "Memory"); old space capped at 256 MB: ${scaleCapped?.admission.operatorRssMB ?? "n/a"} MB busy, ${scaleCapped?.idle.rssMB ?? "n/a"} MB idle, reaction p99 ${ms(reaction(scaleCapped))}, eviction after the deadline p99 ${ms(scaleCapped?.reclaim.evictionAfterDeadlineObservedMs?.p99 as number | undefined)}, admission ${num((scaleCapped?.admission.leasesPerSecond as number | undefined) ?? Number.NaN)} leases/s (uncapped ${num((scaleNow?.admission.leasesPerSecond as number | undefined) ?? Number.NaN)})`,
      scaleNow
        ? (scaleNow.idle.rssMB as number) <= 256 && (scaleNow.admission.operatorRssMB as number) <= 256
          ? "met"
          : "missed"
        : "n/a",
    ),
    row(
      "admission ≥ 80 % of the write ceiling",
      `${num(((scaleBefore?.admission.requestsShareOfCeiling as number) ?? Number.NaN) * 100, 0)} %`,
      `${num(((scaleNow?.admission.requestsShareOfCeiling as number) ?? Number.NaN) * 100, 0)} %`,
      scaleNow ? ((scaleNow.admission.requestsShareOfCeiling as number) >= 0.8 ? "met" : "missed") : "n/a",
    ),
    row(
      "evictions within 1 s after the deadline (p99), never before",
      ms(scaleBefore?.reclaim.evictionAfterDeadlineObservedMs?.p99 as number | undefined),
      ms(scaleNow?.reclaim.evictionAfterDeadlineObservedMs?.p99 as number | undefined),
      verdict(scaleNow?.reclaim.evictionAfterDeadlineObservedMs?.p99 as number | undefined, 1000),
    ),
    "",
    ...(() => {
      const again = scaleResults("scale-1000-noflags");
      if (!again) return [];
      return [
        `Another scale run of the same commit, without flags (\`scale-1000-noflags.json\`): reaction p99 ${ms(reaction(again))}, eviction after the deadline p99 ${ms(again.reclaim.evictionAfterDeadlineObservedMs?.p99 as number | undefined)}, RSS ${again.admission.operatorRssMB} MB busy / ${again.idle.rssMB} MB idle, admission ${num(((again.admission.requestsShareOfCeiling as number) ?? Number.NaN) * 100, 0)} % of the write ceiling (${again.writeCeilingPerSecond} writes/s; ${scaleNow?.writeCeilingPerSecond} in the shipped run). Section "Memory" has five runs of this commit side by side: their spread bounds what one run of this bench can tell on this machine.`,
        "",
      ];
    })(),
    "What is built: a reclaim-first pass that plans only the demand and the leases it hits and writes their",
    "notices before the whole plan (ADR 0009), urgent writes first, each as soon as what it requires is",
    "written (ADR 0004, amended), four times as wide and",
    "round-robin by lease, a pass that yields to new demand, one write per pod notice (annotation and",
    "condition together), the planner's hot spots (the victim search looked at every node for every subset",
    "it tried; admission searched a place for each of 41,000 waiting leases), the incremental planner",
    "(ADR 0011): lease plans, admission decisions and tenant statuses reused while their inputs are the same",
    "objects, checked against the plan from scratch by a property test over random event sequences and,",
    "optionally, in production; and finding what changed from the changes (ADR 0012): the snapshot builder",
    'patched from the informers\' change events (section "Snapshot build": about 90 ms per pass at 10k',
    "nodes before, 0.1-2 ms now, a cost the planner rows do not include), the leases whose plans must be",
    "looked at found from what changed instead of by walking every lease, one lease index kept from pass",
    "to pass, the ResourceQuota limits of every namespace whose holding plans did not change, and each",
    "quota's unwatched-vanished records kept while their inputs hold; admission decides each tenant's",
    "class of leases once between two admissions. What is not built: node accounting, demand and",
    "orphans, the reclaim context, admission's copy and comparison of node accounts, the tenant summaries",
    "and bindings still walk the cluster every pass, and admission runs whole over every waiting lease",
    "when capacity grows or demand waits (about 110 of the 300 ms of the lease-ended row: its queues are",
    "built and sorted again each pass), so a replan still costs time in proportion to the cluster.",
    "",
    "What the reaction figure is made of, from the operator's debug log: a single Job's reclaim-first pass",
    "takes about 150 ms from the operator seeing the pod to its notices written. When 20 Jobs arrive at once,",
    "their notices are a write per pod (two before this round), at the write ceiling of the run. And a",
    "whole plan being computed (tens to hundreds of ms at this size, on the one event loop) holds back the",
    "operator's own informers, so the bench's clock sees more than the operator's. The bench times each Job",
    "to the first notice on the node its pod finally ran on, which under a burst may be another Job's",
    "reclaim.",
    "",
    ...(() => {
      // The bound, from the shipped run's own results: its reclaims, its write ceiling, and the
      // evictions as the bench's clock saw them.
      const r = scaleNow?.reclaim;
      const leases = r?.leasesReclaimed as number | undefined;
      const ceiling = scaleNow?.writeCeilingPerSecond as number | undefined;
      const evictions = r?.evictionAfterDeadlineObservedMs as Record<string, number> | undefined;
      if (!r || leases === undefined || ceiling === undefined || !evictions) return [];
      const firstNoticeWrites = 2 * leases;
      return [
        `Both latency goals are bounded by what this machine's API server writes, not by the planner. In the shipped run (\`scale-1000.json\`) the ${r.jobs} Jobs took ${leases} leases at once. A Job's first notice needs its lease's status and one pod notice, so the last Job's first notice comes after at least ${firstNoticeWrites} writes: ${num((firstNoticeWrites / ceiling) * 1000, 0)} ms at the run's write ceiling (${ceiling} writes/s, 16 writers; the operator writes 64 at a time and may get more), however fast the plan. The bench saw the ${evictions.count} evictions sharing one deadline between ${evictions.min} and ${evictions.max} ms after it: none may start before it, and each is a PDB check and a pod update, so their p99 is the time this API server takes to carry out about ${evictions.count} evictions. Meeting 100 ms and 1 s for bursts of this size needs an API server that writes several times faster than this 2-core machine, shared with etcd, the scheduler and kwok.`,
        "",
      ];
    })(),
  );
}

writeFileSync(resolve(ROOT, "BENCHMARKS.md"), `${lines.join("\n")}\n`);
process.stdout.write("wrote BENCHMARKS.md and bench/plots/\n");

/**
 * Snapshot build benchmark, in-process: what a pass costs before the planner starts. The operator's
 * SnapshotBuilder reads informer caches of 1,000 and 10,000 nodes (6 pods per node, 5 leases per
 * node, 100 tenants); one real change lands in a cache (through `upsert`/`forget`, as a watch event
 * does), then one build is timed, in wall and CPU time. Writes bench/results/snapshot-build.json.
 *
 *   tsx bench/snapshot-build.ts [--smoke]
 */
import { writeFileSync } from "node:fs";
import { SnapshotBuilder } from "../src/controller/snapshot.ts";
import type { KubeObject } from "../src/kube/rest.ts";
import { BUILDER_SETTINGS, cachedInformer } from "../test/support/informer-cache.ts";
import { machine, percentile, printTable } from "./machine.ts";

const smoke = process.argv.includes("--smoke");
const sizes = smoke ? [{ nodes: 200, runs: 5 }] : [1_000, 10_000].map((nodes) => ({ nodes, runs: 50 }));
const TENANTS = 100;
const CREATED = "2026-12-01T00:00:00Z";

let version = 1;
const rv = () => String(version++);

const cache = cachedInformer;

const rawNode = (i: number): KubeObject => ({
  metadata: {
    name: `node-${i}`,
    resourceVersion: rv(),
    labels: { "gpulease.io/lendable": "true", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" },
  },
  status: {
    allocatable: { "nvidia.com/gpu": "8", cpu: "96", memory: "1Ti" },
    conditions: [{ type: "Ready", status: "True" }],
  },
});

const rawLease = (i: number, nodes: number, over: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "gpulease.io/v1alpha1",
  kind: "GpuLease",
  metadata: {
    namespace: `tenant-${i % TENANTS}`,
    name: `lease-${i}`,
    uid: `lease-uid-${i}`,
    resourceVersion: rv(),
    generation: 1,
    creationTimestamp: CREATED,
    finalizers: ["gpulease.io/usage"],
  },
  spec: { gpus: 4, duration: "8h" },
  status: {
    phase: "Active",
    allocations: [{ node: `node-${i % nodes}`, gpus: 4 }],
    usage: { gpuSeconds: 3600, cost: "1.20" },
    ...over,
  },
});

const rawPod = (
  i: number,
  nodes: number,
  leases: number,
  over: Record<string, unknown> = {},
): KubeObject => ({
  metadata: {
    namespace: `tenant-${i % TENANTS}`,
    name: `pod-${i}`,
    uid: `pod-uid-${i}`,
    resourceVersion: rv(),
    labels: { "gpulease.io/lease": `lease-${i % leases}` },
  },
  spec: {
    nodeName: `node-${i % nodes}`,
    containers: [{ name: "main", resources: { requests: { "nvidia.com/gpu": "1", cpu: "8" } } }],
  },
  status: { phase: "Running", ...over },
});

interface Timing {
  wallMs: { p50: number; p99: number };
  cpuMs: { p50: number; p99: number };
  runs: number;
}

function measure({ nodes, runs }: { nodes: number; runs: number }) {
  const leases = nodes * 5;
  const pods = nodes * 6;
  const caches = {
    nodes: cache(Array.from({ length: nodes }, (_, i) => rawNode(i))),
    pods: cache(Array.from({ length: pods }, (_, i) => rawPod(i, nodes, leases))),
    namespaces: cache(
      Array.from({ length: TENANTS }, (_, t) => ({
        metadata: { name: `tenant-${t}`, resourceVersion: rv(), labels: { "gpulease.io/tenant": `t-${t}` } },
      })),
    ),
    leases: cache(Array.from({ length: leases }, (_, i) => rawLease(i, nodes))),
    quotas: cache([]),
  };
  const builder = new SnapshotBuilder(
    caches,
    {
      lendableSelector: { "gpulease.io/lendable": "true" },
      resourceNames: ["nvidia.com/gpu"],
      gpuModelLabel: "nvidia.com/gpu.product",
    },
    BUILDER_SETTINGS,
  );
  let now = 0;
  const tick = () => {
    now += 1000;
    return now;
  };
  const firstStart = performance.now();
  builder.build(tick());
  const firstBuildMs = performance.now() - firstStart;
  builder.build(tick());

  const events: Record<string, (run: number) => void> = {
    "nothing changed": () => {},
    "lease status written": (run) =>
      caches.leases.upsert(
        rawLease(run % leases, nodes, { usage: { gpuSeconds: 3600 + run, cost: "1.21" } }),
      ),
    "lease created": (run) => caches.leases.upsert(rawLease(leases + run, nodes, { phase: undefined })),
    "lease deleted": (run) => caches.leases.forget(`tenant-${run % TENANTS}/lease-${run}`),
    "pod status written": (run) =>
      caches.pods.upsert(rawPod(run % pods, nodes, leases, { conditions: [{ type: "Ready" }] })),
    "pod created": (run) => caches.pods.upsert(rawPod(pods + run, nodes, leases, { phase: "Pending" })),
    "node added": (run) => caches.nodes.upsert(rawNode(nodes + run)),
  };
  const timings: Record<string, Timing> = {};
  let offset = 0;
  for (const [kind, change] of Object.entries(events)) {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let run = 0; run < runs; run++) {
      change(offset + run);
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      builder.build(tick());
      wall.push(performance.now() - start);
      const used = process.cpuUsage(cpuStart);
      cpu.push((used.user + used.system) / 1000);
    }
    offset += runs;
    timings[kind] = {
      wallMs: { p50: percentile(wall, 50), p99: percentile(wall, 99) },
      cpuMs: { p50: percentile(cpu, 50), p99: percentile(cpu, 99) },
      runs,
    };
  }
  return { size: { nodes, pods, leases, tenants: TENANTS }, firstBuildMs, afterOneEvent: timings };
}

const host = machine();
const results: ReturnType<typeof measure>[] = [];
for (const size of sizes) {
  const r = measure(size);
  results.push(r);
  printTable(`Snapshot build: ${r.size.nodes} nodes, ${r.size.pods} pods, ${r.size.leases} leases`, [
    ["first build (every object converted)", `${r.firstBuildMs.toFixed(1)} ms wall`],
    ...Object.entries(r.afterOneEvent).map(([kind, t]): [string, string] => [
      `build after ${kind}, p50 / p99`,
      `${t.wallMs.p50.toFixed(2)} / ${t.wallMs.p99.toFixed(2)} ms wall, ${t.cpuMs.p50.toFixed(2)} / ${t.cpuMs.p99.toFixed(2)} ms CPU`,
    ]),
    ["machine", `${host.cores} × ${host.cpu}, Node ${host.node}`],
  ]);
}
writeFileSync(
  new URL(`results/snapshot-build${smoke ? "-smoke" : ""}.json`, import.meta.url),
  `${JSON.stringify({ benchmark: "snapshot-build", smoke, machine: host, sizes: results }, null, 2)}\n`,
);

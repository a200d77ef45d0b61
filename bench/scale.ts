/**
 * Scale benchmark on the local control plane with kwok: nodes × 8 GPUs, leases, tenant pods and
 * internal Jobs arriving. Prints a table and writes bench/results/scale-<nodes>.json (scale-smoke.json).
 *
 *   tsx bench/scale.ts [--smoke] [--nodes 1000] [--leases 2000] [--pods-per-lease 5] [--jobs 20]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { Informer } from "../src/kube/informer.ts";
import { loadClusterAccess } from "../src/kube/kubeconfig.ts";
import { type KubeObject, KubeRest, paths } from "../src/kube/rest.ts";
import { ControlPlane } from "../test/harness/controlplane.ts";
import { gpuNodeManifest, waitForNodesReady } from "../test/harness/gpu-nodes.ts";
import { freePort } from "../test/harness/ports.ts";
import { operatorContainer, shippedDeployment } from "../test/support/container.ts";
import { installCrds, installPolicies } from "../test/support/crds.ts";
import { kubeClients } from "../test/support/kube.ts";
import { machine, percentile, printTable } from "./machine.ts";

const ROOT = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    nodes: { type: "string" },
    leases: { type: "string" },
    "pods-per-lease": { type: "string" },
    jobs: { type: "string" },
    // Node flags for the operator process, e.g. "--max-old-space-size=256" to see its memory floor.
    "operator-node-options": { type: "string" },
    // The operator's log level (debug explains every pass; the log is kept, its path printed).
    "operator-log-level": { type: "string", default: "info" },
  },
});
const smoke = values.smoke ?? false;
const NODES = Number(values.nodes ?? (smoke ? 20 : 1000));
const LEASES = Number(values.leases ?? (smoke ? 40 : 2000));
const PODS_PER_LEASE = Number(values["pods-per-lease"] ?? 5);
const JOBS = Number(values.jobs ?? (smoke ? 2 : 20));
const TENANTS = smoke ? 4 : 20;
const GPUS_PER_LEASE = 4;
/** glibc malloc arenas of the operator process, as the environment sets them (default: glibc's). */
const mallocArenaMax = process.env.MALLOC_ARENA_MAX ?? "glibc default";
const NOTICE_S = 5;
const shippedNodeOptions =
  operatorContainer(shippedDeployment()).env?.find((e) => e.name === "NODE_OPTIONS")?.value ?? "";

const log = (line: string) => process.stdout.write(`[scale] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function inParallel<T>(items: T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

function procStats(pid: number): { rssMB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const ticks = Number(stat[11] ?? 0) + Number(stat[12] ?? 0);
  return { rssMB: Math.round(rss), cpuSeconds: ticks / 100 };
}

/** Status writes per second the API server accepts from 16 writers, each a status of `status`'s size. */
async function measureWriteCeiling(
  rest: KubeRest,
  probes: string[],
  status: unknown,
  windowMs: number,
): Promise<number> {
  let writes = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async (_, worker) => {
      let i = worker;
      while (performance.now() - start < windowMs) {
        const name = probes[i % probes.length] as string;
        i += 16;
        const path = `/apis/gpulease.io/v1alpha1/namespaces/ceiling/gpuleases/${name}/status`;
        await rest.patch(path, "merge", { status: { ...(status as object), message: `probe ${i}` } });
        writes++;
      }
    }),
  );
  return writes / ((performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  log(
    `${NODES} nodes × 8 GPUs, ${LEASES} leases of ${GPUS_PER_LEASE} GPUs, ${LEASES * PODS_PER_LEASE} tenant pods, ${JOBS} internal Jobs`,
  );
  const plane = await ControlPlane.start({ log });
  const results: Record<string, unknown> = { benchmark: "scale", smoke, machine: machine() };
  try {
    const rest = new KubeRest(await loadClusterAccess(plane.kubeconfigPath), "bench");
    const clients = kubeClients(plane.kubeconfigPath);
    await installCrds(clients);
    await installPolicies(plane.kubeconfigPath);

    // 1. Objects for the write ceiling, measured once the cluster is loaded (step 6).
    await rest.create(paths.namespaces(), { metadata: { name: "ceiling" } });
    const probes = Array.from({ length: smoke ? 20 : 200 }, (_, i) => `probe-${i}`);
    await inParallel(probes, 16, (name) =>
      rest.create(`/apis/gpulease.io/v1alpha1/namespaces/ceiling/gpuleases`, {
        apiVersion: "gpulease.io/v1alpha1",
        kind: "GpuLease",
        metadata: { name },
        spec: { gpus: 1 },
      }),
    );
    // The ceiling itself is measured later, on the loaded cluster (see measureWriteCeiling).

    // 2. Nodes, tenants, quotas.
    const nodeNames = Array.from({ length: NODES }, (_, i) => `gpu-${i}`);
    await inParallel(nodeNames, 16, (name) =>
      rest.create(paths.nodes(), gpuNodeManifest(name, { lendable: true })),
    );
    await waitForNodesReady(clients.core, nodeNames, 600_000);
    log("nodes Ready");
    const tenants = Array.from({ length: TENANTS }, (_, i) => `t${i}`);
    await inParallel(tenants, 8, async (t) => {
      await rest.create(paths.tenantQuotas(), {
        apiVersion: "gpulease.io/v1alpha1",
        kind: "TenantQuota",
        metadata: { name: t },
        spec: {
          limits: [{ maxGpus: NODES * 8 }],
          reclaimNotice: `${NOTICE_S}s`,
          pricing: { interruptiblePerGpuHour: "1.00" },
        },
      });
      await rest.create(paths.namespaces(), { metadata: { name: t, labels: { "gpulease.io/tenant": t } } });
    });
    await rest.create(paths.namespaces(), { metadata: { name: "training" } });
    for (const ns of [...tenants, "training"]) {
      for (let i = 0; i < 100; i++) {
        try {
          await rest.get(`/api/v1/namespaces/${ns}/serviceaccounts/default`);
          break;
        } catch {
          await sleep(100);
        }
      }
    }

    // 3. The operator, as a process, with its metrics endpoint: compiled, as the image runs it.
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
    const metricsPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "gpulease-bench-"));
    writeFileSync(
      join(dir, "config.yaml"),
      stringify({
        idlePeriod: "0s",
        metricsPort,
        logLevel: values["operator-log-level"],
        meteringInterval: "5m",
        evictionGrace: "10s",
      }),
    );
    const operator = spawn(
      process.execPath,
      [
        ...(values["operator-node-options"]?.split(" ").filter(Boolean) ?? []),
        join(ROOT, "dist/main.js"),
        "--kubeconfig",
        plane.kubeconfigPath,
        "--config",
        join(dir, "config.yaml"),
      ],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        // The memory flags the shipped Deployment gives the operator (config/manager).
        env: { ...process.env, NODE_OPTIONS: shippedNodeOptions },
      },
    );
    let operatorLog = "";
    operator.stdout?.on("data", (c: Buffer) => {
      operatorLog += c.toString();
      if (operatorLog.length > 50_000_000) operatorLog = operatorLog.slice(-10_000_000);
    });
    operator.stderr?.on("data", (c: Buffer) => {
      operatorLog += c.toString();
    });
    while (!operatorLog.includes('"msg":"operator started"')) await sleep(100);
    const pid = operator.pid as number;
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return text
        .split("\n")
        .filter((l) => l.startsWith(name))
        .reduce((s, l) => s + Number(l.split(" ").pop()), 0);
    };

    // Watch leases and pods to time what users see.
    const leaseInformer = new Informer("leases", rest, paths.gpuLeases(), { watchdogMs: 600_000 });
    const activeAt = new Map<string, number>();
    leaseInformer.onChange((_t, o) => {
      const status = (o.status ?? {}) as { phase?: string };
      const key = `${o.metadata?.namespace}/${o.metadata?.name}`;
      if (status.phase === "Active" && !activeAt.has(key)) activeAt.set(key, performance.now());
    });
    leaseInformer.start();
    const podInformer = new Informer("pods", rest, paths.pods(), { watchdogMs: 600_000 });
    const ungatedAt = new Map<string, number>();
    const terminatingAt = new Map<string, number>();
    // The bench's own clock for reclaims (never the operator's log): when it first sees each internal
    // pod Unschedulable, and when it first sees a victim pod carry its notice (annotation and
    // DisruptionTarget condition), with the node the victim runs on.
    const unschedulableSeenAt = new Map<string, number>();
    const noticeSeenAt = new Map<string, { at: number; node: string; lease: string }>();
    podInformer.onChange((type, o) => {
      const key = `${o.metadata?.namespace}/${o.metadata?.name}`;
      const spec = (o.spec ?? {}) as { schedulingGates?: unknown[]; nodeName?: string };
      const status = (o.status ?? {}) as {
        conditions?: { type: string; status: string; reason?: string }[];
      };
      const labels = (o.metadata?.labels ?? {}) as Record<string, string>;
      const annotations = (o.metadata?.annotations ?? {}) as Record<string, string>;
      if (labels["gpulease.io/lease"] && !ungatedAt.has(key) && (spec.schedulingGates ?? []).length === 0) {
        ungatedAt.set(key, performance.now());
      }
      if ((type === "delete" || o.metadata?.deletionTimestamp) && !terminatingAt.has(key))
        terminatingAt.set(key, Date.now());
      const conditions = status.conditions ?? [];
      if (
        o.metadata?.namespace === "training" &&
        !unschedulableSeenAt.has(key) &&
        conditions.some(
          (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
        )
      )
        unschedulableSeenAt.set(key, Date.now());
      if (
        labels["gpulease.io/lease"] &&
        !noticeSeenAt.has(key) &&
        annotations["gpulease.io/reclaim-deadline"] !== undefined &&
        conditions.some((c) => c.type === "DisruptionTarget" && c.status === "True")
      )
        noticeSeenAt.set(key, {
          at: Date.now(),
          node: spec.nodeName ?? "",
          lease: `${o.metadata?.namespace}/${labels["gpulease.io/lease"]}`,
        });
    });
    podInformer.start();
    await Promise.all([leaseInformer.waitForSync(), podInformer.waitForSync()]);

    // 4. Leases arrive.
    const cpuBefore = procStats(pid);
    const requestsBefore = await metric("rest_client_requests_total");
    const leaseNames = Array.from({ length: LEASES }, (_, i) => ({
      ns: tenants[i % TENANTS] as string,
      name: `lease-${i}`,
    }));
    const leaseStart = performance.now();
    await inParallel(leaseNames, 16, ({ ns, name }) =>
      rest.create(`/apis/gpulease.io/v1alpha1/namespaces/${ns}/gpuleases`, {
        apiVersion: "gpulease.io/v1alpha1",
        kind: "GpuLease",
        metadata: { name },
        spec: { gpus: GPUS_PER_LEASE, gpusPerNode: GPUS_PER_LEASE },
      }),
    );
    const createdIn = (performance.now() - leaseStart) / 1000;
    while (activeAt.size < LEASES) await sleep(50);
    const admissionSeconds = (Math.max(...activeAt.values()) - leaseStart) / 1000;
    const busy = procStats(pid);
    const requestsAfterAdmission = await metric("rest_client_requests_total");
    results.admission = {
      leases: LEASES,
      createdInSeconds: createdIn,
      allActiveAfterSeconds: admissionSeconds,
      leasesPerSecond: LEASES / admissionSeconds,
      apiRequests: requestsAfterAdmission - requestsBefore,
      apiRequestsPerLease: (requestsAfterAdmission - requestsBefore) / LEASES,
      operatorCpuSeconds: busy.cpuSeconds - cpuBefore.cpuSeconds,
      operatorRssMB: busy.rssMB,
    };
    log(`admission: ${LEASES} leases Active in ${admissionSeconds.toFixed(1)} s`);

    // 5. Tenant pods: PODS_PER_LEASE per lease, GPUs spread over them.
    const pods: { ns: string; name: string; lease: string; gpus: number }[] = [];
    for (const l of leaseNames) {
      for (let p = 0; p < PODS_PER_LEASE; p++)
        pods.push({ ns: l.ns, name: `${l.name}-p${p}`, lease: l.name, gpus: p < GPUS_PER_LEASE ? 1 : 0 });
    }
    const podStart = performance.now();
    await inParallel(pods, 16, (p) =>
      rest.create(`/api/v1/namespaces/${p.ns}/pods`, {
        metadata: { name: p.name, labels: { "gpulease.io/lease": p.lease, app: "tenant" } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "c",
              image: "registry.example/work:1",
              ...(p.gpus ? { resources: { limits: { "nvidia.com/gpu": String(p.gpus) } } } : {}),
            },
          ],
        },
      }),
    );
    while (ungatedAt.size < pods.length) await sleep(100);
    const bindSeconds = (Math.max(...ungatedAt.values()) - podStart) / 1000;
    results.binding = {
      pods: pods.length,
      allUngatedAfterSeconds: bindSeconds,
      podsPerSecond: pods.length / bindSeconds,
    };
    log(`binding: ${pods.length} pods ungated in ${bindSeconds.toFixed(1)} s`);

    // Let the scheduler and kwok finish: every tenant pod Running.
    const runningStart = performance.now();
    for (;;) {
      const running = podInformer
        .list()
        .filter(
          (o) =>
            ((o.status ?? {}) as { phase?: string }).phase === "Running" &&
            (o.metadata?.labels as Record<string, string> | undefined)?.app === "tenant",
        ).length;
      if (running >= pods.length || performance.now() - runningStart > 600_000) break;
      await sleep(500);
    }
    results.allRunningAfterSeconds = (performance.now() - podStart) / 1000;

    // The write ceiling, in the same run on the loaded cluster: the operator frozen (SIGSTOP) so it
    // neither competes nor answers, 16 writers as the operator uses, each write the full status of a
    // real Active lease.
    const realStatus = leaseInformer
      .list()
      .find((o) => (o.status as { phase?: string } | undefined)?.phase === "Active")?.status;
    process.kill(pid, "SIGSTOP");
    let ceiling: number;
    try {
      ceiling = await measureWriteCeiling(rest, probes, realStatus ?? {}, smoke ? 3000 : 10_000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    log(`write ceiling on the loaded cluster: ${ceiling.toFixed(0)} status writes/s`);
    results.writeCeilingPerSecond = Math.round(ceiling);
    const admission = results.admission as Record<string, number>;
    admission.requestsPerSecond = (admission.apiRequests ?? 0) / (admission.allActiveAfterSeconds ?? 1);
    admission.requestsShareOfCeiling = admission.requestsPerSecond / ceiling;

    // 6. Idle: nothing changes for a while. Events (one per bound pod) go out after the writes that
    // caused them; wait for that tail first, and report it.
    const drainStart = performance.now();
    while ((await metric("gpulease_events_backlog")) > 0 && performance.now() - drainStart < 600_000)
      await sleep(500);
    const eventTailSeconds = (performance.now() - drainStart) / 1000;
    results.eventTailSeconds = eventTailSeconds;
    log(`events written ${eventTailSeconds.toFixed(1)} s after the last pod ran`);
    const idleBefore = procStats(pid);
    const reconcilesBefore = await metric("controller_runtime_reconcile_total");
    const idleRequestsBefore = await metric("rest_client_requests_total");
    const idleWindow = smoke ? 5 : 30;
    await sleep(idleWindow * 1000);
    const idleAfter = procStats(pid);
    results.idle = {
      cpuShare: (idleAfter.cpuSeconds - idleBefore.cpuSeconds) / idleWindow,
      rssMB: idleAfter.rssMB,
      // What the operator still did while nothing changed: explains the idle CPU.
      reconcilesPerMinute:
        ((await metric("controller_runtime_reconcile_total")) - reconcilesBefore) * (60 / idleWindow),
      requestsPerMinute:
        ((await metric("rest_client_requests_total")) - idleRequestsBefore) * (60 / idleWindow),
      // V8's young generation is committed whole: with the old generation, most of the RSS.
      newSpaceMB: Math.round((await metric('nodejs_heap_space_size_total_bytes{space="new"}')) / 2 ** 20),
      oldSpaceMB: Math.round((await metric('nodejs_heap_space_size_total_bytes{space="old"}')) / 2 ** 20),
    };
    log(`idle: ${JSON.stringify(results.idle)}`);

    // 7. Internal Jobs arrive: reclaims.
    const jobStart = Date.now();
    const jobCreatedAt = new Map<string, number>();
    for (let j = 0; j < JOBS; j++) {
      jobCreatedAt.set(`train-${j}`, Date.now());
      await rest.create(`/apis/batch/v1/namespaces/training/jobs`, {
        metadata: { name: `train-${j}` },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { labels: { app: "internal" } },
            spec: {
              restartPolicy: "Never",
              terminationGracePeriodSeconds: 1,
              containers: [{ name: "t", image: "x", resources: { limits: { "nvidia.com/gpu": "8" } } }],
            },
          },
        },
      });
    }
    // Every Job's pod scheduled.
    const scheduled = new Map<string, number>();
    while (scheduled.size < JOBS && Date.now() - jobStart < 300_000) {
      for (const raw of podInformer.list()) {
        const o = raw as KubeObject & { spec?: { nodeName?: string } };
        if (o.metadata?.namespace === "training" && o.spec?.nodeName && !scheduled.has(o.metadata.name ?? ""))
          scheduled.set(o.metadata?.name ?? "", Date.now());
      }
      await sleep(100);
    }
    // Reaction by the bench's clock: for each Job, from its pod seen Unschedulable to the first notice
    // seen on a victim pod of the node the Job's pod then ran on (and from the Job's creation).
    const reactionObserved: number[] = [];
    const reactionFromJob: number[] = [];
    for (const raw of podInformer.list()) {
      const o = raw as KubeObject & { spec?: { nodeName?: string } };
      if (o.metadata?.namespace !== "training" || !o.spec?.nodeName) continue;
      const key = `training/${o.metadata?.name}`;
      const notices = [...noticeSeenAt.values()].filter((n) => n.node === o.spec?.nodeName).map((n) => n.at);
      if (notices.length === 0) continue;
      const first = Math.min(...notices);
      const seen = unschedulableSeenAt.get(key);
      if (seen !== undefined) reactionObserved.push(first - seen);
      const created = jobCreatedAt.get(
        ((o.metadata?.labels ?? {}) as Record<string, string>)["job-name"] ?? "",
      );
      if (created !== undefined) reactionFromJob.push(first - created);
    }
    // Eviction delay by the bench's clock: deletionTimestamp first seen minus the lease's deadline.
    const deadlines = new Map(
      leaseInformer
        .list()
        .map((o) => [
          `${o.metadata?.namespace}/${o.metadata?.name}`,
          Date.parse(((o.status ?? {}) as { reclaim?: { deadline?: string } }).reclaim?.deadline ?? ""),
        ]),
    );
    const evictionObserved: number[] = [];
    for (const [pod, notice] of noticeSeenAt) {
      const at = terminatingAt.get(pod);
      const deadline = deadlines.get(notice.lease);
      if (at !== undefined && deadline !== undefined && !Number.isNaN(deadline))
        evictionObserved.push(at - deadline);
    }
    const reclaiming = leaseInformer
      .list()
      .map((o) => (o.status ?? {}) as { reclaim?: { requestedAt?: string; deadline?: string } })
      .filter((s) => s.reclaim?.requestedAt);
    const reactions: number[] = [];
    const evictionDelays = [...operatorLog.matchAll(/"afterDeadlineMs":(-?\d+)/g)].map((m) => Number(m[1]));
    const reactionLog = [...operatorLog.matchAll(/"reactionMs":(\d+)/g)].map((m) => Number(m[1]));
    const reactionHistogram = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const reactionSum = Number(
      /gpulease_reclaim_reaction_seconds_sum (\S+)/.exec(reactionHistogram)?.[1] ?? Number.NaN,
    );
    const reactionCount = Number(
      /gpulease_reclaim_reaction_seconds_count (\S+)/.exec(reactionHistogram)?.[1] ?? 0,
    );
    const reactionBuckets = [
      ...reactionHistogram.matchAll(/gpulease_reclaim_reaction_seconds_bucket\{le="([^"]+)"\} (\S+)/g),
    ].map((m) => [m[1], Number(m[2])] as const);
    const p99Bucket = reactionBuckets.find(([, c]) => c >= 0.99 * reactionCount)?.[0];
    const returnSum = Number(
      /gpulease_gpu_return_seconds_sum (\S+)/.exec(reactionHistogram)?.[1] ?? Number.NaN,
    );
    const returnCount = Number(/gpulease_gpu_return_seconds_count (\S+)/.exec(reactionHistogram)?.[1] ?? 0);
    for (const s of reclaiming) {
      const requested = Date.parse(s.reclaim?.requestedAt ?? "");
      if (!Number.isNaN(requested)) reactions.push(requested - jobStart);
    }
    const stats = (values: number[]) => ({
      p50: percentile(values, 50),
      p99: percentile(values, 99),
      max: values.length > 0 ? Math.max(...values) : Number.NaN,
      min: values.length > 0 ? Math.min(...values) : Number.NaN,
      count: values.length,
    });
    results.reclaim = {
      jobs: JOBS,
      // Independent clock: these are the published figures.
      reactionObservedMs: stats(reactionObserved),
      noticeAfterJobCreatedObservedMs: stats(reactionFromJob),
      evictionAfterDeadlineObservedMs: stats(evictionObserved),
      jobsScheduled: scheduled.size,
      leasesReclaimed: reclaiming.length,
      reactionMeanMs: (reactionSum / Math.max(1, reactionCount)) * 1000,
      reactionMs: {
        p50: percentile(reactionLog, 50),
        p99: percentile(reactionLog, 99),
        max: Math.max(...reactionLog),
        count: reactionLog.length,
      },
      reactionP99BucketSeconds: p99Bucket,
      noticeAfterJobCreatedMs: { p50: percentile(reactions, 50), p99: percentile(reactions, 99) },
      evictionAfterDeadlineMs: {
        p50: percentile(evictionDelays, 50),
        p99: percentile(evictionDelays, 99),
        max: Math.max(...evictionDelays),
        min: Math.min(...evictionDelays),
        count: evictionDelays.length,
      },
      gpuReturnMeanSeconds: returnSum / Math.max(1, returnCount),
      jobsScheduledWithinSeconds: (Math.max(...scheduled.values()) - jobStart) / 1000,
    };
    const reconcileSum = Number(
      /controller_runtime_reconcile_time_seconds_sum\{controller="gpulease"\} (\S+)/.exec(
        reactionHistogram,
      )?.[1] ?? Number.NaN,
    );
    const reconcileCount = Number(
      /controller_runtime_reconcile_time_seconds_count\{controller="gpulease"\} (\S+)/.exec(
        reactionHistogram,
      )?.[1] ?? 0,
    );
    results.passes = { count: reconcileCount, meanMs: (reconcileSum / Math.max(1, reconcileCount)) * 1000 };
    // One sample of the final scrape, by its exact name and labels.
    const sample = (name: string, missing: number) => {
      const line = reactionHistogram.split("\n").find((l) => l.startsWith(`${name} `));
      return line === undefined ? missing : Number(line.slice(name.length + 1));
    };
    const gauge = (name: string) => Math.round(sample(name, Number.NaN) / 2 ** 20);
    results.heapUsedMB = gauge("nodejs_heap_size_used_bytes");
    results.heapTotalMB = gauge("nodejs_heap_size_total_bytes");
    results.externalMB = gauge("nodejs_external_memory_bytes");
    // What memory settings cost in collection time, over the whole run (prom-client's GC histogram).
    const gcSum = (kind: string) => sample(`nodejs_gc_duration_seconds_sum{kind="${kind}"}`, 0);
    results.gcSeconds = { minor: gcSum("minor"), major: gcSum("major"), incremental: gcSum("incremental") };
    results.operatorNodeOptions = values["operator-node-options"] ?? "";
    results.shippedNodeOptions = shippedNodeOptions;
    results.mallocArenaMax = mallocArenaMax;
    const final = procStats(pid);
    results.operator = { rssMB: final.rssMB, cpuSecondsTotal: final.cpuSeconds };
    leaseInformer.stop();
    podInformer.stop();
    operator.kill("SIGTERM");
    await new Promise((r) => operator.on("exit", r));
    writeFileSync(join(dir, "operator.log"), operatorLog);
    log(`operator log: ${join(dir, "operator.log")}`);
  } finally {
    await plane.stop();
  }
  const a = results.admission as Record<string, number>;
  const b = results.binding as Record<string, number>;
  const i = results.idle as Record<string, number>;
  const r = results.reclaim as Record<string, unknown> & {
    reactionObservedMs: Record<string, number>;
    noticeAfterJobCreatedObservedMs: Record<string, number>;
    evictionAfterDeadlineObservedMs: Record<string, number>;
  };
  printTable(
    `Scale: ${NODES} nodes × 8 GPUs, ${LEASES} leases, ${LEASES * PODS_PER_LEASE} tenant pods, ${JOBS} internal Jobs`,
    [
      [
        "API server write ceiling on the loaded cluster (status writes/s, 16 writers, real status size)",
        results.writeCeilingPerSecond as number,
      ],
      ["admission (leases/s reaching Active)", a.leasesPerSecond?.toFixed(1) ?? ""],
      [
        "  API requests/s while admitting, share of the ceiling",
        `${a.requestsPerSecond?.toFixed(0)} (${((a.requestsShareOfCeiling ?? 0) * 100).toFixed(0)} %)`,
      ],
      ["API requests per lease (admission)", a.apiRequestsPerLease?.toFixed(2) ?? ""],
      ["binding (pods/s ungated)", b.podsPerSecond?.toFixed(1) ?? ""],
      [
        "reclaim reaction, bench clock: Unschedulable seen → notice seen on a victim, p50 / p99 / max (ms)",
        `${r.reactionObservedMs.p50} / ${r.reactionObservedMs.p99} / ${r.reactionObservedMs.max} (${r.reactionObservedMs.count} Jobs)`,
      ],
      [
        "  from the Job's creation, p50 / p99 (ms)",
        `${r.noticeAfterJobCreatedObservedMs.p50} / ${r.noticeAfterJobCreatedObservedMs.p99}`,
      ],
      [
        "  the operator's own log (for comparison), p50 / p99 (ms)",
        `${(r.reactionMs as Record<string, number>).p50} / ${(r.reactionMs as Record<string, number>).p99}`,
      ],
      [
        "eviction − deadline, bench clock (deletion seen), p50 / p99 / max / min (ms)",
        `${r.evictionAfterDeadlineObservedMs.p50} / ${r.evictionAfterDeadlineObservedMs.p99} / ${r.evictionAfterDeadlineObservedMs.max} / ${r.evictionAfterDeadlineObservedMs.min}`,
      ],
      ["GPU return latency, mean (s)", (r.gpuReturnMeanSeconds as number)?.toFixed(1)],
      [
        "internal Jobs scheduled / within (s)",
        `${r.jobsScheduled} / ${(r.jobsScheduledWithinSeconds as number)?.toFixed(1)}`,
      ],
      [
        "operator plans run / mean pass (ms)",
        `${(results.passes as Record<string, number>).count} / ${(results.passes as Record<string, number>).meanMs?.toFixed(1)}`,
      ],
      [
        "operator RSS busy / idle (MB); V8 heap used / total, external at the end (MB)",
        `${a.operatorRssMB} / ${i.rssMB}; ${results.heapUsedMB} / ${results.heapTotalMB}, ${results.externalMB}`,
      ],
      [
        "idle V8 young / old generation committed (MB); GC time minor / major / incremental (s)",
        `${i.newSpaceMB} / ${i.oldSpaceMB}; ${Object.values(results.gcSeconds as Record<string, number>)
          .map((s) => s.toFixed(1))
          .join(" / ")}`,
      ],
      [
        "operator CPU while admitting (s) / idle (cores)",
        `${a.operatorCpuSeconds?.toFixed(1)} / ${i.cpuShare?.toFixed(3)}`,
      ],
      [
        "idle: plans / API requests per minute; Event tail (s)",
        `${i.reconcilesPerMinute} / ${i.requestsPerMinute}; ${(results.eventTailSeconds as number)?.toFixed(1)}`,
      ],
    ],
  );
  writeFileSync(
    resolve(ROOT, `bench/results/scale-${smoke ? "smoke" : NODES}.json`),
    `${JSON.stringify(results, null, 2)}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`scale benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

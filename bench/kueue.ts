/**
 * Side by side on one local control plane with real Kueue (v0.17.0): lending idle GPUs with Kueue alone
 * (an external ClusterQueue borrowing in a cohort, taken back by reclaimWithinCohort preemption) and with
 * gpulease (the external tenants on GpuLeases, the internal workload through Kueue with the check
 * gpulease.io/capacity). Same pool shape, same internal Job, a PodDisruptionBudget over the external
 * pods in both. Prints a table and writes bench/results/kueue.json.
 *
 *   tsx bench/kueue.ts [--notice 10]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { clientNodeAccess } from "../src/kube/cluster-access.ts";
import { Informer } from "../src/kube/informer.ts";
import { type KubeObject, KubeRest } from "../src/kube/rest.ts";
import { ControlPlane } from "../test/harness/controlplane.ts";
import { KueueProcess } from "../test/harness/kueue.ts";
import { installCrds, installPolicies } from "../test/support/crds.ts";
import {
  addPool,
  createInternalJob,
  createLease,
  createLeasedPod,
  createTenant,
  inParallel,
} from "../test/support/gpulease.ts";
import { createTestNamespace, eventually, kubeClients } from "../test/support/kube.ts";
import { machine, printTable } from "./machine.ts";

const ROOT = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: { notice: { type: "string", default: "10" }, scale: { type: "string", default: "200" } },
});
const NOTICE_S = Number(values.notice);
/** Nodes (× 8 GPUs) and 8-GPU workloads or leases of the admission throughput runs. */
const SCALE = Number(values.scale);
const NODES = 4;
const GPUS = 8;
/** The internal Job: 2 pods of 8 GPUs, so 2 of the 4 external workloads must go. */
const JOB_PODS = 2;
const log = (line: string) => process.stdout.write(`[kueue-bench] ${line}\n`);

export interface Outcome {
  setup: string;
  noticeSeconds: number;
  firstEvictionSeconds: number;
  podsRunningSeconds: number;
  gpusNeeded: number;
  gpusEvicted: number;
  unnecessaryGpusEvicted: number;
  /** Pods ended through the Eviction API (which checks PDBs), refusals seen, and plain deletes. */
  evictionApi: number;
  evictionsRefusedByPdb: number;
  deletedDirectly: number;
}

const plane = await ControlPlane.start({ log: (l) => log(l) });
const clients = kubeClients(plane.kubeconfigPath);
await installCrds(clients);
await installPolicies(plane.kubeconfigPath);
const kueue = await KueueProcess.start({
  dir: plane.dir,
  kubeconfig: plane.kubeconfigPath,
  pki: plane.pki,
  frameworks: ["batch/job", "pod"],
  // The client limits Kueue's own manifests ship (config/components/manager); its built-in default is 20/30.
  config: { clientConnection: { qps: 50, burst: 100 } },
});
const apply = (...objects: object[]) =>
  execFileSync("kubectl", ["--kubeconfig", plane.kubeconfigPath, "apply", "--server-side", "-f", "-"], {
    input: objects.map((o) => stringify(o)).join("---\n"),
    stdio: "pipe",
  });

/** When each pod is first seen terminating, and first seen on a node, across all namespaces. */
const terminating = new Map<string, number>();
const placed = new Map<string, number>();
const pods = new Informer("pods", new KubeRest(clientNodeAccess(clients.config)), "/api/v1/pods", {
  watchdogMs: 60_000,
});
pods.onChange((type, o: KubeObject) => {
  const key = `${o.metadata?.namespace}/${o.metadata?.name}`;
  const now = Date.now();
  if (!terminating.has(key) && (type === "delete" || o.metadata?.deletionTimestamp))
    terminating.set(key, now);
  if (!placed.has(key) && (o.spec as { nodeName?: string } | undefined)?.nodeName) placed.set(key, now);
});
pods.start();
await pods.waitForSync();

function queueObjects(name: string, nodeLabel: Record<string, string>, cq: Record<string, unknown>) {
  return [
    {
      apiVersion: "kueue.x-k8s.io/v1beta2",
      kind: "ResourceFlavor",
      metadata: { name },
      spec: { nodeLabels: nodeLabel },
    },
    { apiVersion: "kueue.x-k8s.io/v1beta2", kind: "ClusterQueue", metadata: { name }, spec: cq },
  ];
}
const gpuGroup = (flavor: string, nominal: number) => ({
  coveredResources: ["nvidia.com/gpu"],
  flavors: [{ name: flavor, resources: [{ name: "nvidia.com/gpu", nominalQuota: nominal }] }],
});
const localQueue = (name: string, namespace: string, clusterQueue: string) => ({
  apiVersion: "kueue.x-k8s.io/v1beta2",
  kind: "LocalQueue",
  metadata: { name, namespace },
  spec: { clusterQueue },
});
/**
 * One PDB over the external pods: at most one of the four disrupted (minAvailable: an integer, as bare
 * pods have no controller to count from). The internal Job needs two, so any evictor must break it or
 * wait: the question is how.
 */
const pdb = (namespace: string, app: string) => ({
  apiVersion: "policy/v1",
  kind: "PodDisruptionBudget",
  metadata: { name: "external", namespace },
  spec: { minAvailable: NODES - 1, selector: { matchLabels: { app } } },
});

/** How the external pods ended, from the API server's audit log: Eviction API calls and plain deletes. */
function endings(namespace: string, since: number) {
  const text = readFileSync(join(plane.dir, "logs", "audit.log"), "utf8");
  const evicted = new Set<string>();
  const deleted = new Set<string>();
  let refused = 0;
  for (const line of text.split("\n")) {
    if (!line.includes(`"namespace":"${namespace}"`)) continue;
    const e = JSON.parse(line) as {
      verb: string;
      userAgent?: string;
      objectRef?: { resource?: string; subresource?: string; name?: string };
      responseStatus?: { code?: number };
      stageTimestamp: string;
    };
    // kwok, standing in for the kubelet, deletes a terminating pod for good: not an evictor's act.
    if (e.userAgent?.includes("kwok")) continue;
    if (e.objectRef?.resource !== "pods" || Date.parse(e.stageTimestamp) < since) continue;
    const code = e.responseStatus?.code ?? 0;
    const pod = e.objectRef.name ?? "";
    if (e.verb === "create" && e.objectRef.subresource === "eviction") {
      if (code < 300) evicted.add(pod);
      else if (code === 429) refused++;
    } else if (e.verb === "delete" && !e.objectRef.subresource && code < 300 && !evicted.has(pod))
      deleted.add(pod);
  }
  return { evicted: evicted.size, refused, deleted: deleted.size };
}

/** Waits for every pod of the namespace with `app` to be Running. */
async function allRunning(namespace: string, app: string, count: number) {
  await eventually(
    `${count} pods of ${app} Running`,
    async () => {
      const list = await clients.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` });
      return list.items.filter((p) => p.status?.phase === "Running").length === count ? true : undefined;
    },
    120_000,
    200,
  );
}

/** The outcome of one run, from the pods' terminations and placements after `t0`. */
async function measure(
  setup: string,
  external: string,
  internal: string,
  job: string,
  t0: number,
  noticeSeconds: number,
): Promise<Outcome> {
  const jobPods = () => [...placed].filter(([k]) => k.startsWith(`${internal}/${job}-`));
  await eventually(
    "the internal Job's pods on nodes",
    async () => (jobPods().length >= JOB_PODS ? true : undefined),
    180_000,
    100,
  );
  // Anything more Kueue or gpulease evicts comes within a few seconds of the pods starting.
  await new Promise((r) => setTimeout(r, 3000));
  const evicted = [...terminating].filter(([k, at]) => k.startsWith(`${external}/`) && at >= t0);
  const times = evicted.map(([, at]) => at).sort((a, b) => a - b);
  const how = endings(external, t0);
  const gpusEvicted = evicted.length * GPUS;
  return {
    setup,
    noticeSeconds,
    firstEvictionSeconds: ((times[0] ?? Number.NaN) - t0) / 1000,
    podsRunningSeconds: (Math.max(...jobPods().map(([, at]) => at)) - t0) / 1000,
    gpusNeeded: JOB_PODS * GPUS,
    gpusEvicted,
    unnecessaryGpusEvicted: Math.max(0, gpusEvicted - JOB_PODS * GPUS),
    evictionApi: how.evicted,
    evictionsRefusedByPdb: how.refused,
    deletedDirectly: how.deleted,
  };
}

// --- 1. Kueue alone: an external ClusterQueue borrows the idle GPUs; reclaimWithinCohort takes them back.
async function kueueAlone(): Promise<Outcome> {
  await addPool(clients, "kueue-alone", NODES, { labels: { bench: "kueue-alone" } });
  const ext = await createTestNamespace(clients, "ext-kueue");
  const int = await createTestNamespace(clients, "int-kueue");
  apply(
    ...queueObjects(
      "internal-a",
      { bench: "kueue-alone" },
      {
        namespaceSelector: {},
        cohortName: "lend-a",
        resourceGroups: [gpuGroup("internal-a", NODES * GPUS)],
        preemption: { reclaimWithinCohort: "Any", withinClusterQueue: "Never" },
      },
    ),
    {
      apiVersion: "kueue.x-k8s.io/v1beta2",
      kind: "ClusterQueue",
      metadata: { name: "external-a" },
      spec: { namespaceSelector: {}, cohortName: "lend-a", resourceGroups: [gpuGroup("internal-a", 0)] },
    },
    localQueue("internal", int, "internal-a"),
    localQueue("external", ext, "external-a"),
    pdb(ext, "ext"),
  );
  for (let i = 0; i < NODES; i++) {
    await clients.core.createNamespacedPod({
      namespace: ext,
      body: {
        metadata: { name: `ext-${i}`, labels: { app: "ext", "kueue.x-k8s.io/queue-name": "external" } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "w",
              image: "registry.example/ext:1",
              resources: { limits: { "nvidia.com/gpu": String(GPUS) } },
            },
          ],
        },
      },
    });
  }
  await allRunning(ext, "ext", NODES);
  log("Kueue alone: 4 external pods run on borrowed quota");
  const t0 = Date.now();
  await createInternalJob(clients, int, "train", JOB_PODS, GPUS, {}, { queue: "internal" });
  return measure("Kueue alone (cohort borrowing, reclaimWithinCohort)", ext, int, "train", t0, 0);
}

// --- 2. gpulease: the external tenants on GpuLeases; the internal Job through Kueue with the check.
async function withGpulease(): Promise<Outcome> {
  const pool = "bench-gpulease";
  await addPool(clients, pool, NODES, { labels: { bench: "gpulease" }, product: "bench-gpulease" });
  const operator = await startOperator(pool);
  try {
    const { namespaces } = await createTenant(clients, { reclaimNotice: `${NOTICE_S}s` });
    const [ext] = namespaces as [string];
    const int = await createTestNamespace(clients, "int-gpulease");
    apply(pdb(ext, "ext"));
    for (let i = 0; i < NODES; i++) {
      await createLease(clients, ext, `lease-${i}`, {
        gpus: GPUS,
        gpusPerNode: GPUS,
        gpuModel: "bench-gpulease",
      });
    }
    for (let i = 0; i < NODES; i++)
      await createLeasedPod(clients, ext, `ext-${i}`, `lease-${i}`, GPUS, { app: "ext" });
    await allRunning(ext, "ext", NODES);
    apply(
      {
        apiVersion: "kueue.x-k8s.io/v1beta2",
        kind: "AdmissionCheck",
        metadata: { name: "gpulease-capacity" },
        spec: { controllerName: "gpulease.io/capacity" },
      },
      ...queueObjects(
        "internal-b",
        { bench: "gpulease" },
        {
          namespaceSelector: {},
          resourceGroups: [gpuGroup("internal-b", NODES * GPUS)],
          admissionChecksStrategy: { admissionChecks: [{ name: "gpulease-capacity" }] },
        },
      ),
      localQueue("internal", int, "internal-b"),
    );
    log("gpulease: 4 external pods run on 4 leases");
    await new Promise((r) => setTimeout(r, 2000)); // the check Active, the queue ready
    const t0 = Date.now();
    await createInternalJob(clients, int, "train", JOB_PODS, GPUS, {}, { queue: "internal" });
    return await measure(
      "gpulease (GpuLeases, AdmissionCheck gpulease.io/capacity)",
      ext,
      int,
      "train",
      t0,
      NOTICE_S,
    );
  } finally {
    operator.kill("SIGTERM");
  }
}

/** The operator as a process lending the pool `pool`; resolves once its work loop started. */
async function startOperator(pool: string) {
  const dir = mkdtempSync(join(tmpdir(), "gpulease-kueue-bench-"));
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    stringify({
      lendableNodeSelector: { "gpulease.io/pool": pool },
      idlePeriod: "0s",
      metricsPort: 0,
      evictionGrace: "10s",
      logLevel: "info",
    }),
  );
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "src/main.ts"), "--kubeconfig", plane.kubeconfigPath, "--config", config],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((done, fail) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('"msg":"operator started"')) done();
    });
    child.on("exit", (code) => fail(new Error(`operator exited with ${code}`)));
  });
  child.stdout?.resume();
  return child;
}

export interface Throughput {
  what: string;
  count: number;
  seconds: number;
  perSecond: number;
}

/** Kueue admitting SCALE pods of 8 GPUs, all queued while the ClusterQueue was on hold. */
async function kueueThroughput(): Promise<Throughput> {
  await addPool(clients, "tp-kueue", SCALE, { labels: { bench: "tp-kueue" }, prefix: "tpk" });
  const ns = await createTestNamespace(clients, "tp-kueue");
  const cq = (stopPolicy: string) => ({
    apiVersion: "kueue.x-k8s.io/v1beta2",
    kind: "ClusterQueue",
    metadata: { name: "tp-kueue" },
    spec: { namespaceSelector: {}, stopPolicy, resourceGroups: [gpuGroup("tp-kueue", SCALE * GPUS)] },
  });
  apply(
    ...queueObjects("tp-kueue", { bench: "tp-kueue" }, cq("Hold").spec),
    localQueue("tp", ns, "tp-kueue"),
  );
  const indexes = Array.from({ length: SCALE }, (_, i) => i);
  await inParallel(indexes, 8, (i) =>
    clients.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: `w-${i}`, labels: { app: "tp", "kueue.x-k8s.io/queue-name": "tp" } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "w",
              image: "registry.example/w:1",
              resources: { limits: { "nvidia.com/gpu": String(GPUS) } },
            },
          ],
        },
      },
    }),
  );
  const workloads = async () =>
    (
      (await clients.custom.listNamespacedCustomObject({
        group: "kueue.x-k8s.io",
        version: "v1beta2",
        namespace: ns,
        plural: "workloads",
      })) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] }
    ).items;
  await eventually(
    "every Workload created",
    async () => ((await workloads()).length === SCALE ? true : undefined),
    300_000,
    500,
  );
  const t0 = Date.now();
  apply(cq("None"));
  await eventually(
    "every Workload admitted",
    async () => {
      const admitted = (await workloads()).filter((w) =>
        w.status?.conditions?.some((c) => c.type === "Admitted" && c.status === "True"),
      ).length;
      return admitted === SCALE ? true : undefined;
    },
    300_000,
    100,
  );
  const seconds = (Date.now() - t0) / 1000;
  return { what: "Kueue: Workloads admitted", count: SCALE, seconds, perSecond: SCALE / seconds };
}

/** gpulease admitting SCALE leases of 8 GPUs, all created before the operator started. */
async function gpuleaseThroughput(): Promise<Throughput> {
  const pool = "tp-gpulease";
  await addPool(clients, pool, SCALE, {
    labels: { bench: "tp-gpulease" },
    product: "tp-gpulease",
    prefix: "tpg",
  });
  const { namespaces } = await createTenant(clients, {
    limits: [{ maxGpus: SCALE * GPUS, maxReservedGpus: 16 }],
  });
  const [ns] = namespaces as [string];
  const indexes = Array.from({ length: SCALE }, (_, i) => i);
  await inParallel(indexes, 8, (i) =>
    createLease(clients, ns, `l-${i}`, { gpus: GPUS, gpusPerNode: GPUS, gpuModel: "tp-gpulease" }),
  );
  const operator = await startOperator(pool);
  const t0 = Date.now();
  try {
    await eventually(
      "every lease Active",
      async () => {
        const list = (await clients.custom.listNamespacedCustomObject({
          group: "gpulease.io",
          version: "v1alpha1",
          namespace: ns,
          plural: "gpuleases",
        })) as { items: { status?: { phase?: string } }[] };
        return list.items.filter((l) => l.status?.phase === "Active").length === SCALE ? true : undefined;
      },
      300_000,
      100,
    );
  } finally {
    operator.kill("SIGTERM");
  }
  const seconds = (Date.now() - t0) / 1000;
  return { what: "gpulease: GpuLeases admitted", count: SCALE, seconds, perSecond: SCALE / seconds };
}

const results = [await kueueAlone(), await withGpulease()];
log(`admission throughput at ${SCALE} nodes`);
const throughput = [await kueueThroughput(), await gpuleaseThroughput()];
pods.stop();
await kueue.stop();
await plane.stop();

printTable(
  `Admission throughput: ${SCALE} nodes × 8 GPUs, ${SCALE} workloads or leases of 8 GPUs each`,
  throughput.map((t) => [t.what, `${t.perSecond.toFixed(1)}/s (${t.count} in ${t.seconds.toFixed(2)} s)`]),
);
for (const r of results) {
  printTable(r.setup, [
    ["notice given to the evicted tenant (s)", r.noticeSeconds],
    ["internal Job created → first eviction (s)", r.firstEvictionSeconds.toFixed(2)],
    ["internal Job created → all its pods on nodes (s)", r.podsRunningSeconds.toFixed(2)],
    ["GPUs needed / evicted", `${r.gpusNeeded} / ${r.gpusEvicted}`],
    ["GPUs evicted beyond the need", r.unnecessaryGpusEvicted],
    ["pods ended via the Eviction API (PDB checked)", r.evictionApi],
    ["evictions refused by the PDB (429)", r.evictionsRefusedByPdb],
    ["pods deleted directly (PDB not consulted)", r.deletedDirectly],
  ]);
}
writeFileSync(
  join(ROOT, "bench/results/kueue.json"),
  `${JSON.stringify({ machine: machine(), at: new Date().toISOString(), nodes: NODES, gpusPerNode: GPUS, results, scale: SCALE, throughput }, null, 2)}\n`,
);
log("wrote bench/results/kueue.json");
process.exit(0);

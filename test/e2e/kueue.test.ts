/**
 * gpulease with real Kueue (v0.17.0): its own control plane (Kueue's CRDs and webhooks must not reach
 * the other e2e files), Kueue started on it, and the operator serving the AdmissionCheck
 * gpulease.io/capacity.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { ControlPlane } from "../harness/controlplane.ts";
import { KueueProcess } from "../harness/kueue.ts";
import { installCrds, installPolicies } from "../support/crds.ts";
import {
  addPool,
  createInternalJob,
  createLease,
  createLeasedPod,
  createTenant,
  leaseWhere,
  phaseIs,
  podsOf,
  reclaimNoticed,
  uniqueId,
} from "../support/gpulease.ts";
import {
  createTestNamespace,
  eventually,
  type KubeClients,
  kubeClients,
  watchTerminations,
} from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";

const KUEUE = { group: "kueue.x-k8s.io", version: "v1beta2" };
const CHECK = "gpulease-capacity";

let plane: ControlPlane;
let clients: KubeClients;
let kueue: KueueProcess | undefined;
let operator: OperatorProcess | undefined;
const pool = uniqueId("pool-kueue");
const operatorConfig = { lendableNodeSelector: { "gpulease.io/pool": pool }, evictionGrace: "3s" };

beforeAll(async () => {
  plane = await ControlPlane.start({ keepDir: process.env.GPULEASE_KEEP_CLUSTER === "1" });
  console.log(`[kueue e2e] own control plane in ${plane.dir}`);
  clients = kubeClients(plane.kubeconfigPath);
  await installCrds(clients);
  await installPolicies(plane.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  const code = await operator?.stop();
  await kueue?.stop();
  await plane?.stop();
  expect(code ?? 0).toBe(0);
});

function apply(...objects: Record<string, unknown>[]): void {
  execFileSync(
    "kubectl",
    ["--kubeconfig", plane.kubeconfigPath, "apply", "--server-side", "--force-conflicts", "-f", "-"],
    { input: objects.map((o) => stringify(o)).join("---\n"), stdio: "pipe" },
  );
}

interface CheckEntry {
  name: string;
  state: string;
  message: string;
}
interface Workload {
  metadata: { name: string };
  status?: {
    admissionChecks?: CheckEntry[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

async function workloadsIn(namespace: string): Promise<Workload[]> {
  const list = (await clients.custom.listNamespacedCustomObject({
    ...KUEUE,
    namespace,
    plural: "workloads",
  })) as { items: Workload[] };
  return list.items;
}

/** The Workload of a Job (Kueue names it after the Job), once it exists. */
function workloadOf(namespace: string, job: string, where: (w: Workload) => boolean, timeoutMs = 30_000) {
  return eventually(
    `Workload of Job ${job} ${where.toString().slice(0, 80)}`,
    async () => (await workloadsIn(namespace)).find((w) => w.metadata.name.includes(job) && where(w)),
    timeoutMs,
    100,
  );
}

const checkOf = (w: Workload) => w.status?.admissionChecks?.find((c) => c.name === CHECK);
const conditionTrue = (w: Workload, type: string) =>
  w.status?.conditions?.some((c) => c.type === type && c.status === "True") ?? false;

/** A ResourceFlavor for the nodes labelled `selector`, a ClusterQueue over it, and a LocalQueue. */
function queues(name: string, namespace: string, selector: Record<string, string>, check: boolean) {
  apply(
    {
      apiVersion: "kueue.x-k8s.io/v1beta2",
      kind: "ResourceFlavor",
      metadata: { name },
      spec: { nodeLabels: selector },
    },
    {
      apiVersion: "kueue.x-k8s.io/v1beta2",
      kind: "ClusterQueue",
      metadata: { name },
      spec: {
        namespaceSelector: {},
        resourceGroups: [
          {
            coveredResources: ["nvidia.com/gpu"],
            flavors: [{ name, resources: [{ name: "nvidia.com/gpu", nominalQuota: 64 }] }],
          },
        ],
        ...(check ? { admissionChecksStrategy: { admissionChecks: [{ name: CHECK }] } } : {}),
      },
    },
    {
      apiVersion: "kueue.x-k8s.io/v1beta2",
      kind: "LocalQueue",
      metadata: { name, namespace },
      spec: { clusterQueue: name },
    },
  );
}

describe("gpulease with Kueue", () => {
  it("without Kueue's CRDs the operator starts as always, with no AdmissionCheck controller", async () => {
    const plain = new OperatorProcess({ kubeconfig: plane.kubeconfigPath, config: operatorConfig });
    await plain.start();
    const stopped = await plain.stop();
    expect(plain.logs()).toContain("Kueue is not installed: no AdmissionCheck controller");
    // Its caches, as logged at start, hold no Kueue object.
    expect(plain.logs()).toMatch(/"caches":\{"nodes"/);
    expect(plain.logs()).not.toMatch(/"caches":\{[^}]*"workloads"/);
    expect(stopped).toBe(0);
  });

  it("Kueue on the local control plane admits a Job of a LocalQueue, and it runs on kwok nodes", async () => {
    kueue = await KueueProcess.start({
      dir: plane.dir,
      kubeconfig: plane.kubeconfigPath,
      pki: plane.pki,
    });
    operator = new OperatorProcess({ kubeconfig: plane.kubeconfigPath, config: operatorConfig });
    await operator.start();
    expect(operator.logs()).toContain("Kueue is installed: serving AdmissionChecks");
    // Its caches hold Kueue's objects (the start line may reach the log file a moment later).
    await operator.waitForLog('"workloads":0,"admissionChecks":0,"resourceFlavors":0}');
    const group = uniqueId("plain");
    await addPool(clients, `${pool}-internal`, 1, { labels: { "test-group": group } });
    const ns = await createTestNamespace(clients, "kueue-plain");
    queues(group, ns, { "test-group": group }, false);
    await createInternalJob(clients, ns, "hello", 1, 8, {}, { queue: group });
    // The webhook suspended it; Kueue admitted it (no check) and unsuspended it.
    const admitted = await workloadOf(ns, "hello", (w) => conditionTrue(w, "Admitted"));
    expect(checkOf(admitted)).toBeUndefined();
    // kwok runs a Job's pod and completes it at once: scheduled on a node is what shows it ran.
    const ran = await eventually("the Job's pod on a node", async () =>
      (await podsOf(clients, ns, "app=hello")).find((p) => p.spec?.nodeName),
    );
    expect(ran.spec?.nodeSelector).toEqual({ "test-group": group });
  });

  it("the sample of config/samples/kueue is accepted by Kueue's API and webhooks (server-side dry run)", async () => {
    const ns = await createTestNamespace(clients, "kueue-sample");
    const docs = parseAllDocuments(
      readFileSync(new URL("../../config/samples/kueue/kueue-gpulease.yaml", import.meta.url), "utf8"),
    ).map((d) => d.toJS() as { kind: string; metadata: { namespace?: string } });
    expect(docs.map((d) => d.kind)).toEqual([
      "AdmissionCheck",
      "ResourceFlavor",
      "ClusterQueue",
      "LocalQueue",
      "Job",
    ]);
    const input = docs
      .map((d) => stringify(d.metadata.namespace ? { ...d, metadata: { ...d.metadata, namespace: ns } } : d))
      .join("---\n");
    execFileSync(
      "kubectl",
      ["--kubeconfig", plane.kubeconfigPath, "apply", "--dry-run=server", "--validate=strict", "-f", "-"],
      { input, stdio: "pipe" },
    );
  });

  it("reclaims lent GPUs for a Workload waiting on the check, with the full notice; then it runs", async () => {
    apply({
      apiVersion: "kueue.x-k8s.io/v1beta2",
      kind: "AdmissionCheck",
      metadata: { name: CHECK },
      spec: { controllerName: "gpulease.io/capacity" },
    });
    const group = uniqueId("grp");
    const nodes = await addPool(clients, pool, 2, { labels: { "test-group": group }, product: group });
    const { namespaces } = await createTenant(clients, { reclaimNotice: "4s" });
    const [tenantNs] = namespaces as [string];
    await createLease(clients, tenantNs, "work", { gpus: 16, gpusPerNode: 8, gpuModel: group });
    await leaseWhere(clients, tenantNs, "work", "Active", phaseIs("Active"));
    for (let i = 0; i < 2; i++) await createLeasedPod(clients, tenantNs, `worker-${i}`, "work", 8);
    await eventually("tenant pods Running", async () => {
      const pods = await podsOf(clients, tenantNs, "gpulease.io/lease=work");
      return pods.length === 2 && pods.every((p) => p.status?.phase === "Running") ? true : undefined;
    });

    const terminations = watchTerminations(clients, tenantNs);
    await terminations.synced;
    const ns = await createTestNamespace(clients, "kueue-train");
    queues(group, ns, { "test-group": group }, true);
    // The operator marks its AdmissionCheck Active, without which Kueue admits nothing through it.
    await eventually("AdmissionCheck Active", async () => {
      const check = (await clients.custom.getClusterCustomObject({
        ...KUEUE,
        plural: "admissionchecks",
        name: CHECK,
      })) as Workload;
      return conditionTrue(check, "Active") ? true : undefined;
    });
    await createInternalJob(clients, ns, "train", 2, 8, {}, { queue: group });

    const noticed = await reclaimNoticed(clients, tenantNs, "work");
    const deadline = noticed.status?.reclaim?.deadline ?? "";
    const requestedAt = noticed.status?.reclaim?.requestedAt ?? "";
    expect(Date.parse(deadline) - Date.parse(requestedAt)).toBe(4000); // the tenant's full notice
    const waiting = await workloadOf(
      ns,
      "train",
      (w) => checkOf(w)?.message.startsWith("reclaiming") ?? false,
    );
    expect(checkOf(waiting)).toMatchObject({
      state: "Pending",
      message: `reclaiming 16 GPUs from 1 lease(s); capacity back at ${deadline}`,
    });
    expect(conditionTrue(waiting, "QuotaReserved")).toBe(true);
    expect(conditionTrue(waiting, "Admitted")).toBe(false);
    // No pod of the Job exists during the notice: nothing sits Pending, nothing for waitForPodsReady.
    expect(await podsOf(clients, ns, "app=train")).toEqual([]);
    expect(
      (await podsOf(clients, tenantNs, "gpulease.io/lease=work")).every(
        (p) => !p.metadata?.deletionTimestamp,
      ),
    ).toBe(true);
    expect(Date.now()).toBeLessThan(Date.parse(deadline));

    const ready = await workloadOf(ns, "train", (w) => checkOf(w)?.state === "Ready", 30_000);
    expect(conditionTrue(ready, "Admitted") || checkOf(ready)?.state === "Ready").toBe(true);
    const running = await eventually("both Job pods on the returned nodes", async () => {
      const pods = await podsOf(clients, ns, "app=train");
      return pods.length === 2 && pods.every((p) => p.spec?.nodeName) ? pods : undefined;
    });
    // On the returned nodes (kwok completes a Job's pod at once, so both may take turns on one).
    for (const pod of running) expect(nodes).toContain(pod.spec?.nodeName);
    // Kueue created them only once the GPUs were back (creationTimestamp has one-second precision).
    for (const pod of running)
      expect(Date.parse(String(pod.metadata?.creationTimestamp))).toBeGreaterThanOrEqual(
        Math.floor(Date.parse(deadline) / 1000) * 1000,
      );
    // The tenant's pods were evicted at the deadline, not before.
    terminations.stop();
    expect(terminations.seen.size).toBe(2);
    for (const [pod, at] of terminations.seen)
      expect(at, `${pod} evicted before the deadline`).toBeGreaterThanOrEqual(Date.parse(deadline));
    const ended = await leaseWhere(clients, tenantNs, "work", "Reclaimed", phaseIs("Ended"));
    expect(ended.status?.endedAt).toBe(deadline);
  });

  it("rejects a Workload no reclaim can help, with a clear message", async () => {
    const group = uniqueId("huge");
    await addPool(clients, pool, 1, { labels: { "test-group": group }, product: group });
    const ns = await createTestNamespace(clients, "kueue-huge");
    queues(group, ns, { "test-group": group }, true);
    await createInternalJob(clients, ns, "huge", 3, 8, {}, { queue: group });
    const rejected = await workloadOf(ns, "huge", (w) => checkOf(w)?.state === "Rejected");
    expect(checkOf(rejected)?.message).toContain("no reclaim can help: 24 GPUs needed");
    expect(await podsOf(clients, ns, "app=huge")).toEqual([]);
  });
});

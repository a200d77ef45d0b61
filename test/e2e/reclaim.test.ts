import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { controlPlaneControl, readAudit } from "../support/control-plane.ts";
import {
  addPool,
  createInternalJob,
  createLease,
  createLeasedPod,
  createTenant,
  eventsFor,
  expectEvents,
  getLease,
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

let clients: KubeClients;
let operator: OperatorProcess;
let internalNs: string;
const pool = uniqueId("pool-rcl");
const GRACE_MS = 3000;
const config = {
  lendableNodeSelector: { "gpulease.io/pool": pool },
  evictionGrace: "3s",
  expiryWarning: "1s",
};

beforeAll(async () => {
  clients = kubeClients(inject("kubeconfig"));
  internalNs = await createTestNamespace(clients, "training");
  operator = new OperatorProcess({ kubeconfig: inject("kubeconfig"), config });
  await operator.start();
});

afterAll(async () => {
  expect(await operator.stop()).toBe(0);
});

/** A tenant lease of `gpus` on its own nodes, with a running pod per node. */
async function leaseWithPods(
  nodes: number,
  tenantSpec: Record<string, unknown> = {},
  leaseSpec: Record<string, unknown> = {},
) {
  // Each test has its own nodes: their GPU model is the test's own, and so is its leases'.
  const group = uniqueId("grp");
  const names = await addPool(clients, pool, nodes, { labels: { "test-group": group }, product: group });
  const { namespaces } = await createTenant(clients, { reclaimNotice: "3s", ...tenantSpec });
  const [ns] = namespaces as [string];
  await createLease(clients, ns, "work", { gpus: 8 * nodes, gpusPerNode: 8, gpuModel: group, ...leaseSpec });
  await leaseWhere(clients, ns, "work", "Active", phaseIs("Active"));
  for (let i = 0; i < nodes; i++)
    await createLeasedPod(clients, ns, `worker-${i}`, "work", 8, { app: "worker" });
  await eventually("tenant pods Running", async () => {
    const pods = await podsOf(clients, ns, "app=worker");
    return pods.length === nodes && pods.every((p) => p.status?.phase === "Running") ? true : undefined;
  });
  return { ns, group, nodes: names };
}

describe("reclaim for internal demand", () => {
  it("gives the notice, evicts within a second after the deadline and not before, and the Job runs", async () => {
    const { ns, group, nodes } = await leaseWithPods(2);
    const terminations = watchTerminations(clients, ns);
    await terminations.synced;
    const job = uniqueId("train");
    await createInternalJob(clients, internalNs, job, 1, 8, { "test-group": group });
    const noticed = await reclaimNoticed(clients, ns, "work");
    const requestedAt = Date.parse(noticed.status?.reclaim?.requestedAt ?? "");
    const deadline = Date.parse(noticed.status?.reclaim?.deadline ?? "");
    expect(deadline - requestedAt).toBe(3000); // the tenant's promised notice
    expect(noticed.status?.conditions?.find((c) => c.type === "Reclaiming")?.status).toBe("True");
    // Every channel: pod annotation, pod condition, Events on the lease and the pods, nodes Returning.
    await eventually("pods annotated and marked DisruptionTarget", async () => {
      const list = await podsOf(clients, ns, "app=worker");
      return list.every(
        (p) =>
          p.metadata?.annotations?.["gpulease.io/reclaim-deadline"] === noticed.status?.reclaim?.deadline &&
          p.status?.conditions?.some((c) => c.type === "DisruptionTarget" && c.status === "True"),
      )
        ? list
        : undefined;
    });
    expect(Date.now()).toBeLessThan(deadline);
    // One write per pod notice: annotation and condition together, on the pod's status subresource.
    const control = controlPlaneControl();
    if (control) {
      const byOperator = readAudit(control.handle.dir).filter(
        (e) =>
          e.userAgent.includes(`(pid ${operator.pid})`) &&
          e.verb === "patch" &&
          e.objectRef.resource === "pods" &&
          e.objectRef.namespace === ns &&
          e.at >= requestedAt,
      );
      const workers = (await podsOf(clients, ns, "app=worker")).map((p) => p.metadata?.name ?? "");
      expect(byOperator.map((e) => `${e.objectRef.name}/${e.objectRef.subresource ?? ""}`).sort()).toEqual(
        workers.map((name) => `${name}/status`).sort(),
      );
    }
    await expectEvents(clients, ns, "work", ["ReclaimNotice"]);
    await expectEvents(clients, ns, "worker-0", ["ReclaimNotice"]);
    for (const name of nodes) {
      expect((await clients.core.readNode({ name })).metadata?.labels?.["gpulease.io/state"]).toBe(
        "Returning",
      );
    }
    // Evictions: not before the deadline, and within a second after it.
    await eventually(
      "both pods evicted",
      async () => (terminations.seen.size >= 2 ? true : undefined),
      15_000,
      20,
    );
    terminations.stop();
    for (const [pod, at] of terminations.seen) {
      expect(at, `${pod} evicted before the deadline`).toBeGreaterThanOrEqual(deadline);
      expect(at - deadline, `${pod} evicted late`).toBeLessThan(1000);
    }
    // The internal Job's pod schedules on a returned node and the lease ends as Reclaimed.
    const scheduled = await eventually("internal pod scheduled", async () => {
      const list = await podsOf(clients, internalNs, `app=${job}`);
      return list.find((p) => p.spec?.nodeName) ?? undefined;
    });
    expect(nodes).toContain(scheduled.spec?.nodeName);
    const ended = await leaseWhere(clients, ns, "work", "Reclaimed", phaseIs("Ended"));
    expect(ended.status?.endReason).toBe("Reclaimed");
    expect(ended.status?.endedAt).toBe(new Date(deadline).toISOString());
    const log = operator.logs();
    expect(log).toContain("reclaim eviction");
    expect(log).toContain("need 8 GPUs: returning");
  });

  it("leaves Reserved leases alone", async () => {
    const { ns, group } = await leaseWithPods(1, {}, { class: "Reserved", duration: "1h" });
    await createInternalJob(clients, internalNs, uniqueId("train"), 1, 8, { "test-group": group });
    await new Promise((r) => setTimeout(r, 4000));
    const lease = await getLease(clients, ns, "work");
    expect(lease.status?.phase).toBe("Active");
    expect((await podsOf(clients, ns, "app=worker"))[0]?.metadata?.deletionTimestamp).toBeUndefined();
  });

  it("protects a lease inside its minimum runtime, and tells it that it is at risk", async () => {
    const { ns, group } = await leaseWithPods(1, { minRuntime: "1h", maxLeaseDuration: "2h" });
    await createInternalJob(clients, internalNs, uniqueId("train"), 1, 8, { "test-group": group });
    const atRisk = await leaseWhere(
      clients,
      ns,
      "work",
      "AtRisk",
      (l) => l.status?.conditions?.some((c) => c.type === "AtRisk" && c.status === "True") === true,
    );
    expect(atRisk.status?.phase).toBe("Active");
    await new Promise((r) => setTimeout(r, 2000));
    expect((await getLease(clients, ns, "work")).status?.phase).toBe("Active");
  });

  it("does not reclaim for a pod that GPUs cannot help", async () => {
    const { ns, group } = await leaseWithPods(1);
    // Far more CPU than any node has, and a node selector no lent node matches.
    await createInternalJob(
      clients,
      internalNs,
      uniqueId("cpu"),
      1,
      8,
      { "test-group": group },
      { cpu: "500" },
    );
    await createInternalJob(clients, internalNs, uniqueId("sel"), 1, 8, {
      "test-group": group,
      "nvidia.com/gpu.product": "NVIDIA-B200",
    });
    await new Promise((r) => setTimeout(r, 4000));
    expect((await getLease(clients, ns, "work")).status?.phase).toBe("Active");
  });

  it("reclaims for a whole Job or not at all", async () => {
    // Two nodes: one with an interruptible lease, one with a Reserved lease. A Job of two 8-GPU pods
    // would need both, so nothing is reclaimed.
    const group = uniqueId("grp");
    await addPool(clients, pool, 2, { labels: { "test-group": group }, product: group });
    const { namespaces } = await createTenant(clients, { reclaimNotice: "3s" });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "spot", { gpus: 8, gpusPerNode: 8, gpuModel: group });
    await createLease(clients, ns, "reserved", {
      gpus: 8,
      gpusPerNode: 8,
      gpuModel: group,
      class: "Reserved",
      duration: "1h",
    });
    await leaseWhere(clients, ns, "spot", "Active", phaseIs("Active"));
    await leaseWhere(clients, ns, "reserved", "Active", phaseIs("Active"));
    await createInternalJob(clients, internalNs, uniqueId("pair"), 2, 8, { "test-group": group });
    await new Promise((r) => setTimeout(r, 4000));
    expect((await getLease(clients, ns, "spot")).status?.phase).toBe("Active");
  });

  it("lets a PodDisruptionBudget delay the eviction until the grace, and no longer", async () => {
    const { ns, group } = await leaseWithPods(1);
    await clients.policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: {
        metadata: { name: "keep-one" },
        spec: { minAvailable: 1, selector: { matchLabels: { app: "worker" } } },
      },
    });
    await eventually("PDB observed", async () => {
      const pdb = await clients.policy.readNamespacedPodDisruptionBudget({ name: "keep-one", namespace: ns });
      return pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.expectedPods === 1
        ? true
        : undefined;
    });
    const terminations = watchTerminations(clients, ns);
    await terminations.synced;
    await createInternalJob(clients, internalNs, uniqueId("train"), 1, 8, { "test-group": group });
    const noticed = await leaseWhere(clients, ns, "work", "Reclaiming", phaseIs("Reclaiming"));
    const deadline = Date.parse(noticed.status?.reclaim?.deadline ?? "");
    await eventually(
      "pod deleted after the grace",
      async () => (terminations.seen.size >= 1 ? true : undefined),
      20_000,
      20,
    );
    terminations.stop();
    const at = terminations.seen.get("worker-0") ?? 0;
    expect(at - deadline).toBeGreaterThanOrEqual(GRACE_MS);
    expect(at - deadline).toBeLessThan(GRACE_MS + 1500);
    await leaseWhere(clients, ns, "work", "Reclaimed", phaseIs("Ended"));
  });

  it("takes a node back when the platform team removes its lendable label", async () => {
    const { ns, nodes } = await leaseWithPods(1);
    const { execFileSync } = await import("node:child_process");
    execFileSync("kubectl", [
      "--kubeconfig",
      inject("kubeconfig"),
      "label",
      "node",
      nodes[0] as string,
      "gpulease.io/pool-",
    ]);
    const lease = await leaseWhere(clients, ns, "work", "Reclaiming", phaseIs("Reclaiming", "NodeReclaimed"));
    expect(lease.status?.message).toContain("the platform team took the node back");
    await leaseWhere(clients, ns, "work", "Reclaimed", phaseIs("Ended"));
    await eventually("node untainted", async () => {
      const node = await clients.core.readNode({ name: nodes[0] as string });
      return !node.spec?.taints?.some((t) => t.key === "gpulease.io/lent") ? true : undefined;
    });
  });
});

describe("the notice inside a container", () => {
  it("is readable through a downward API volume, and the API server accepts that pod", async () => {
    // The namespace's quota admits pods while a lease is Active there.
    const { ns } = await leaseWithPods(1);
    const pod = await clients.core.createNamespacedPod({
      namespace: ns,
      dryRun: "All",
      body: {
        metadata: { name: "reads-notice", labels: { "gpulease.io/lease": "work" } },
        spec: {
          containers: [
            {
              name: "train",
              image: "registry.example/train:1",
              volumeMounts: [{ name: "gpulease", mountPath: "/etc/gpulease", readOnly: true }],
            },
          ],
          volumes: [
            {
              name: "gpulease",
              downwardAPI: {
                items: [
                  {
                    path: "reclaim-deadline",
                    fieldRef: { fieldPath: "metadata.annotations['gpulease.io/reclaim-deadline']" },
                  },
                ],
              },
            },
          ],
        },
      },
    });
    expect(pod.spec?.volumes?.[0]?.downwardAPI?.items?.[0]?.path).toBe("reclaim-deadline");
  });
});

describe("an operator restarted while a lease is Reclaiming", () => {
  it("keeps the same deadline: no second notice, no early and no lost eviction", async () => {
    // A notice long enough for the restart to finish before the deadline on a busy machine.
    const { ns, group } = await leaseWithPods(1, { reclaimNotice: "15s" });
    const terminations = watchTerminations(clients, ns);
    await terminations.synced;
    await createInternalJob(clients, internalNs, uniqueId("train"), 1, 8, { "test-group": group });
    const noticed = await leaseWhere(clients, ns, "work", "Reclaiming", phaseIs("Reclaiming"));
    await operator.kill();
    await new Promise((r) => setTimeout(r, 1000));
    operator = new OperatorProcess({ kubeconfig: inject("kubeconfig"), config });
    await operator.start();
    const deadline = Date.parse(noticed.status?.reclaim?.deadline ?? "");
    expect(Date.now(), "the restarted operator works before the deadline").toBeLessThan(deadline - 1000);
    await eventually("pod evicted", async () => (terminations.seen.size >= 1 ? true : undefined), 30_000, 20);
    terminations.stop();
    const at = terminations.seen.get("worker-0") ?? 0;
    expect(at).toBeGreaterThanOrEqual(deadline);
    expect(at - deadline).toBeLessThan(1000);
    const ended = await leaseWhere(clients, ns, "work", "Reclaimed", phaseIs("Ended"));
    expect(ended.status?.reclaim?.deadline).toBe(noticed.status?.reclaim?.deadline);
    expect(ended.status?.reclaim?.requestedAt).toBe(noticed.status?.reclaim?.requestedAt);
    const notices = (await eventsFor(clients, ns, "work")).filter((e) => e.reason === "ReclaimNotice");
    // At most one notice (the kill may land between the status and its Event; never a second one).
    expect(notices.length).toBeLessThanOrEqual(1);
  });
});

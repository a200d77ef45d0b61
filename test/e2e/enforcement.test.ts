import { describe, expect, inject, it } from "vitest";
import {
  addPool,
  createLease,
  createLeasedPod,
  createTenant,
  eventsFor,
  expectEvents,
  leaseWhere,
  phaseIs,
  uniqueId,
} from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { apiErrorMessage } from "../support/manifest.ts";
import { operatorForThisFile } from "../support/operator-process.ts";

const clients: KubeClients = kubeClients(inject("kubeconfig"));
const { pool } = operatorForThisFile("pool-enf");

async function activeLease(gpus: number, extra: Record<string, unknown> = {}) {
  const model = uniqueId("MODEL");
  const nodes = await addPool(clients, pool, Math.ceil(gpus / 8), { product: model });
  const { namespaces } = await createTenant(clients);
  const [ns] = namespaces as [string];
  await createLease(clients, ns, "work", { gpus, gpuModel: model, ...extra });
  await leaseWhere(clients, ns, "work", "Active", phaseIs("Active"));
  await eventually("ResourceQuota raised", async () => {
    const rq = await clients.core.readNamespacedResourceQuota({ name: "gpulease", namespace: ns });
    return rq.status?.hard?.["requests.nvidia.com/gpu"] === String(gpus) ? true : undefined;
  });
  return { ns, nodes };
}

describe("enforcement", () => {
  it("refuses a GPU pod without the lease label in a tenant namespace (admission policy)", async () => {
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    const error = await clients.core
      .createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: "unlabelled" },
          spec: { containers: [{ name: "c", image: "x", resources: { limits: { "nvidia.com/gpu": "1" } } }] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(apiErrorMessage(error)).toContain("asks for GPUs but has no gpulease.io/lease label");
    // The platform admin (trusted) passes the policies with a CPU-only pod without the label (a tenant
    // does not: test/e2e/security-admission.test.ts), but no pod passes the namespace's quota while no
    // lease is Active there (retried until the operator has written the quota).
    const refused = await eventually("the quota to refuse a pod", async () => {
      const name = uniqueId("cpu-only");
      const message = await clients.core
        .createNamespacedPod({
          namespace: ns,
          body: { metadata: { name }, spec: { containers: [{ name: "c", image: "x" }] } },
        })
        .then(
          async () => {
            await clients.core.deleteNamespacedPod({ name, namespace: ns });
            return undefined;
          },
          (e: unknown) => apiErrorMessage(e),
        );
      return message?.includes("exceeded quota") ? message : undefined;
    });
    expect(refused).toContain("exceeded quota: gpulease, requested: pods=1");
  });

  it("binds a gated pod to its lease's node, where it runs", async () => {
    const { ns, nodes } = await activeLease(4);
    const created = await createLeasedPod(clients, ns, "trainer", "work", 4);
    // The mutating policy gated it and added the toleration for lent nodes.
    expect(created.spec?.schedulingGates?.map((g) => g.name)).toContain("gpulease.io/lease");
    expect(created.spec?.tolerations?.some((t) => t.key === "gpulease.io/lent")).toBe(true);
    const running = await eventually("pod Running", async () => {
      const pod = await clients.core.readNamespacedPod({ name: "trainer", namespace: ns });
      return pod.status?.phase === "Running" ? pod : undefined;
    });
    expect(running.spec?.nodeName).toBe(nodes[0]);
    expect(running.spec?.schedulingGates ?? []).toEqual([]);
    await expectEvents(clients, ns, "trainer", ["BoundToLease"]);
    await leaseWhere(clients, ns, "work", "counting its pod", (l) => l.status?.boundPods === 1);
  });

  it("refuses a GPU pod beyond the lease through the ResourceQuota", async () => {
    const { ns } = await activeLease(2);
    await createLeasedPod(clients, ns, "fits", "work", 2);
    const error = await createLeasedPod(clients, ns, "beyond", "work", 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(apiErrorMessage(error)).toMatch(/exceeded quota: gpulease.*requests\.nvidia\.com\/gpu/);
  });

  it("keeps a pod that asks for more than one node of its lease offers gated, with an Event", async () => {
    // 16 GPUs on two nodes: a 12-GPU pod fits the quota but no single node of the lease.
    const { ns } = await activeLease(16, { gpusPerNode: 8 });
    await createLeasedPod(clients, ns, "too-wide", "work", 12);
    const events = await eventually("ExceedsLease event", async () => {
      const list = await eventsFor(clients, ns, "too-wide");
      return list.some((e) => e.reason === "ExceedsLease") ? list : undefined;
    });
    expect(events.find((e) => e.reason === "ExceedsLease")?.message).toContain("stays gated");
    const pod = await clients.core.readNamespacedPod({ name: "too-wide", namespace: ns });
    expect(pod.spec?.schedulingGates?.map((g) => g.name)).toContain("gpulease.io/lease");
    expect(pod.spec?.nodeName).toBeUndefined();
  });

  it("leaves a pod gated while its lease is Pending, saying why", async () => {
    const { namespaces } = await createTenant(clients, { limits: [{ maxGpus: 4 }] });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "waiting", { gpus: 2, gpuModel: uniqueId("NO-SUCH-MODEL") });
    await leaseWhere(clients, ns, "waiting", "Pending", phaseIs("Pending"));
    // The ResourceQuota is 0 while nothing is Active: even the pod is refused; that is the first layer.
    const error = await createLeasedPod(clients, ns, "early", "waiting", 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(apiErrorMessage(error)).toContain("exceeded quota");
  });

  it("does not let a tenant remove the scheduling gate itself", async () => {
    // An Active lease, so the namespace's quota admits pods.
    const { ns } = await activeLease(1);
    await createLease(clients, ns, "waiting", { gpus: 1, gpuModel: uniqueId("NO-SUCH-MODEL") });
    // A CPU-only helper pod of the Pending lease: admitted within the Active lease's room, gated.
    await clients.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "helper", labels: { "gpulease.io/lease": "waiting" } },
        spec: { containers: [{ name: "c", image: "x" }] },
      },
    });
    const error = await patchAsTenant(inject("kubeconfig"), ns, "helper").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(error)).toContain(
      "only the gpulease operator removes the gpulease.io/lease scheduling gate",
    );
  });
});

/** Removes the gate while impersonating a tenant user with edit rights in the namespace. */
async function patchAsTenant(kubeconfig: string, namespace: string, pod: string): Promise<void> {
  const { execFileSync } = await import("node:child_process");
  const kubectl = (...args: string[]) =>
    execFileSync("kubectl", ["--kubeconfig", kubeconfig, ...args], { stdio: "pipe" }).toString();
  kubectl(
    "create",
    "rolebinding",
    "alice-edit",
    "--clusterrole=edit",
    "--user=tenant-alice",
    "-n",
    namespace,
  );
  try {
    kubectl(
      "--as",
      "tenant-alice",
      "-n",
      namespace,
      "patch",
      "pod",
      pod,
      "--type=json",
      "-p",
      '[{"op":"remove","path":"/spec/schedulingGates"}]',
    );
  } catch (error) {
    throw new Error((error as { stderr?: Buffer }).stderr?.toString() ?? String(error));
  }
}

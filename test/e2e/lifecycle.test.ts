import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { describe, expect, inject, it } from "vitest";
import {
  addPool,
  createLease,
  createLeasedPod,
  createTenant,
  expectEvents,
  getLease,
  getQuota,
  leaseWhere,
  phaseIs,
  uniqueId,
} from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { operatorForThisFile } from "../support/operator-process.ts";

const clients: KubeClients = kubeClients(inject("kubeconfig"));
const { pool } = operatorForThisFile("pool-life", { expiryWarning: "2s" });

async function runningPod(ns: string, name: string) {
  return eventually(`pod ${name} Running`, async () => {
    const pod = await clients.core.readNamespacedPod({ name, namespace: ns });
    return pod.status?.phase === "Running" ? pod : undefined;
  });
}

async function podGone(ns: string, name: string) {
  await eventually(`pod ${name} gone`, async () => {
    try {
      await clients.core.readNamespacedPod({ name, namespace: ns });
      return undefined;
    } catch (error) {
      return (error as { code?: number }).code === 404 ? true : undefined;
    }
  });
}

describe("lease lifecycle", () => {
  it("warns before expiry, then evicts the pods, ends the lease as Expired and returns the node", async () => {
    const model = uniqueId("MODEL");
    const [node] = (await addPool(clients, pool, 1, { product: model })) as [string];
    const { tenant, namespaces } = await createTenant(clients, {
      pricing: { interruptiblePerGpuHour: "3600" },
    });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "short", { gpus: 2, gpuModel: model, duration: "6s" });
    const active = await leaseWhere(clients, ns, "short", "Active", phaseIs("Active"));
    const expiresAt = Date.parse(active.status?.expiresAt ?? "");
    await createLeasedPod(clients, ns, "job", "short", 2);
    await runningPod(ns, "job");
    const warned = await leaseWhere(
      clients,
      ns,
      "short",
      "ExpiringSoon",
      (l) => l.status?.conditions?.some((c) => c.type === "ExpiringSoon" && c.status === "True") === true,
    );
    expect(Date.now()).toBeLessThan(expiresAt); // the warning comes before the end
    expect(warned.status?.phase).toBe("Active");
    const ended = await leaseWhere(clients, ns, "short", "Expired", phaseIs("Ended"), 20_000);
    expect(ended.status?.endReason).toBe("Expired");
    expect(ended.status?.endedAt).toBe(new Date(expiresAt).toISOString());
    // 2 GPUs for 6 s at 3600 per GPU-hour: 12 GPU-seconds, 12.00 charged.
    expect(ended.status?.usage).toMatchObject({ gpuSeconds: 12, charges: "12.00" });
    await podGone(ns, "job");
    await eventually("node back to Internal", async () => {
      const n = await clients.core.readNode({ name: node });
      return !n.spec?.taints?.some((t) => t.key === "gpulease.io/lent") &&
        n.metadata?.labels?.["gpulease.io/state"] === "Internal"
        ? true
        : undefined;
    });
    const rq = await clients.core.readNamespacedResourceQuota({ name: "gpulease", namespace: ns });
    expect(rq.spec?.hard?.["requests.nvidia.com/gpu"]).toBe("0");
    await expectEvents(clients, ns, "short", ["Admitted", "ExpiringSoon", "Expired"]);
    const quota = await eventually("tenant usage", async () => {
      const q = await getQuota(clients, tenant);
      return q.status?.usage?.charges === "12.00" ? q : undefined;
    });
    expect(quota.status?.usage?.gpuHours).toBe("0.003");
  });

  it("releases a deleted lease: evicts its pods first, then lets it go, keeping its usage in the tenant's ledger", async () => {
    const model = uniqueId("MODEL");
    await addPool(clients, pool, 1, { product: model });
    const { tenant, namespaces } = await createTenant(clients, {
      pricing: { interruptiblePerGpuHour: "1.00" },
    });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "done", { gpus: 4, gpuModel: model });
    await leaseWhere(clients, ns, "done", "Active", phaseIs("Active"));
    const lease = await getLease(clients, ns, "done");
    expect(lease.metadata.finalizers).toContain("gpulease.io/finalizer");
    await createLeasedPod(clients, ns, "worker", "done", 4);
    await runningPod(ns, "worker");
    // The pod takes its time to stop (a finalizer of the test's own holds it while terminating): the
    // lease must wait for it.
    await clients.core.patchNamespacedPod(
      {
        namespace: ns,
        name: "worker",
        body: [{ op: "add", path: "/metadata/finalizers", value: ["test.gpulease.io/hold"] }],
      },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    await new Promise((r) => setTimeout(r, 2000));
    await clients.custom.deleteNamespacedCustomObject({
      group: "gpulease.io",
      version: "v1alpha1",
      namespace: ns,
      plural: "gpuleases",
      name: "done",
    });
    // While its pod is being evicted the lease still exists, Ended as Released.
    const releasing = await leaseWhere(
      clients,
      ns,
      "done",
      "Released",
      (l) => l.status?.endReason === "Released",
    );
    expect(releasing.metadata.deletionTimestamp).toBeDefined();
    await eventually("the pod evicted", async () => {
      const pod = await clients.core.readNamespacedPod({ namespace: ns, name: "worker" });
      return pod.metadata?.deletionTimestamp ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect((await getLease(clients, ns, "done")).status?.endReason).toBe("Released"); // still held
    await clients.core.patchNamespacedPod(
      { namespace: ns, name: "worker", body: [{ op: "remove", path: "/metadata/finalizers" }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    await podGone(ns, "worker");
    await eventually("lease gone", async () => {
      try {
        await getLease(clients, ns, "done");
        return undefined;
      } catch (error) {
        return (error as { code?: number }).code === 404 ? true : undefined;
      }
    });
    const quota = await getQuota(clients, tenant);
    expect(quota.status?.ledger?.retiredLeases).toBe(1);
    expect(quota.status?.ledger?.gpuSeconds ?? 0).toBeGreaterThanOrEqual(8); // 4 GPUs for ≥ 2 s
    expect(quota.status?.allocated?.gpus).toBe(0);
  });

  it("gives every lease its finalizer at creation, and puts it back if it is removed", async () => {
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "kept", { gpus: 1, gpuModel: uniqueId("NOSUCHMODEL") });
    // The admission policy adds it: no operator write needed.
    expect((await getLease(clients, ns, "kept")).metadata.finalizers).toEqual(["gpulease.io/finalizer"]);
    // Without the policy (older clusters, or someone removed it), the operator adds it.
    await clients.custom.patchNamespacedCustomObject(
      {
        group: "gpulease.io",
        version: "v1alpha1",
        namespace: ns,
        plural: "gpuleases",
        name: "kept",
        body: [{ op: "remove", path: "/metadata/finalizers" }],
      },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    await eventually("the operator to put the finalizer back", async () =>
      (await getLease(clients, ns, "kept")).metadata.finalizers?.includes("gpulease.io/finalizer")
        ? true
        : undefined,
    );
  });

  it("says so on the lease when one of its nodes goes NotReady", async () => {
    const model = uniqueId("MODEL");
    const [node] = (await addPool(clients, pool, 1, { product: model })) as [string];
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "fragile", { gpus: 8, gpuModel: model });
    await leaseWhere(clients, ns, "fragile", "Active", phaseIs("Active"));
    // kwok stops playing the kubelet for the node, and the node reports NotReady.
    const { execFileSync } = await import("node:child_process");
    execFileSync("kubectl", [
      "--kubeconfig",
      inject("kubeconfig"),
      "annotate",
      "node",
      node,
      "kwok.x-k8s.io/node-",
    ]);
    execFileSync("kubectl", [
      "--kubeconfig",
      inject("kubeconfig"),
      "patch",
      "node",
      node,
      "--subresource=status",
      "--type=strategic",
      "-p",
      JSON.stringify({
        status: {
          conditions: [
            {
              type: "Ready",
              status: "False",
              reason: "KubeletStopped",
              message: "simulated",
              lastHeartbeatTime: new Date().toISOString(),
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      }),
    ]);
    const lease = await leaseWhere(
      clients,
      ns,
      "fragile",
      "Ready=False",
      (l) =>
        l.status?.conditions?.some(
          (c) => c.type === "Ready" && c.status === "False" && c.reason === "NodeUnavailable",
        ) === true,
    );
    expect(lease.status?.conditions?.find((c) => c.type === "Ready")?.message).toContain(
      `node ${node} is not Ready`,
    );
    await expectEvents(clients, ns, "fragile", ["NodeUnavailable"]);
  });

  it("reports a lease in a namespace of no tenant, and a tenant without a quota, without failing", async () => {
    const { createTestNamespace } = await import("../support/kube.ts");
    const plain = await createTestNamespace(clients, "no-tenant");
    await createLease(clients, plain, "orphan", { gpus: 1 });
    const orphan = await leaseWhere(
      clients,
      plain,
      "orphan",
      "Pending",
      phaseIs("Pending", "NotATenantNamespace"),
    );
    expect(orphan.status?.message).toContain("gpulease.io/tenant");
    const unknown = await createTestNamespace(clients, "ghost", { "gpulease.io/tenant": uniqueId("ghost") });
    await createLease(clients, unknown, "lost", { gpus: 1 });
    await leaseWhere(clients, unknown, "lost", "Pending NoTenantQuota", phaseIs("Pending", "NoTenantQuota"));
    await expectEvents(clients, unknown, "lost", ["NoTenantQuota"]);
  });
});

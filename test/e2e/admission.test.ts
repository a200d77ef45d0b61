import { describe, expect, inject, it } from "vitest";
import {
  addPool,
  createLease,
  createTenant,
  expectEvents,
  getQuota,
  leaseWhere,
  phaseIs,
  uniqueId,
} from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { operatorForThisFile } from "../support/operator-process.ts";

const clients: KubeClients = kubeClients(inject("kubeconfig"));
const { pool } = operatorForThisFile("pool-adm");

describe("admission and placement", () => {
  it("admits a lease, places it on whole lent nodes, and raises the namespace's ResourceQuota", async () => {
    const model = uniqueId("MODEL");
    const nodes = await addPool(clients, pool, 2, { product: model });
    const { tenant, namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "train", { gpus: 16, gpusPerNode: 8, gpuModel: model, duration: "2h" });
    const lease = await leaseWhere(clients, ns, "train", "Active", phaseIs("Active", "Admitted"));
    expect(lease.status?.allocations?.map((a) => [a.node, a.gpus]).sort()).toEqual(
      nodes.map((n) => [n, 8]).sort(),
    );
    expect(Date.parse(lease.status?.expiresAt ?? "") - Date.parse(lease.status?.admittedAt ?? "")).toBe(
      2 * 3600_000,
    );
    expect(lease.status?.conditions?.find((c) => c.type === "Admitted")?.status).toBe("True");
    for (const name of nodes) {
      const node = await clients.core.readNode({ name });
      expect(node.spec?.taints?.some((t) => t.key === "gpulease.io/lent" && t.effect === "NoSchedule")).toBe(
        true,
      );
      expect(node.metadata?.labels?.["gpulease.io/state"]).toBe("Lent");
    }
    const rq = await clients.core.readNamespacedResourceQuota({ name: "gpulease", namespace: ns });
    expect(rq.spec?.hard?.["requests.nvidia.com/gpu"]).toBe("16");
    await expectEvents(clients, ns, "train", ["Admitted"]);
    const quota = await eventually("tenant status", async () => {
      const q = await getQuota(clients, tenant);
      return q.status?.allocated?.gpus === 16 ? q : undefined;
    });
    expect(quota.status?.allocated).toMatchObject({ gpus: 16, activeLeases: 1, pendingLeases: 0 });
    expect(quota.status?.namespaces).toEqual([ns]);
  });

  it("keeps a lease Pending with QuotaExceeded, and admits it when room is made", async () => {
    const model = uniqueId("MODEL");
    await addPool(clients, pool, 2, { product: model });
    const { namespaces } = await createTenant(clients, { limits: [{ maxGpus: 8 }] });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "first", { gpus: 6, gpuModel: model });
    await leaseWhere(clients, ns, "first", "Active", phaseIs("Active"));
    await createLease(clients, ns, "second", { gpus: 4, gpuModel: model });
    const waiting = await leaseWhere(
      clients,
      ns,
      "second",
      "Pending QuotaExceeded",
      phaseIs("Pending", "QuotaExceeded"),
    );
    expect(waiting.status?.message).toContain("holds 6 of 8 GPUs");
    await clients.custom.deleteNamespacedCustomObject({
      group: "gpulease.io",
      version: "v1alpha1",
      namespace: ns,
      plural: "gpuleases",
      name: "first",
    });
    await leaseWhere(clients, ns, "second", "Active after the first was released", phaseIs("Active"));
  });

  it("rejects a lease that can never fit, and says why", async () => {
    const { namespaces } = await createTenant(clients, { limits: [{ maxGpus: 8 }], maxLeaseDuration: "4h" });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "too-big", { gpus: 12 });
    await createLease(clients, ns, "too-long", { gpus: 1, duration: "5h" });
    const big = await leaseWhere(clients, ns, "too-big", "Rejected", phaseIs("Ended"));
    expect(big.status).toMatchObject({ endReason: "Rejected", reason: "ExceedsQuota" });
    expect(big.status?.message).toContain("at most 8");
    const long = await leaseWhere(clients, ns, "too-long", "Rejected", phaseIs("Ended"));
    expect(long.status?.reason).toBe("ExceedsMaxLeaseDuration");
    await expectEvents(clients, ns, "too-big", ["Rejected"]);
  });

  it("waits with NoMatchingNodes for a GPU model no lendable node has", async () => {
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "a100", { gpus: 1, gpuModel: uniqueId("NO-SUCH-MODEL") });
    const lease = await leaseWhere(
      clients,
      ns,
      "a100",
      "Pending NoMatchingNodes",
      phaseIs("Pending", "NoMatchingNodes"),
    );
    expect(lease.status?.message).toContain("no lendable node offers");
  });

  it("does not place a lease of whole nodes on fragments (InsufficientCapacity), then places it on a whole node", async () => {
    const model = uniqueId("MODEL");
    await addPool(clients, pool, 2, { product: model });
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    // Two leases of 5 GPUs leave 3 free on each node: 6 free GPUs, but no whole node.
    await createLease(clients, ns, "frag-a", { gpus: 5, gpusPerNode: 5, gpuModel: model });
    await createLease(clients, ns, "frag-b", { gpus: 5, gpusPerNode: 5, gpuModel: model });
    await leaseWhere(clients, ns, "frag-a", "Active", phaseIs("Active"));
    await leaseWhere(clients, ns, "frag-b", "Active", phaseIs("Active"));
    await createLease(clients, ns, "whole", { gpus: 8, gpusPerNode: 8, gpuModel: model });
    const waiting = await leaseWhere(
      clients,
      ns,
      "whole",
      "Pending InsufficientCapacity",
      phaseIs("Pending", "InsufficientCapacity"),
    );
    expect(waiting.status?.message).toContain("in blocks of 8");
    await addPool(clients, pool, 1, { product: model });
    const placed = await leaseWhere(clients, ns, "whole", "Active on the new node", phaseIs("Active"));
    expect(placed.status?.allocations).toHaveLength(1);
    expect(placed.status?.allocations?.[0]?.gpus).toBe(8);
  });

  it("shares capacity fairly between two tenants of equal priority", async () => {
    const model = uniqueId("MODEL");
    const a = await createTenant(clients, { limits: [{ maxGpus: 16 }] });
    const b = await createTenant(clients, { limits: [{ maxGpus: 16 }] });
    const [nsA] = a.namespaces as [string];
    const [nsB] = b.namespaces as [string];
    // Tenant a asks first for all 16 GPUs in four leases; tenant b asks for two.
    for (const name of ["a1", "a2", "a3", "a4"])
      await createLease(clients, nsA, name, { gpus: 4, gpuModel: model });
    for (const name of ["b1", "b2"]) await createLease(clients, nsB, name, { gpus: 4, gpuModel: model });
    // Capacity arrives after every lease is queued: 16 GPUs for 24 asked.
    await new Promise((r) => setTimeout(r, 1000));
    await addPool(clients, pool, 2, { product: model });
    await leaseWhere(clients, nsB, "b2", "Active", phaseIs("Active"));
    await leaseWhere(clients, nsB, "b1", "Active", phaseIs("Active"));
    // Tenant a gets the other half: two of its four leases.
    const quotaA = await eventually("tenant a's status", async () => {
      const q = await getQuota(clients, a.tenant);
      return q.status?.allocated?.gpus === 8 ? q : undefined;
    });
    expect(quotaA.status?.allocated?.pendingLeases).toBe(2);
  });
});

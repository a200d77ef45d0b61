/**
 * A lent node deleted under a lease with running pods: the lease follows its nodes. Usage and charges
 * stop when the operator sees the node gone, the ResourceQuota drops those GPUs, and the lease shrinks
 * (partial reclaim allowed) or ends as NodeLost, with an Event either way.
 */
import { describe, expect, inject, it } from "vitest";
import {
  addPool,
  createLease,
  createLeasedPod,
  createTenant,
  expectEvents,
  getLease,
  leaseWhere,
  phaseIs,
  uniqueId,
} from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { operatorForThisFile } from "../support/operator-process.ts";

const clients: KubeClients = kubeClients(inject("kubeconfig"));
const { pool } = operatorForThisFile("pool-nodelost");

async function quotaGpus(namespace: string): Promise<string | undefined> {
  const rq = await clients.core.readNamespacedResourceQuota({ name: "gpulease", namespace });
  return rq.spec?.hard?.["requests.nvidia.com/gpu"];
}

async function running(namespace: string, name: string): Promise<void> {
  await eventually(`pod ${name} Running`, async () =>
    (await clients.core.readNamespacedPod({ name, namespace })).status?.phase === "Running"
      ? true
      : undefined,
  );
}

describe("a lent node deleted under a lease", () => {
  it("ends the lease as NodeLost: usage stops then, the quota drops, a new pod says why it waits", async () => {
    const model = uniqueId("MODEL");
    const [node] = (await addPool(clients, pool, 1, { product: model })) as [string];
    const { namespaces } = await createTenant(clients, { pricing: { interruptiblePerGpuHour: "3600" } });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "l", { gpus: 8, gpuModel: model });
    await leaseWhere(clients, ns, "l", "Active", phaseIs("Active"));
    await createLeasedPod(clients, ns, "work", "l", 8);
    await running(ns, "work");
    await eventually("quota at 8", async () => ((await quotaGpus(ns)) === "8" ? true : undefined));

    const deletedAt = Date.now();
    await clients.core.deleteNode({ name: node });
    const ended = await leaseWhere(
      clients,
      ns,
      "l",
      "Ended NodeLost",
      (l) => l.status?.endReason === "NodeLost",
    );
    const seenGone = Date.parse(ended.status?.endedAt ?? "");
    expect(seenGone).toBeGreaterThanOrEqual(deletedAt - 1000);
    expect(ended.status?.phase).toBe("Ended");
    expect(ended.status?.allocations ?? []).toEqual([]);
    // Billed to the moment the node was seen gone, at 1 per GPU-second.
    const admitted = Date.parse(ended.status?.admittedAt ?? "");
    const gpuSeconds = ended.status?.usage?.gpuSeconds ?? 0;
    expect(Math.abs(gpuSeconds - (8 * (seenGone - admitted)) / 1000)).toBeLessThanOrEqual(8);
    await expectEvents(clients, ns, "l", ["NodeLost"]);
    await eventually("quota at 0", async () => ((await quotaGpus(ns)) === "0" ? true : undefined));

    // Usage no longer grows.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await getLease(clients, ns, "l")).status?.usage?.gpuSeconds).toBe(gpuSeconds);
  });

  it("shrinks a lease that allows partial reclaim to the node it keeps", async () => {
    const model = uniqueId("MODEL");
    const nodes = (await addPool(clients, pool, 2, { product: model })) as [string, string];
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "wide", {
      gpus: 16,
      gpusPerNode: 8,
      gpuModel: model,
      allowPartialReclaim: true,
    });
    const active = await leaseWhere(clients, ns, "wide", "Active", phaseIs("Active"));
    expect((active.status?.allocations ?? []).map((a) => a.node).sort()).toEqual([...nodes].sort());
    await eventually("quota at 16", async () => ((await quotaGpus(ns)) === "16" ? true : undefined));

    await clients.core.deleteNode({ name: nodes[0] });
    const shrunk = await leaseWhere(clients, ns, "wide", "shrunk", (l) => l.status?.reason === "NodeLost");
    expect(shrunk.status?.phase).toBe("Active");
    expect(shrunk.status?.allocations?.map((a) => a.node)).toEqual([nodes[1]]);
    await expectEvents(clients, ns, "wide", ["NodeLost"]);
    await eventually("quota at 8", async () => ((await quotaGpus(ns)) === "8" ? true : undefined));
  });
});

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { addPool, createLease, createTenant, leasesIn, uniqueId } from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";

let clients: KubeClients;
const pool = uniqueId("pool-crash");
let operator: OperatorProcess;

beforeAll(() => {
  clients = kubeClients(inject("kubeconfig"));
});

afterAll(async () => {
  await operator?.stop();
});

describe("an operator killed in the middle of admission", () => {
  it("converges after a restart with no GPU promised twice", async () => {
    const model = uniqueId("MODEL");
    const nodes = await addPool(clients, pool, 64, { product: model }); // 512 GPUs
    const a = await createTenant(clients, { limits: [{ maxGpus: 400 }] }, 2);
    const b = await createTenant(clients, { limits: [{ maxGpus: 400 }] }, 1);
    const namespaces = [...a.namespaces, ...b.namespaces];
    // 300 leases asking for 600 GPUs, queued before any operator runs: admitting the ~250 leases that
    // fit takes more than one pass's write budget, so the kill lands in the middle.
    const specs = Array.from({ length: 300 }, (_, i) => i);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < specs.length) {
          const i = next++;
          await createLease(clients, namespaces[i % namespaces.length] as string, `l${i}`, {
            gpus: 1 + (i % 3),
            gpuModel: model,
          });
        }
      }),
    );
    const config = { lendableNodeSelector: { "gpulease.io/pool": pool } };
    operator = new OperatorProcess({ kubeconfig: inject("kubeconfig"), config });
    await operator.start();
    // Kill it (SIGKILL: no cleanup) as soon as the first admissions land.
    const activeAtKill = await eventually(
      "first admissions",
      async () => {
        const active = (await leasesIn(clients, namespaces)).filter(
          (l) => l.status?.phase === "Active",
        ).length;
        return active > 0 ? active : undefined;
      },
      30_000,
      5,
    );
    await operator.kill();
    const firstLog = operator.logs();

    operator = new OperatorProcess({ kubeconfig: inject("kubeconfig"), config });
    await operator.start();
    const settled = await eventually(
      "every lease decided and stable",
      async () => {
        const leases = await leasesIn(clients, namespaces);
        const active = leases.filter((l) => l.status?.phase === "Active");
        const gpus = active.reduce((s, l) => s + l.spec.gpus, 0);
        const undecided = leases.filter((l) => l.status?.phase === undefined);
        // Stable: capacity is full (every further lease needs more than what is left) and all were seen.
        return undecided.length === 0 && gpus > 512 - 3 ? leases : undefined;
      },
      60_000,
      200,
    );

    const perNode = new Map<string, number>();
    for (const lease of settled.filter((l) => l.status?.phase === "Active")) {
      const allocations = lease.status?.allocations ?? [];
      expect(allocations.reduce((s, x) => s + x.gpus, 0)).toBe(lease.spec.gpus);
      for (const allocation of allocations)
        perNode.set(allocation.node, (perNode.get(allocation.node) ?? 0) + allocation.gpus);
    }
    for (const [node, gpus] of perNode) {
      expect(nodes).toContain(node);
      expect(gpus, `GPUs promised on ${node}`).toBeLessThanOrEqual(8);
    }
    const pending = settled.filter((l) => l.status?.phase === "Pending");
    expect(pending.every((l) => l.status?.reason === "InsufficientCapacity")).toBe(true);
    // The kill really happened mid-way: the first run had admitted only part of what fits.
    expect(firstLog).toContain("operator started");
    expect(activeAtKill).toBeLessThan(settled.filter((l) => l.status?.phase === "Active").length);
  });
});

/**
 * Issue 14, finding 6, with no operator watching: a lease stripped of its finalizer and deleted while
 * the operator is down is still billed, from the record of the lease the operator keeps in its
 * TenantQuota's status (ledger.liveLeases), and reported.
 */
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { API_GROUP, API_VERSION } from "../../src/api/index.ts";
import {
  addPool,
  createLease,
  createLeasedPod,
  createTenant,
  eventsFor,
  getLease,
  getQuota,
  leaseWhere,
  phaseIs,
  podsOf,
  uniqueId,
} from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";

let admin: KubeClients;
let operator: OperatorProcess;
const pool = uniqueId("pool-vanish");
const config = {
  lendableNodeSelector: { "gpulease.io/pool": pool },
  // Usage recorded often, so the record holds some before the kill.
  meteringInterval: "10s",
  orphanGrace: "1s",
  evictionGrace: "1s",
};

beforeAll(() => {
  admin = kubeClients(inject("kubeconfig"));
});

afterAll(async () => {
  expect(await operator?.stop()).toBe(0);
});

describe("a lease deleted without its finalizer while the operator is down", () => {
  it("is billed from the operator's record after a restart, with a LeaseVanished Event", async () => {
    const model = uniqueId("MODEL");
    await addPool(admin, pool, 1, { product: model });
    const { tenant, namespaces } = await createTenant(admin);
    const [ns] = namespaces as [string];
    operator = new OperatorProcess({ kubeconfig: inject("kubeconfig"), config });
    await operator.start();
    await createLease(admin, ns, "work", { gpus: 8, gpuModel: model });
    const { metadata } = await leaseWhere(admin, ns, "work", "Active", phaseIs("Active"));
    await createLeasedPod(admin, ns, "worker", "work", 8);
    const recorded = await eventually(
      "the lease's usage recorded on its TenantQuota",
      async () => {
        const record = (await getQuota(admin, tenant)).status?.ledger?.liveLeases?.find(
          (r) => r.uid === metadata?.uid,
        );
        return record && record.gpuSeconds > 0 ? record : undefined;
      },
      60_000,
    );
    expect(recorded.lease).toBe(`${ns}/work`);

    await operator.kill();
    const lease = {
      group: API_GROUP,
      version: API_VERSION,
      namespace: ns,
      plural: "gpuleases",
      name: "work",
    };
    await admin.custom.patchNamespacedCustomObject(
      { ...lease, body: [{ op: "replace", path: "/metadata/finalizers", value: [] }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    await admin.custom.deleteNamespacedCustomObject(lease);
    await eventually("the lease gone", async () =>
      getLease(admin, ns, "work").then(
        () => undefined,
        (e: { code?: number }) => (e.code === 404 ? true : undefined),
      ),
    );
    // Nothing billed it meanwhile.
    expect((await getQuota(admin, tenant)).status?.ledger?.retiredLeases ?? 0).toBe(0);

    operator = new OperatorProcess({ kubeconfig: inject("kubeconfig"), config });
    await operator.start();
    const ledger = await eventually("the lease's usage in the ledger", async () => {
      const l = (await getQuota(admin, tenant)).status?.ledger;
      return (l?.retiredLeases ?? 0) >= 1 ? l : undefined;
    });
    expect(ledger.retiredLeases).toBe(1);
    expect(ledger.gpuSeconds).toBeGreaterThanOrEqual(recorded.gpuSeconds);
    expect(ledger.liveLeases ?? []).toEqual([]);
    const warned = await eventually("LeaseVanished Event on the TenantQuota", async () =>
      (await eventsFor(admin, "default", tenant)).find((e) => e.reason === "LeaseVanished"),
    );
    expect(warned.message).toContain(
      `lease ${ns}/work was deleted without its finalizer while no operator watched it`,
    );
    await eventually("the lease's pod evicted as an orphan", async () => {
      const worker = (await podsOf(admin, ns, "")).find((p) => p.metadata?.name === "worker");
      return worker === undefined || worker.metadata?.deletionTimestamp ? true : undefined;
    });
  });
});

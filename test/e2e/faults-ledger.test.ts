/**
 * Exactly-once billing: hundreds of Active leases deleted at once each enter their tenant's ledger
 * once, with their final usage, also when the operator is killed between the ledger write and the
 * finalizer removals (docs/adr/0006). The audit log tells when the ledger was written.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { API_GROUP, API_VERSION, type GpuLease } from "../../src/api/index.ts";
import { clientNodeAccess } from "../../src/kube/cluster-access.ts";
import { Informer } from "../../src/kube/informer.ts";
import { KubeRest } from "../../src/kube/rest.ts";
import {
  controlPlaneControl,
  OPERATOR_USER,
  operatorKubeconfig,
  tailAudit,
} from "../support/control-plane.ts";
import {
  addPool,
  createLease,
  createTenant,
  getQuota,
  inParallel,
  leasesIn,
  uniqueId,
} from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";

const control = controlPlaneControl();
const LEASES = Number(process.env.GPULEASE_LEDGER_LEASES ?? 200);
const pool = uniqueId("pool-ledger");
const model = uniqueId("MODEL");
let clients: KubeClients;
let operator: OperatorProcess | undefined;

function newOperator(): OperatorProcess {
  return new OperatorProcess({
    kubeconfig: operatorKubeconfig(),
    config: { lendableNodeSelector: { "gpulease.io/pool": pool }, meteringInterval: "10s" },
  });
}

beforeAll(async () => {
  if (!control) return;
  clients = kubeClients(inject("kubeconfig"));
  await addPool(clients, pool, 8, { gpus: 64, product: model }); // 512 GPUs
  operator = newOperator();
  await operator.start();
}, 120_000);

afterAll(async () => {
  if (operator) expect(await operator.stop()).toBe(0);
});

/** A tenant with LEASES Active 1-GPU leases in two namespaces, and a watch on their last states. */
async function tenantWithActiveLeases() {
  const { tenant, namespaces } = await createTenant(clients, { limits: [{ maxGpus: 1000 }] }, 2);
  const names = Array.from({ length: LEASES }, (_, i) => ({
    namespace: namespaces[i % 2] as string,
    name: `l${i}`,
  }));
  await inParallel(names, 16, ({ namespace, name }) =>
    createLease(clients, namespace, name, { gpus: 1, gpuModel: model }),
  );
  let active = 0;
  await eventually(
    `${LEASES} leases Active`,
    async () => {
      const leases = await leasesIn(clients, namespaces);
      active = leases.filter((l) => l.status?.phase === "Active").length;
      return active === LEASES ? true : undefined;
    },
    60_000,
    500,
  ).catch((error) => {
    throw new Error(`${String(error)}: ${active} Active`);
  });
  // Each lease's final state as the API server last served it: a DELETED event carries it.
  const gone = new Map<string, GpuLease>();
  const informer = new Informer(
    "gpuleases",
    new KubeRest(clientNodeAccess(clients.config)),
    "/apis/gpulease.io/v1alpha1/gpuleases",
    {
      watchdogMs: 60_000,
    },
  );
  informer.onChange((type, object) => {
    const lease = object as unknown as GpuLease;
    if (type === "delete" && namespaces.includes(lease.metadata?.namespace ?? ""))
      gone.set(lease.metadata?.uid ?? "", lease);
  });
  informer.start();
  await informer.waitForSync();
  return { tenant, namespaces, gone, stopWatch: () => informer.stop() };
}

async function deleteAll(namespaces: string[]): Promise<void> {
  await Promise.all(
    namespaces.map((namespace) =>
      clients.custom.deleteCollectionNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        namespace,
        plural: "gpuleases",
      }),
    ),
  );
}

/** Every lease gone, each billed exactly once: the ledger rose by LEASES and by their final usage. */
async function expectLedgerExact(
  tenant: string,
  namespaces: string[],
  gone: Map<string, GpuLease>,
  before: { retiredLeases: number; gpuSeconds: number },
) {
  let left = -1;
  await eventually(
    "every lease gone",
    async () => {
      left = (await leasesIn(clients, namespaces)).length;
      return left === 0 && gone.size === LEASES ? true : undefined;
    },
    60_000,
    200,
  ).catch((error) => {
    throw new Error(`${String(error)}: ${left} leases left, ${gone.size} deletions seen`);
  });
  const finals = [...gone.values()];
  let sum = 0;
  for (const lease of finals) {
    expect(lease.status?.phase, `${lease.metadata?.name}`).toBe("Ended");
    expect(lease.status?.endReason).toBe("Released");
    // Its charge is its allocated GPU-time: 1 GPU from admission to the end.
    const held = Date.parse(lease.status?.endedAt ?? "") - Date.parse(lease.status?.admittedAt ?? "");
    expect(Math.abs((lease.status?.usage?.gpuSeconds ?? 0) - Math.floor(held / 1000))).toBeLessThanOrEqual(1);
    sum += lease.status?.usage?.gpuSeconds ?? 0;
  }
  expect(sum).toBeGreaterThan(0);
  let last: unknown;
  const quota = await eventually("the ledger settled", async () => {
    const q = await getQuota(clients, tenant);
    last = {
      ...q.status?.ledger,
      foldedUids: q.status?.ledger?.foldedUids?.length,
      allocated: q.status?.allocated,
    };
    return q.status?.ledger?.retiredLeases === before.retiredLeases + LEASES &&
      q.status?.allocated?.activeLeases === 0
      ? q
      : undefined;
  }).catch((error) => {
    throw new Error(
      `${String(error)}; ledger ${JSON.stringify(last)}, before ${JSON.stringify(before)}, final usage ${sum}`,
    );
  });
  expect(quota.status?.ledger?.retiredLeases).toBe(before.retiredLeases + LEASES);
  expect(quota.status?.ledger?.gpuSeconds).toBe(before.gpuSeconds + sum);
  // The tenant's ResourceQuotas equal its Active leases: none.
  for (const namespace of namespaces) {
    const rq = await clients.core.readNamespacedResourceQuota({ name: "gpulease", namespace });
    expect(rq.spec?.hard?.[`requests.nvidia.com/gpu`]).toBe("0");
  }
  // UIDs of leases that are gone are pruned only at the tenant's next status write: report them.
  return { sum, staleUids: quota.status?.ledger?.foldedUids?.length ?? 0 };
}

async function ledgerOf(tenant: string) {
  const ledger = (await getQuota(clients, tenant)).status?.ledger;
  return { retiredLeases: ledger?.retiredLeases ?? 0, gpuSeconds: ledger?.gpuSeconds ?? 0 };
}

describe.skipIf(!control)(`exactly-once billing of ${LEASES} leases deleted at once`, () => {
  it("folds each deleted lease into the ledger once, with its final usage", async () => {
    const { tenant, namespaces, gone, stopWatch } = await tenantWithActiveLeases();
    const before = await ledgerOf(tenant);
    const deletedAt = Date.now();
    await deleteAll(namespaces);
    const { sum, staleUids } = await expectLedgerExact(tenant, namespaces, gone, before);
    stopWatch();
    console.log(
      `[faults] ${LEASES} leases deleted at once: all gone and folded in ${Date.now() - deletedAt} ms, ` +
        `ledger +${LEASES} leases, +${sum} GPU-seconds; ${staleUids} UIDs of gone leases still in foldedUids`,
    );
  }, 150_000);

  it("killed between the ledger write and the finalizer removals: no lease billed twice", async () => {
    if (!control) return;
    const { tenant, namespaces, gone, stopWatch } = await tenantWithActiveLeases();
    const before = await ledgerOf(tenant);
    const audit = tailAudit(control.handle.dir);
    await deleteAll(namespaces);
    // On each ledger write (a TenantQuota status by the operator), freeze the operator at once and look:
    // folded leases whose finalizer is still there are the window a crash must not bill twice.
    let window: { folded: number; present: number; foldedAndPresent: number } | undefined;
    await eventually(
      "a ledger write with folded leases still present",
      async () => {
        const written = audit
          .poll()
          .some(
            (e) =>
              e.username === OPERATOR_USER &&
              e.objectRef.resource === "tenantquotas" &&
              e.objectRef.subresource === "status" &&
              e.objectRef.name === tenant,
          );
        if (!written || !operator) return undefined;
        process.kill(operator.pid, "SIGSTOP");
        const quota = await getQuota(clients, tenant);
        const folded = new Set(quota.status?.ledger?.foldedUids ?? []);
        const present = await leasesIn(clients, namespaces);
        const foldedAndPresent = present.filter((l) => folded.has(l.metadata?.uid ?? "")).length;
        if (foldedAndPresent > 0) {
          window = { folded: folded.size, present: present.length, foldedAndPresent };
          return true;
        }
        process.kill(operator.pid, "SIGCONT");
        return undefined;
      },
      60_000,
      2,
    );
    await operator?.kill(); // SIGKILL ends a stopped process too
    operator = newOperator();
    await operator.start();
    const { sum, staleUids } = await expectLedgerExact(tenant, namespaces, gone, before);
    stopWatch();
    console.log(
      `[faults] operator killed with ${window?.folded} leases folded in the ledger, ` +
        `${window?.foldedAndPresent} of them still holding their finalizer (${window?.present} leases left); ` +
        `after the restart the ledger rose by exactly ${LEASES} leases and ${sum} GPU-seconds; ${staleUids} UIDs of gone leases still in foldedUids`,
    );
  }, 150_000);
});

/**
 * A burst of 1,000 leases and their pods on 40 nodes, far more writes than one pass carries out:
 * every GPU that can be admitted is admitted, no pod runs outside a written allocation, and what the
 * tenant sees (Events, ResourceQuota, TenantQuota status) matches what was written.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { TenantQuota } from "../../src/api/index.ts";
import {
  addPool,
  createLease,
  createLeasedPod,
  createTenant,
  getQuota,
  inParallel,
  leasesIn,
} from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { operatorForThisFile } from "../support/operator-process.ts";

const NODES = 40;
const LEASES = 1000;
const GPUS = NODES * 8;

let clients: KubeClients;
const { pool } = operatorForThisFile("pool-burst", { meteringInterval: "1m" });
let tenant: string;
let namespaces: string[];

beforeAll(async () => {
  clients = kubeClients(inject("kubeconfig"));
  const created = await createTenant(clients, { limits: [{ maxGpus: 2000 }] }, 4);
  tenant = created.tenant;
  namespaces = created.namespaces;
}, 120_000);

afterAll(async () => {
  for (const namespace of namespaces ?? []) await clients.core.deleteNamespace({ name: namespace });
});

describe("a burst of 1,000 leases and pods on 40 nodes", () => {
  it("admits every GPU that fits, binds only inside written allocations, and reports what was written", async () => {
    const nodes = await addPool(clients, pool, NODES);
    const work = Array.from({ length: LEASES }, (_, i) => ({
      namespace: namespaces[i % namespaces.length] as string,
      name: `burst-${i}`,
    }));
    // Leases all at once while the operator runs; each lease's pod created as a controller would:
    // retried until the namespace's ResourceQuota (raised as leases turn Active) accepts it.
    await inParallel(work, 24, ({ namespace, name }) => createLease(clients, namespace, name, { gpus: 1 }));
    const created = new Set<string>();
    let stop = false;
    const podCreator = (async () => {
      while (!stop) {
        await inParallel(
          work.filter((w) => !created.has(w.name)),
          48,
          async ({ namespace, name }) => {
            try {
              await createLeasedPod(clients, namespace, `${name}-pod`, name, 1);
              created.add(name);
            } catch {
              // refused by the quota until the lease is Active: try again next round
            }
          },
        );
        await new Promise((r) => setTimeout(r, 500));
      }
    })();

    let progress = "";
    const settled = await eventually(
      "every GPU of the pool admitted, the quota full of pods, every pod of an Active lease bound",
      async () => {
        const all = await leasesIn(clients, namespaces);
        const active = all.filter((l) => l.status?.phase === "Active");
        const activeKeys = new Set(active.map((l) => `${l.metadata?.namespace}/${l.metadata?.name}`));
        const pods = (
          await Promise.all(namespaces.map((namespace) => clients.core.listNamespacedPod({ namespace })))
        ).flatMap((list) => list.items);
        const gated = (p: (typeof pods)[number]) =>
          (p.spec?.schedulingGates ?? []).some((g) => g.name === "gpulease.io/lease");
        const ofActive = pods.filter((p) =>
          activeKeys.has(`${p.metadata?.namespace}/${p.metadata?.labels?.["gpulease.io/lease"]}`),
        );
        const ungated = pods.filter((p) => !gated(p));
        progress = `${active.length} Active, ${all.filter((l) => l.status?.phase === undefined).length} without status, ${pods.length} pods, ${ofActive.length} of Active leases, ${ungated.length} ungated`;
        // The namespace ResourceQuota counts a namespace's pods, not a lease's, and is raised before the
        // statuses of its batch are written (so a pod can be created as soon as its lease is Active): a
        // pod of a Pending lease may get in meanwhile. It stays gated and holds no GPU.
        const done =
          active.length === GPUS &&
          ofActive.every((p) => !gated(p)) &&
          pods.filter((p) => !ofActive.includes(p)).every(gated);
        return done ? { all, active, pods, ungated } : undefined;
      },
      240_000,
      1000,
    ).finally(() => {
      stop = true;
      console.log(`burst: ${progress}`);
    });
    await podCreator;

    // Every GPU admitted once: the pool is full, no node is promised more than it has. (A tenant's pods
    // of Pending leases also hold its namespace quota: they stay gated until their lease is Active.)
    const promised = new Map<string, number>();
    for (const lease of settled.active)
      for (const a of lease.status?.allocations ?? [])
        promised.set(a.node, (promised.get(a.node) ?? 0) + a.gpus);
    expect([...promised.keys()].every((n) => nodes.includes(n))).toBe(true);
    expect([...promised.values()].every((gpus) => gpus === 8)).toBe(true);
    expect(
      settled.all
        .filter((l) => l.status?.phase === "Pending")
        .every((l) => l.status?.reason === "InsufficientCapacity"),
    ).toBe(true);

    // No stray pod: every ungated pod belongs to an Active lease and is pinned to one of its nodes.
    const byKey = new Map(settled.active.map((l) => [`${l.metadata?.namespace}/${l.metadata?.name}`, l]));
    for (const p of settled.ungated) {
      const lease = byKey.get(`${p.metadata?.namespace}/${p.metadata?.labels?.["gpulease.io/lease"]}`);
      expect(lease, `pod ${p.metadata?.name} ungated for a lease that is not Active`).toBeDefined();
      const pinned =
        p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms
          ?.flatMap((t) => t.matchFields ?? [])
          .find((f) => f.key === "metadata.name")?.values?.[0];
      expect((lease?.status?.allocations ?? []).map((a) => a.node)).toContain(pinned);
    }

    // The tenant sees what was written: quotas equal Active leases; one Admitted Event per admission.
    for (const namespace of namespaces) {
      const held = settled.active.filter((l) => l.metadata?.namespace === namespace).length;
      await eventually(`ResourceQuota of ${namespace} at ${held}`, async () => {
        const rq = await clients.core.readNamespacedResourceQuota({ name: "gpulease", namespace });
        return rq.spec?.hard?.["requests.nvidia.com/gpu"] === String(held) ? true : undefined;
      });
    }
    const summary: TenantQuota = await eventually("TenantQuota status counts what was written", async () => {
      const q = await getQuota(clients, tenant);
      return q.status?.allocated?.activeLeases === GPUS ? q : undefined;
    });
    expect(summary.status?.allocated?.gpus).toBe(GPUS);
    expect(summary.status?.allocated?.pendingLeases).toBe(LEASES - GPUS);
    const admittedEvents = await eventually(
      "the Admitted Events",
      async () => {
        const events = (
          await Promise.all(
            namespaces.map((namespace) =>
              clients.core.listNamespacedEvent({ namespace, fieldSelector: "reason=Admitted" }),
            ),
          )
        ).flatMap((list) => list.items);
        return events.length >= GPUS ? events : undefined;
      },
      60_000,
      1000,
    );
    const announced = admittedEvents.map((e) => `${e.involvedObject.namespace}/${e.involvedObject.name}`);
    expect(new Set(announced).size).toBe(announced.length);
    expect(announced.every((key) => byKey.has(key))).toBe(true);
    expect(admittedEvents.every((e) => (e.count ?? 1) === 1)).toBe(true);
  }, 420_000);
});

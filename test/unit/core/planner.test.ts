import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountNodes } from "../../../src/core/accounting.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { afterWrites, arbitraryCluster, buildCluster } from "../../support/arbitrary-cluster.ts";
import { H100, lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const acme = [quota("acme", { limits: [{ maxGpus: 32, maxReservedGpus: 8 }] })];
const acmeNs = [tenantNs("acme-prod", "acme")];

function statusOf(plan: ReturnType<typeof planCluster>, name: string) {
  return plan.leaseStatuses.find((s) => s.lease.name === name)?.status;
}

describe("admission", () => {
  it("admits a lease, places it, lends its nodes and raises the namespace's ResourceQuota", () => {
    const snap = snapshot({
      nodes: [node("n1"), node("n2")],
      namespaces: acmeNs,
      quotas: acme,
      leases: [lease("acme-prod", "train", { gpus: 12, duration: "2h" })],
    });
    const plan = planCluster(snap);
    const status = statusOf(plan, "train");
    expect(status?.phase).toBe("Active");
    expect(status?.allocations?.map((a) => a.gpus).reduce((a, b) => a + b)).toBe(12);
    expect(status?.expiresAt).toBe(new Date(T0 + 2 * 3600_000).toISOString());
    expect(plan.lendNodes.map((c) => c.node)).toEqual(["n1", "n2"]);
    expect(plan.resourceQuotas).toEqual([
      {
        namespace: "acme-prod",
        // All of n1 and half of n2 (96 CPUs, 1 TiB and 110 pods each).
        hard: {
          "requests.nvidia.com/gpu": "12",
          "requests.cpu": "144000m",
          "requests.memory": String(1.5 * 2 ** 40),
          pods: "165",
        },
      },
    ]);
    expect(plan.events.map((e) => e.reason)).toContain("Admitted");
  });

  it("packs the plan's admissions again when a lease fits only that way, keeping every earlier one", () => {
    // First fit puts "first" (6 GPUs) on the 8-GPU node, where "gang" needs all 8 on one node;
    // packed together, "gang" takes the 8-GPU node and "first" the two 4-GPU ones.
    const snap = snapshot({
      nodes: [
        node("big"),
        node("small-a", { gpus: { "nvidia.com/gpu": 4 } }),
        node("small-b", { gpus: { "nvidia.com/gpu": 4 } }),
      ],
      namespaces: acmeNs,
      quotas: acme,
      leases: [
        lease("acme-prod", "first", { gpus: 6 }, { createdAt: T0 - 10 }),
        lease("acme-prod", "gang", { gpus: 8, gpusPerNode: 8 }),
      ],
    });
    const plan = planCluster(snap);
    expect(statusOf(plan, "first")).toMatchObject({
      phase: "Active",
      allocations: [
        { node: "small-a", gpus: 4 },
        { node: "small-b", gpus: 2 },
      ],
    });
    expect(statusOf(plan, "gang")).toMatchObject({
      phase: "Active",
      allocations: [{ node: "big", gpus: 8 }],
    });
    expect(plan.lendNodes.map((c) => c.node).sort()).toEqual(["big", "small-a", "small-b"]);
    // Written and planned again, the same admissions hold: nothing over-allocated.
    const after = accountNodes(afterWrites(snap, plan));
    expect([...after.values()].every((a) => a.free >= 0)).toBe(true);
  });

  it("moves an admission without a model to another model when a pinned lease fits only that way", () => {
    // "any" goes first to the node already lent, the only H100; packed again, it lends the L40S node.
    const snap = snapshot({
      nodes: [node("h100", { lent: true }), node("l40s", { gpuModel: "NVIDIA-L40S" })],
      namespaces: acmeNs,
      quotas: acme,
      leases: [
        lease("acme-prod", "any", { gpus: 8, gpusPerNode: 8 }, { createdAt: T0 - 10 }),
        lease("acme-prod", "pinned", { gpus: 8, gpuModel: H100 }),
      ],
    });
    const plan = planCluster(snap);
    expect(statusOf(plan, "pinned")).toMatchObject({
      phase: "Active",
      allocations: [{ node: "h100", gpus: 8 }],
    });
    expect(statusOf(plan, "any")).toMatchObject({
      phase: "Active",
      allocations: [{ node: "l40s", gpus: 8 }],
    });
    expect(plan.lendNodes.map((c) => c.node)).toEqual(["l40s"]);
  });

  it("keeps a lease Pending with QuotaExceeded when the tenant is at its limit", () => {
    const snap = snapshot({
      nodes: [node("n1"), node("n2"), node("n3"), node("n4"), node("n5")],
      namespaces: acmeNs,
      quotas: acme,
      leases: [
        lease("acme-prod", "big", { gpus: 24 }, { createdAt: T0 - 10 }),
        lease("acme-prod", "more", { gpus: 16 }),
      ],
    });
    const plan = planCluster(snap);
    expect(statusOf(plan, "big")?.phase).toBe("Active");
    expect(statusOf(plan, "more")).toMatchObject({ phase: "Pending", reason: "QuotaExceeded" });
  });

  it("rejects what can never fit, with a reason a tenant understands", () => {
    const snap = snapshot({
      nodes: [node("n1")],
      namespaces: acmeNs,
      quotas: [quota("acme", { limits: [{ maxGpus: 8 }], maxLeaseDuration: "4h" })],
      leases: [
        lease("acme-prod", "huge", { gpus: 9 }),
        lease("acme-prod", "long", { gpus: 1, duration: "5h" }),
        lease("acme-prod", "reserved", { gpus: 1, class: "Reserved", duration: "1h" }),
      ],
    });
    const plan = planCluster(snap);
    expect(statusOf(plan, "huge")).toMatchObject({
      phase: "Ended",
      endReason: "Rejected",
      reason: "ExceedsQuota",
    });
    expect(statusOf(plan, "long")).toMatchObject({
      phase: "Ended",
      endReason: "Rejected",
      reason: "ExceedsMaxLeaseDuration",
    });
    expect(statusOf(plan, "reserved")).toMatchObject({ phase: "Ended", reason: "ExceedsReservedQuota" });
  });

  it("waits with NoMatchingNodes for a model no node has, and InsufficientCapacity on fragments", () => {
    const snap = snapshot({
      nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
      pods: [
        pod("acme-prod", "p1", {
          nodeName: "n1",
          phase: "Running",
          gpus: { "nvidia.com/gpu": 3 },
          lease: "held",
        }),
        pod("acme-prod", "p2", {
          nodeName: "n2",
          phase: "Running",
          gpus: { "nvidia.com/gpu": 3 },
          lease: "held",
        }),
      ],
      namespaces: acmeNs,
      quotas: [quota("acme", { limits: [{ maxGpus: 64 }, { gpuModel: "NVIDIA-A100", maxGpus: 8 }] })],
      leases: [
        lease("acme-prod", "a100", { gpus: 1, gpuModel: "NVIDIA-A100" }),
        lease("acme-prod", "whole", { gpus: 8, gpusPerNode: 8 }),
      ],
    });
    const plan = planCluster(snap);
    expect(statusOf(plan, "a100")).toMatchObject({ phase: "Pending", reason: "NoMatchingNodes" });
    expect(statusOf(plan, "whole")).toMatchObject({ phase: "Pending", reason: "InsufficientCapacity" });
  });

  it("serves tenants fairly: the one using less of its quota goes first", () => {
    const snap = snapshot({
      nodes: [node("n1"), node("n2")],
      namespaces: [tenantNs("a-ns", "a"), tenantNs("b-ns", "b")],
      quotas: [quota("a", { limits: [{ maxGpus: 16 }] }), quota("b", { limits: [{ maxGpus: 16 }] })],
      leases: [
        lease("a-ns", "a1", { gpus: 4 }, { createdAt: T0 - 4 }),
        lease("a-ns", "a2", { gpus: 4 }, { createdAt: T0 - 3 }),
        lease("a-ns", "a3", { gpus: 4 }, { createdAt: T0 - 2 }),
        lease("b-ns", "b1", { gpus: 4 }, { createdAt: T0 - 1 }),
        lease("b-ns", "b2", { gpus: 4 }, { createdAt: T0 }),
      ],
    });
    const plan = planCluster(snap);
    const active = plan.leaseStatuses.filter((s) => s.status.phase === "Active").map((s) => s.lease.name);
    // 16 GPUs: two leases each, although tenant a asked first.
    expect(active.sort()).toEqual(["a1", "a2", "b1", "b2"]);
  });

  it("serves a higher-priority tenant first", () => {
    const snap = snapshot({
      nodes: [node("n1")],
      namespaces: [tenantNs("a-ns", "a"), tenantNs("b-ns", "b")],
      quotas: [quota("a", { priority: 1 }), quota("b", { priority: 50 })],
      leases: [lease("a-ns", "a1", { gpus: 8 }, { createdAt: T0 - 100 }), lease("b-ns", "b1", { gpus: 8 })],
    });
    const plan = planCluster(snap);
    expect(statusOf(plan, "b1")?.phase).toBe("Active");
    expect(statusOf(plan, "a1")?.reason).toBe("InsufficientCapacity");
  });

  it("does not lend a node busy with internal GPU pods, nor one still inside its idle period", () => {
    const busy = node("busy");
    const fresh = node("fresh", {
      annotations: { "gpulease.io/idle-since": new Date(T0 - 60_000).toISOString() },
    });
    const snap = snapshot({
      settings: {
        idlePeriodMs: 5 * 60_000,
        headroomGpus: 0,
        resourceNames: ["nvidia.com/gpu"],
        expiryWarningMs: 0,
        meteringIntervalMs: 0,
        evictionGraceMs: 0,
      },
      nodes: [busy, fresh],
      pods: [pod("training", "trainer", { nodeName: "busy", phase: "Running" })],
      namespaces: acmeNs,
      quotas: acme,
      leases: [lease("acme-prod", "l", { gpus: 1 })],
    });
    const plan = planCluster(snap);
    expect(statusOf(plan, "l")?.phase).toBe("Pending");
    expect(plan.wakeAt).toBe(T0 + 4 * 60_000);
    const later = planCluster({ ...snap, now: T0 + 4 * 60_000 });
    expect(statusOf(later, "l")?.allocations).toEqual([
      { node: "fresh", gpus: 1, since: new Date(T0 + 240_000).toISOString() },
    ]);
  });

  it("reports a lease in a namespace no tenant owns instead of failing", () => {
    const snap = snapshot({ nodes: [node("n1")], leases: [lease("stray", "l", { gpus: 1 })] });
    expect(statusOf(planCluster(snap), "l")).toMatchObject({
      phase: "Pending",
      reason: "NotATenantNamespace",
    });
  });
});

describe("lifecycle", () => {
  const active = (name: string, spec: Record<string, unknown>, admittedAt = T0) =>
    lease("acme-prod", name, spec, {
      status: {
        phase: "Active",
        admittedAt: new Date(admittedAt).toISOString(),
        allocations: [{ node: "n1", gpus: spec.gpus as number, since: new Date(admittedAt).toISOString() }],
        pricing: { perGpuHour: "1.20", currency: "USD" },
      },
    });

  it("warns before expiry, then ends the lease as Expired and evicts its pods", () => {
    const l = active("l", { gpus: 2, duration: "1h" });
    const pods = [
      pod("acme-prod", "p", { nodeName: "n1", phase: "Running", gpus: { "nvidia.com/gpu": 2 }, lease: "l" }),
    ];
    const base = snapshot({
      nodes: [node("n1", { lent: true })],
      namespaces: acmeNs,
      quotas: acme,
      leases: [l],
      pods,
    });
    const warned = planCluster({ ...base, now: T0 + 56 * 60_000 });
    expect(statusOf(warned, "l")?.conditions?.find((c) => c.type === "ExpiringSoon")?.status).toBe("True");
    expect(warned.wakeAt).toBe(T0 + 3600_000);
    const expired = planCluster({ ...base, now: T0 + 3600_000 + 500 });
    expect(statusOf(expired, "l")).toMatchObject({
      phase: "Ended",
      endReason: "Expired",
      endedAt: new Date(T0 + 3600_000).toISOString(),
      usage: { gpuSeconds: 7200, charges: "2.40" },
    });
    expect(expired.evictions.map((e) => e.pod.name)).toEqual(["p"]);
  });

  it("releases a deleted lease: pods evicted first, usage folded into the ledger, then the finalizer goes", () => {
    const l = { ...active("l", { gpus: 4 }), deleting: true };
    const running = pod("acme-prod", "p", {
      nodeName: "n1",
      phase: "Running",
      gpus: { "nvidia.com/gpu": 4 },
      lease: "l",
    });
    const base = snapshot({
      now: T0 + 1800_000,
      nodes: [node("n1", { lent: true })],
      namespaces: acmeNs,
      quotas: acme,
      leases: [l],
      pods: [running],
    });
    const first = planCluster(base);
    expect(statusOf(first, "l")).toMatchObject({
      phase: "Ended",
      endReason: "Released",
      usage: { gpuSeconds: 7200 },
    });
    expect(first.evictions.length).toBe(1);
    expect(first.removeFinalizers).toEqual([]);
    // Pods gone: the ledger takes the usage; the finalizer stays until the ledger is written.
    const ended = { ...l, status: statusOf(first, "l") ?? {} };
    const second = planCluster({ ...base, leases: [ended], pods: [] });
    const quotaStatus = second.quotaStatuses[0]?.status;
    expect(quotaStatus?.ledger).toMatchObject({ retiredLeases: 1, gpuSeconds: 7200, foldedUids: [l.uid] });
    expect(second.removeFinalizers).toEqual([]);
    const third = planCluster({
      ...base,
      leases: [ended],
      pods: [],
      quotas: [{ ...acme[0], status: quotaStatus ?? {} } as (typeof acme)[0]],
    });
    expect(third.removeFinalizers.map((x) => x.name)).toEqual(["l"]);
    expect(third.quotaStatuses).toEqual([]); // nothing counted twice
  });

  it("binds gated pods to the lease's nodes with room, and keeps a pod that asks too much gated", () => {
    const l = lease(
      "acme-prod",
      "l",
      { gpus: 4 },
      {
        status: {
          phase: "Active",
          admittedAt: new Date(T0).toISOString(),
          allocations: [
            { node: "n1", gpus: 2 },
            { node: "n2", gpus: 2 },
          ],
        },
      },
    );
    const pods = [
      pod("acme-prod", "a", { gated: true, lease: "l", gpus: { "nvidia.com/gpu": 2 }, createdAt: T0 }),
      pod("acme-prod", "b", { gated: true, lease: "l", gpus: { "nvidia.com/gpu": 2 }, createdAt: T0 + 1 }),
      pod("acme-prod", "c", { gated: true, lease: "l", gpus: { "nvidia.com/gpu": 1 }, createdAt: T0 + 2 }),
    ];
    const plan = planCluster(
      snapshot({
        nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
        namespaces: acmeNs,
        quotas: acme,
        leases: [l],
        pods,
      }),
    );
    expect(plan.bindings.map((b) => [b.pod.name, b.node])).toEqual([
      ["a", "n1"],
      ["b", "n2"],
    ]);
    expect(plan.events.find((e) => e.name === "c")?.reason).toBe("ExceedsLease");
  });

  it("says so when a lease's node is not Ready", () => {
    const l = active("l", { gpus: 2 });
    const plan = planCluster(
      snapshot({
        nodes: [node("n1", { lent: true, ready: false })],
        namespaces: acmeNs,
        quotas: acme,
        leases: [l],
      }),
    );
    expect(statusOf(plan, "l")?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "NodeUnavailable",
    });
  });

  it("ends a lease whose node was deleted: usage stops when the node was seen gone, the quota drops", () => {
    const l = active("l", { gpus: 8 }, T0 - 3_600_000);
    const plan = planCluster(
      snapshot({ nodes: [node("n2")], namespaces: acmeNs, quotas: acme, leases: [l] }),
    );
    expect(statusOf(plan, "l")).toMatchObject({
      phase: "Ended",
      endReason: "NodeLost",
      allocations: [],
      usage: { gpuSeconds: 8 * 3600, charges: "9.60" }, // 8 GPUs for the hour before, at 1.20
    });
    expect(plan.events.find((e) => e.name === "l")?.reason).toBe("NodeLost");
    expect(plan.resourceQuotas).toEqual([
      {
        namespace: "acme-prod",
        hard: { "requests.nvidia.com/gpu": "0", "requests.cpu": "0m", "requests.memory": "0", pods: "0" },
      },
    ]);
  });

  it("shrinks a lease that allows partial reclaim to the nodes it still has when one is deleted", () => {
    const since = new Date(T0 - 3_600_000).toISOString();
    const l = lease(
      "acme-prod",
      "l",
      { gpus: 16, gpusPerNode: 8, allowPartialReclaim: true },
      {
        status: {
          phase: "Active",
          admittedAt: since,
          allocations: [
            { node: "gone", gpus: 8, since },
            { node: "n1", gpus: 8, since },
          ],
          pricing: { perGpuHour: "1.20", currency: "USD" },
        },
      },
    );
    const later = T0 + 3_600_000;
    const first = planCluster(
      snapshot({ nodes: [node("n1", { lent: true })], namespaces: acmeNs, quotas: acme, leases: [l] }),
    );
    const shrunk = statusOf(first, "l");
    expect(shrunk).toMatchObject({
      phase: "Active",
      reason: "NodeLost",
      allocations: [{ node: "n1", gpus: 8 }],
    });
    expect(first.resourceQuotas[0]?.hard["requests.nvidia.com/gpu"]).toBe("8");
    // An hour later, only the remaining node is billed for it.
    const second = planCluster(
      snapshot({
        now: later,
        nodes: [node("n1", { lent: true })],
        namespaces: acmeNs,
        quotas: acme,
        leases: [{ ...l, status: shrunk ?? {} }],
      }),
    );
    expect(statusOf(second, "l")?.usage?.gpuSeconds).toBe(8 * 3600 * 2 + 8 * 3600);
  });

  it("cleans up a node that left the pool once, then leaves it alone", () => {
    const left = node("gone-from-pool", {
      lendable: false,
      labels: { "gpulease.io/state": "Internal" },
      annotations: { "gpulease.io/idle-since": new Date(T0).toISOString() },
    });
    const first = planCluster(snapshot({ nodes: [left], namespaces: acmeNs, quotas: acme }));
    expect(first.nodeChanges).toEqual([
      { node: "gone-from-pool", lent: undefined, idleSince: null, stateLabel: null },
    ]);
    const cleaned = { ...left, labels: {}, annotations: {} };
    const second = planCluster(snapshot({ nodes: [cleaned], namespaces: acmeNs, quotas: acme }));
    expect(second.nodeChanges).toEqual([]);
  });

  it("returns a lent node with nothing on it to internal use", () => {
    const plan = planCluster(
      snapshot({ nodes: [node("n1", { lent: true })], namespaces: acmeNs, quotas: acme }),
    );
    expect(plan.nodeChanges).toContainEqual(expect.objectContaining({ node: "n1", lent: false }));
  });

  it("keeps a node lent while a tenant pod still holds GPUs there (terminating)", () => {
    const p = pod("acme-prod", "p", { nodeName: "n1", phase: "Running", terminating: true, lease: "gone" });
    const plan = planCluster(
      snapshot({ nodes: [node("n1", { lent: true })], namespaces: acmeNs, quotas: acme, pods: [p] }),
    );
    expect(plan.nodeChanges.find((c) => c.node === "n1")?.lent).toBeUndefined();
  });
});

describe("invariants (property tests)", () => {
  it("never promises a GPU twice, never exceeds a quota, and plans the same way twice", () => {
    fc.assert(
      fc.property(arbitraryCluster, (c) => {
        const snap = buildCluster(c);
        const plan = planCluster(snap);
        const after = afterWrites(snap, plan);
        // No node over-allocated: held GPUs never exceed capacity where they did not already.
        for (const account of accountNodes(after).values()) {
          const before = accountNodes(snap).get(account.node.name);
          if ((before?.free ?? 0) >= 0) expect(account.free).toBeGreaterThanOrEqual(0);
        }
        // No quota exceeded.
        for (const q of after.quotas) {
          const held = after.leases.filter(
            (l) => l.namespace === `${q.name}-ns` && l.status.phase === "Active",
          );
          for (const limit of q.spec.limits) {
            const counted = held.filter(
              (l) =>
                (l.spec.gpuModel === H100 && limit.gpuModel === H100) ||
                (limit.gpuModel === undefined && l.spec.gpuModel !== H100),
            );
            expect(counted.reduce((s, l) => s + l.spec.gpus, 0)).toBeLessThanOrEqual(limit.maxGpus);
            const reserved = counted
              .filter((l) => l.spec.class === "Reserved")
              .reduce((s, l) => s + l.spec.gpus, 0);
            expect(reserved).toBeLessThanOrEqual(limit.maxReservedGpus ?? 0);
          }
        }
        // Allocations match the lease and its block size.
        for (const l of after.leases.filter((x) => x.status.phase === "Active")) {
          const allocations = l.status.allocations ?? [];
          expect(allocations.reduce((s, a) => s + a.gpus, 0)).toBe(l.spec.gpus);
          for (const a of allocations) expect(a.gpus % (l.spec.gpusPerNode ?? 1)).toBe(0);
        }
        // Deterministic, and a second pass over the result admits nothing new twice.
        expect(planCluster(snap).leaseStatuses).toEqual(plan.leaseStatuses);
        const again = planCluster(after);
        for (const s of again.leaseStatuses) {
          const before = after.leases.find((l) => l.uid === s.lease.uid);
          if (before?.status.phase === "Active")
            expect(s.status.allocations).toEqual(before.status.allocations);
        }
      }),
      { numRuns: 300 },
    );
  });
});

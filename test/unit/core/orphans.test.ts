import { describe, expect, it } from "vitest";
import type { ClusterSnapshot, LeaseView, PodView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60_000;
const GRACE = 30_000;

function active(ns: string, name: string, nodes: [string, number][]): LeaseView {
  return lease(
    ns,
    name,
    { gpus: nodes.reduce((s, [, g]) => s + g, 0) },
    {
      status: {
        phase: "Active",
        admittedAt: iso(T0 - 60 * MIN),
        allocations: nodes.map(([n, gpus]) => ({ node: n, gpus, since: iso(T0 - 60 * MIN) })),
        pricing: { perGpuHour: "1", currency: "USD" },
      },
    },
  );
}

const running = (name: string, nodeName: string, over: Partial<PodView> = {}) =>
  pod("acme-ns", name, {
    nodeName,
    phase: "Running",
    gpus: { "nvidia.com/gpu": 8 },
    lease: "train",
    ...over,
  });

function world(parts: Partial<ClusterSnapshot>): ClusterSnapshot {
  return snapshot({
    namespaces: [tenantNs("acme-ns", "acme"), { name: "training", tenant: undefined }],
    quotas: [quota("acme")],
    nodes: [node("n1", { lent: true }), node("n2", { lent: true }), node("n3")],
    ...parts,
  });
}

/** The plan after `ms`, with the orphans of `earlier` carried over as the shell does. */
function later(earlier: ReturnType<typeof planCluster>, snap: ClusterSnapshot, ms: number) {
  return planCluster({
    ...snap,
    now: snap.now + ms,
    orphansSince: new Map(earlier.orphans.map((o) => [o.pod.uid, o.since])),
  });
}

describe("orphan pods on lent nodes", () => {
  it("tells a pod whose lease label was removed, evicts it after the grace, deletes it past the eviction grace", () => {
    const snap = world({
      leases: [active("acme-ns", "train", [["n1", 8]])],
      pods: [running("unlabelled", "n1", { lease: undefined })],
    });
    const first = planCluster(snap);
    expect(first.orphans.map((o) => [o.pod.name, o.node, o.since])).toEqual([["unlabelled", "n1", T0]]);
    expect(first.orphanEvictions).toEqual([]);
    expect(first.wakeAt).toBe(T0 + GRACE);
    const event = first.events.find((e) => e.reason === "Orphaned");
    expect(event).toMatchObject({ kind: "Pod", name: "unlabelled", type: "Warning" });
    expect(event?.message).toContain("carries no gpulease.io/lease label");

    const due = later(first, snap, GRACE);
    expect(due.orphanEvictions.map((e) => [e.pod.name, e.force])).toEqual([["unlabelled", false]]);
    expect(due.actions.filter((a) => a.kind === "orphanEviction").map((a) => a.id)).toEqual([
      "evict/acme-ns/unlabelled",
    ]);
    expect(due.events.filter((e) => e.reason === "Orphaned")).toEqual([]); // told once
    const forced = later(due, snap, GRACE + 30_000);
    expect(forced.orphanEvictions.map((e) => [e.pod.name, e.force])).toEqual([["unlabelled", true]]);
  });

  it("finds pods of a lease that is gone, and pods on a lent node their lease does not hold", () => {
    const snap = world({
      leases: [active("acme-ns", "train", [["n1", 8]])],
      pods: [running("ghost", "n2", { lease: "deleted-lease" }), running("astray", "n2")],
    });
    const plan = planCluster(snap);
    expect(plan.orphans.map((o) => [o.pod.name, o.why])).toEqual([
      ["ghost", "its lease deleted-lease does not exist"],
      ["astray", "its lease train holds no GPUs on node n2"],
    ]);
  });

  it("leaves pods on their lease's node, internal pods, and pods on nodes that are not lent", () => {
    const snap = world({
      leases: [active("acme-ns", "train", [["n1", 8]])],
      pods: [
        running("mine", "n1"),
        pod("training", "internal", { nodeName: "n3", phase: "Running" }),
        running("not-lent", "n3", { lease: undefined }),
      ],
    });
    expect(planCluster(snap).orphans).toEqual([]);
  });

  it("leaves the pods of an ended lease to the lease's own eviction (one eviction per pod)", () => {
    const ended = lease(
      "acme-ns",
      "train",
      { gpus: 8 },
      { status: { phase: "Ended", endReason: "Expired", allocations: [] } },
    );
    const plan = planCluster(world({ leases: [ended], pods: [running("p", "n1")] }));
    expect(plan.orphans).toEqual([]);
    expect(plan.evictions.map((e) => [e.pod.name, e.reason])).toEqual([["p", "Expired"]]);
  });
});

describe("reclaim with an orphan on a lent node", () => {
  const trainer = pod("training", "t", {
    gpus: { "nvidia.com/gpu": 8 },
    unschedulable: true,
    unschedulableSince: T0 - 1000,
    createdAt: T0 - MIN,
  });

  it("never counts the orphan's node as free, and says why", () => {
    // n1: no lease, but an orphan holds its 8 GPUs (label removed, lease deleted). n2: a lease.
    const snap = world({
      nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
      leases: [active("acme-ns", "train", [["n2", 8]])],
      pods: [running("orphan", "n1", { lease: undefined }), trainer],
    });
    const plan = planCluster(snap);
    expect(plan.reclaims.map((r) => r.nodes)).toEqual([["n2"]]);
    expect(plan.reclaimNotFree).toEqual([
      expect.stringContaining(
        "node n1 is not counted as free: tenant pods without a lease there hold 8 GPUs",
      ),
    ]);
    expect(plan.reclaimNotFree[0]).toContain("acme-ns/orphan");
  });
});

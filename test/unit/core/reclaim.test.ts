import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_RECLAIM_NOTICE_MS } from "../../../src/api/index.ts";
import { GROUP_SETTLE_MS, INCOMPLETE_GROUP_WAIT_MS } from "../../../src/core/demand.ts";
import { EVICTION_LEAD_MS } from "../../../src/core/lease-lifecycle.ts";
import type { LeaseView, PodView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60_000;

function active(
  ns: string,
  name: string,
  spec: Record<string, unknown>,
  nodes: [string, number][],
  admittedAt = T0 - 60 * MIN,
  over: Partial<LeaseView> = {},
): LeaseView {
  return lease(ns, name, spec, {
    ...over,
    status: {
      phase: "Active",
      admittedAt: iso(admittedAt),
      allocations: nodes.map(([n, gpus]) => ({ node: n, gpus, since: iso(admittedAt) })),
      pricing: { perGpuHour: "1", currency: "USD" },
    },
  });
}

const trainer = (name: string, gpus: number, over: Partial<PodView> = {}) =>
  pod("training", name, {
    gpus: { "nvidia.com/gpu": gpus },
    unschedulable: true,
    unschedulableSince: T0 - 1000,
    createdAt: T0 - 60_000,
    ...over,
  });

const tenants = {
  namespaces: [tenantNs("low-ns", "low"), tenantNs("high-ns", "high")],
  quotas: [
    quota("low", { priority: 1, reclaimNotice: "2m" }),
    quota("high", { priority: 100, reclaimNotice: "5m", minRuntime: "10m" }),
  ],
};

function statusOf(plan: ReturnType<typeof planCluster>, name: string) {
  return plan.leaseStatuses.find((s) => s.lease.name === name)?.status;
}

describe("reclaim planning", () => {
  it("takes the cheapest node back for an internal pod that cannot fit, with the tenant's notice", () => {
    const snap = snapshot({
      ...tenants,
      nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
      leases: [
        active("low-ns", "cheap", { gpus: 8 }, [["n1", 8]]),
        active("high-ns", "dear", { gpus: 8 }, [["n2", 8]]),
      ],
      pods: [trainer("t", 8)],
    });
    const plan = planCluster(snap);
    expect(plan.reclaims.map((r) => r.nodes)).toEqual([["n1"]]);
    expect(plan.reclaims[0]?.explanation).toContain("low-ns/cheap");
    const status = statusOf(plan, "cheap");
    expect(status).toMatchObject({ phase: "Reclaiming", reason: "InternalDemand" });
    expect(status?.reclaim).toMatchObject({
      requestedAt: iso(T0),
      deadline: iso(T0 + 2 * MIN),
      nodes: ["n1"],
      gpus: 8,
    });
    expect(statusOf(plan, "dear")?.phase).toBe("Active");
    expect(plan.nodeChanges).toContainEqual(
      expect.objectContaining({ node: "n1", returning: iso(T0), stateLabel: "Returning" }),
    );
    expect(plan.evictions).toEqual([]); // never before the deadline
  });

  it("gives the default notice when the tenant's quota names none", () => {
    const snap = snapshot({
      namespaces: [tenantNs("plain-ns", "plain")],
      quotas: [quota("plain")],
      nodes: [node("n1", { lent: true })],
      leases: [active("plain-ns", "l", { gpus: 8 }, [["n1", 8]])],
      pods: [trainer("t", 8)],
    });
    expect(statusOf(planCluster(snap), "l")?.reclaim?.deadline).toBe(iso(T0 + DEFAULT_RECLAIM_NOTICE_MS));
    expect(DEFAULT_RECLAIM_NOTICE_MS).toBe(2 * MIN);
  });

  it("prefers the lease with the most recent checkpoint among equal priorities", () => {
    const snap = snapshot({
      ...tenants,
      nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
      leases: [
        active("low-ns", "stale", { gpus: 8 }, [["n1", 8]]),
        active("low-ns", "fresh", { gpus: 8 }, [["n2", 8]], T0 - 60 * MIN, {
          annotations: { "gpulease.io/last-checkpoint": iso(T0 - MIN) },
        }),
      ],
      pods: [trainer("t", 8)],
    });
    expect(planCluster(snap).reclaims[0]?.nodes).toEqual(["n2"]);
  });

  it("takes one node that loses less work over two that are each cheaper", () => {
    const snap = snapshot({
      ...tenants,
      nodes: [
        node("a4", { lent: true, gpus: { "nvidia.com/gpu": 4 } }),
        node("b4", { lent: true, gpus: { "nvidia.com/gpu": 4 } }),
        node("c8", { lent: true }),
      ],
      leases: [
        // 4 GPUs × 30 min lost on each 4-GPU node; 8 GPUs × 20 min (a checkpoint) on the 8-GPU one.
        active("low-ns", "a", { gpus: 4 }, [["a4", 4]], T0 - 30 * MIN),
        active("low-ns", "b", { gpus: 4 }, [["b4", 4]], T0 - 30 * MIN),
        active("low-ns", "c", { gpus: 8 }, [["c8", 8]], T0 - 60 * MIN, {
          annotations: { "gpulease.io/last-checkpoint": iso(T0 - 20 * MIN) },
        }),
      ],
      pods: [0, 1].map((i) => trainer(`t${i}`, 4, { group: "job/x", groupSize: 2 })),
    });
    expect(planCluster(snap).reclaims[0]?.nodes).toEqual(["c8"]);
  });

  it("lets a tenant's lease priority order only its own leases, never another tenant's", () => {
    // Equal tenant priority. "pushy" loses less work (admitted 10 min ago) but raised its lease
    // priority to 1000; "modest" keeps priority 0 and has run for an hour.
    const peers = {
      namespaces: [tenantNs("a-ns", "a"), tenantNs("b-ns", "b")],
      quotas: [quota("a", { priority: 50 }), quota("b", { priority: 50 })],
    };
    const snap = snapshot({
      ...peers,
      nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
      leases: [
        active("a-ns", "pushy", { gpus: 8, priority: 1000 }, [["n1", 8]], T0 - 10 * MIN),
        active("b-ns", "modest", { gpus: 8, priority: 0 }, [["n2", 8]], T0 - 60 * MIN),
      ],
      pods: [trainer("t", 8)],
    });
    const plan = planCluster(snap);
    expect(plan.reclaims.map((r) => r.nodes)).toEqual([["n1"]]);
    expect(statusOf(plan, "pushy")?.phase).toBe("Reclaiming");
    expect(statusOf(plan, "modest")?.phase ?? "Active").toBe("Active");
  });

  it("still takes a tenant's lower-priority lease before its own higher-priority one", () => {
    const snap = snapshot({
      ...tenants,
      nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
      leases: [
        // "important" would lose less work, but within one tenant its lease priority decides.
        active("low-ns", "important", { gpus: 8, priority: 10 }, [["n1", 8]], T0 - 10 * MIN),
        active("low-ns", "scratch", { gpus: 8, priority: 0 }, [["n2", 8]], T0 - 60 * MIN),
      ],
      pods: [trainer("t", 8)],
    });
    expect(planCluster(snap).reclaims.map((r) => r.nodes)).toEqual([["n2"]]);
  });

  it("never takes a Reserved lease, nor one inside its minimum runtime", () => {
    const snap = snapshot({
      ...tenants,
      nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
      leases: [
        active("low-ns", "reserved", { gpus: 8, class: "Reserved", duration: "4h" }, [["n1", 8]]),
        active("high-ns", "young", { gpus: 8 }, [["n2", 8]], T0 - 5 * MIN),
      ],
      pods: [trainer("t", 8)],
    });
    const plan = planCluster(snap);
    expect(plan.reclaims).toEqual([]);
    expect(plan.leaseStatuses.filter((s) => s.status.phase === "Reclaiming")).toEqual([]);
    // The young lease is the next victim: it is told it is at risk.
    expect(statusOf(plan, "young")?.conditions?.find((c) => c.type === "AtRisk")?.status).toBe("True");
    // And the planner wakes when its minimum runtime ends, to reclaim it then.
    expect(plan.wakeAt).toBe(T0 + 5 * MIN);
    const later = planCluster({ ...snap, now: T0 + 5 * MIN });
    expect(later.reclaims.map((r) => r.nodes)).toEqual([["n2"]]);
  });

  it("does not reclaim for a pod that GPUs cannot help (CPU, node selector)", () => {
    const base = {
      ...tenants,
      nodes: [node("n1", { lent: true })],
      leases: [active("low-ns", "l", { gpus: 8 }, [["n1", 8]])],
    };
    const tooMuchCpu = planCluster(snapshot({ ...base, pods: [trainer("t", 8, { cpuMillis: 500_000 })] }));
    expect(tooMuchCpu.reclaims).toEqual([]);
    expect(tooMuchCpu.hopelessDemand).toHaveLength(1);
    const wrongModel = planCluster(
      snapshot({ ...base, pods: [trainer("t", 8, { nodeSelector: { "nvidia.com/gpu.product": "A100" } })] }),
    );
    expect(wrongModel.reclaims).toEqual([]);
  });

  it("reclaims for a whole group or not at all", () => {
    const job = (i: number) => trainer(`w${i}`, 8, { group: "job/train" });
    const base = {
      ...tenants,
      leases: [
        active("low-ns", "a", { gpus: 8 }, [["n1", 8]]),
        active("low-ns", "b", { gpus: 8, class: "Reserved", duration: "4h" }, [["n2", 8]]),
      ],
    };
    const nodes = [node("n1", { lent: true }), node("n2", { lent: true })];
    expect(planCluster(snapshot({ ...base, nodes, pods: [job(1), job(2)] })).reclaims).toEqual([]);
    const plenty = planCluster(snapshot({ ...base, nodes: [...nodes, node("n3")], pods: [job(1), job(2)] }));
    expect(plenty.reclaims.map((r) => r.nodes)).toEqual([["n1"]]);
  });

  it("does not lend new nodes while internal demand waits", () => {
    const snap = snapshot({
      ...tenants,
      nodes: [node("n1")],
      leases: [lease("low-ns", "new", { gpus: 1 })],
      pods: [trainer("t", 8)],
    });
    expect(statusOf(planCluster(snap), "new")?.phase).toBe("Pending");
    // Demand that no GPU could help (it asks for more than any node has) does not hold lending back.
    const hopeless = planCluster({ ...snap, pods: [trainer("t", 16)] });
    expect(statusOf(hopeless, "new")?.phase).toBe("Active");
  });
});

describe("the notice and the eviction", () => {
  const reclaiming = (
    deadline: number,
    spec: Record<string, unknown> = { gpus: 8 },
    nodes: [string, number][] = [["n1", 8]],
    reclaimNodes = ["n1"],
  ) =>
    lease("low-ns", "victim", spec, {
      status: {
        phase: "Reclaiming",
        admittedAt: iso(T0 - 60 * MIN),
        allocations: nodes.map(([n, gpus]) => ({ node: n, gpus, since: iso(T0 - 60 * MIN) })),
        reclaim: {
          requestedAt: iso(deadline - 2 * MIN),
          deadline: iso(deadline),
          reason: "InternalDemand",
          nodes: reclaimNodes,
          gpus: 8,
        },
        pricing: { perGpuHour: "1", currency: "USD" },
      },
    });
  const running = (name: string, nodeName: string, annotations: Record<string, string> = {}) =>
    pod("low-ns", name, {
      nodeName,
      phase: "Running",
      lease: "victim",
      gpus: { "nvidia.com/gpu": 8 },
      annotations,
    });
  const world = (l: LeaseView, pods: PodView[], now: number) =>
    snapshot({
      ...tenants,
      now,
      nodes: [node("n1", { lent: true, returning: true }), node("n2", { lent: true })],
      leases: [l],
      pods,
    });

  it("tells the pods before the deadline, and arms their evictions for the deadline, not before", () => {
    const plan = planCluster(world(reclaiming(T0 + MIN), [running("p", "n1")], T0));
    expect(plan.notices.map((n) => [n.pod.name, n.deadline])).toEqual([["p", iso(T0 + MIN)]]);
    expect(plan.evictions).toEqual([]);
    // Wakes just ahead of the deadline to arm the evictions.
    expect(plan.wakeAt).toBe(T0 + MIN - EVICTION_LEAD_MS);
    const armed = planCluster(world(reclaiming(T0 + MIN), [running("p", "n1")], T0 + MIN - EVICTION_LEAD_MS));
    expect(armed.evictions.map((e) => [e.pod.name, e.notBefore])).toEqual([["p", T0 + MIN]]);
    expect(armed.wakeAt).toBe(T0 + MIN);
    // Told once: the annotation is there, nothing more to say.
    const told = planCluster(
      world(
        reclaiming(T0 + MIN),
        [running("p", "n1", { "gpulease.io/reclaim-deadline": iso(T0 + MIN) })],
        T0,
      ),
    );
    expect(told.notices).toEqual([]);
  });

  it("evicts at the deadline, deletes past the grace, and ends the lease once the GPUs are free", () => {
    const atDeadline = planCluster(world(reclaiming(T0), [running("p", "n1")], T0));
    expect(atDeadline.evictions.map((e) => [e.pod.name, e.force])).toEqual([["p", false]]);
    // The first pass that evicts records when; the grace runs from there.
    const evicting = statusOf(atDeadline, "victim");
    expect(evicting?.reclaim?.evictingSince).toBe(iso(T0));
    const tried = { ...reclaiming(T0), status: evicting ?? {} };
    const pastGrace = planCluster(world(tried, [running("p", "n1")], T0 + 31_000));
    expect(pastGrace.evictions.map((e) => [e.pod.name, e.force])).toEqual([["p", true]]);
    const done = planCluster(world(reclaiming(T0), [], T0 + 2000));
    expect(statusOf(done, "victim")).toMatchObject({
      phase: "Ended",
      endReason: "Reclaimed",
      endedAt: iso(T0),
    });
  });

  it("gives a PodDisruptionBudget its grace after an API outage longer than the grace", () => {
    // No pass could run from the deadline until 5 minutes later: the first one evicts, not deletes.
    const afterOutage = planCluster(world(reclaiming(T0), [running("p", "n1")], T0 + 5 * MIN));
    expect(afterOutage.evictions.map((e) => [e.pod.name, e.force])).toEqual([["p", false]]);
    expect(statusOf(afterOutage, "victim")?.reclaim?.evictingSince).toBe(iso(T0 + 5 * MIN));
  });

  it("keeps the deadline it gave: a replan (or a restarted operator) gives no second notice", () => {
    const l = reclaiming(T0 + MIN);
    const plan = planCluster({
      ...world(l, [running("p", "n1")], T0 + 1000),
      pods: [running("p", "n1"), trainer("t", 8)],
    });
    expect(statusOf(plan, "victim")?.reclaim ?? l.status.reclaim).toEqual(l.status.reclaim);
    expect(plan.noticesGiven).toEqual([]);
    expect(plan.reclaims).toEqual([]); // the demand is already served by the node on its way back
  });

  it("shrinks a lease that allows partial reclaim", () => {
    const l = reclaiming(
      T0,
      { gpus: 16, gpusPerNode: 8, allowPartialReclaim: true },
      [
        ["n1", 8],
        ["n2", 8],
      ],
      ["n1"],
    );
    const plan = planCluster(world(l, [running("q", "n2")], T0 + 1000));
    expect(statusOf(plan, "victim")).toMatchObject({
      phase: "Active",
      reason: "PartiallyReclaimed",
      allocations: [{ node: "n2", gpus: 8 }],
    });
  });
});

describe("reclaim invariants (property tests)", () => {
  const cluster = fc.record({
    leases: fc.array(
      fc.record({
        tenant: fc.constantFrom("low", "high"),
        nodes: fc.integer({ min: 1, max: 2 }),
        reserved: fc.boolean(),
        priority: fc.integer({ min: -1, max: 1 }),
        partial: fc.boolean(),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    demand: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 3 }),
  });

  it("frees what it claims, never takes a Reserved lease, and takes no node it does not need", () => {
    fc.assert(
      fc.property(cluster, (c) => {
        const nodes = [];
        const leases: LeaseView[] = [];
        let n = 0;
        for (const [i, l] of c.leases.entries()) {
          const mine: [string, number][] = [];
          for (let k = 0; k < l.nodes; k++) {
            nodes.push(node(`n${n}`, { lent: true }));
            mine.push([`n${n++}`, 8]);
          }
          leases.push(
            active(
              `${l.tenant}-ns`,
              `l${i}`,
              {
                gpus: 8 * l.nodes,
                priority: l.priority,
                allowPartialReclaim: l.partial,
                ...(l.reserved ? { class: "Reserved", duration: "9h" } : {}),
              },
              mine,
              T0 - 120 * MIN,
            ),
          );
        }
        const pods = c.demand.map((g, i) => trainer(`t${i}`, g));
        const snap = snapshot({ ...tenants, nodes, leases, pods });
        const plan = planCluster(snap);
        for (const decision of plan.reclaims) {
          for (const hit of decision.hits) expect(hit.lease.spec.class).not.toBe("Reserved");
          // Every node it returns ends up free: no lease keeps an allocation there (hits of all
          // decisions together: a later demand may take another node of a lease an earlier one hit).
          const allHits = plan.reclaims.flatMap((d) => d.hits);
          for (const returned of decision.nodes) {
            const keepers = leases.filter(
              (l) =>
                (l.status.allocations ?? []).some((a) => a.node === returned) &&
                !allHits.some((h) => h.lease.uid === l.uid && h.nodes.includes(returned)),
            );
            expect(keepers).toEqual([]);
          }
          // The GPUs returned cover the demand.
          expect(decision.nodes.length * 8).toBeGreaterThanOrEqual(decision.demand.gpus);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("evicts the fewest GPUs among plans of equal cost", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 3 }),
        (sizes, pods) => {
          const nodes = [];
          const leases: LeaseView[] = [];
          let n = 0;
          for (const [i, size] of sizes.entries()) {
            const mine: [string, number][] = [];
            for (let k = 0; k < size; k++) {
              nodes.push(node(`n${n}`, { lent: true }));
              mine.push([`n${n++}`, 8]);
            }
            leases.push(active("low-ns", `l${i}`, { gpus: 8 * size }, mine, T0 - 120 * MIN));
          }
          const group = Array.from({ length: pods }, (_, i) => trainer(`w${i}`, 8, { group: "job/j" }));
          const plan = planCluster(snapshot({ ...tenants, nodes, leases, pods: group }));
          const total = sizes.reduce((a, b) => a + b, 0);
          if (total < pods) {
            expect(plan.reclaims).toEqual([]);
            return;
          }
          let best = Number.POSITIVE_INFINITY;
          // Exact optimum by brute force over subsets (at most 2^6).
          for (let mask = 1; mask < 1 << sizes.length; mask++) {
            let nodesFreed = 0;
            for (let i = 0; i < sizes.length; i++) if (mask & (1 << i)) nodesFreed += sizes[i] as number;
            if (nodesFreed >= pods) best = Math.min(best, nodesFreed * 8);
          }
          expect(plan.reclaims[0]?.gpusEvicted).toBe(best);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("several internal demands at once", () => {
  it("never promises two groups the same returning GPUs", () => {
    const leases = [0, 1, 2].map((i) => active("low-ns", `l${i}`, { gpus: 8 }, [[`n${i}`, 8]]));
    const nodes = [0, 1, 2].map((i) => node(`n${i}`, { lent: true }));
    const pods = [0, 1, 2].map((i) =>
      trainer(`t${i}`, 8, { group: `job/j${i}`, unschedulableSince: T0 - 1000 + i }),
    );
    const plan = planCluster(snapshot({ ...tenants, nodes, leases, pods }));
    expect(plan.reclaims.flatMap((r) => r.nodes).sort()).toEqual(["n0", "n1", "n2"]);
    // A replan while those nodes are on their way back takes nothing more.
    const returning = nodes.map((n) => ({ ...n, returning: true }));
    const noticed = leases.map((l) => ({ ...l, status: statusOf(plan, l.name) ?? l.status }));
    expect(planCluster(snapshot({ ...tenants, nodes: returning, leases: noticed, pods })).reclaims).toEqual(
      [],
    );
    // A fourth group still needs a node of its own.
    const more = [...nodes.map((n) => ({ ...n, returning: true })), node("n3", { lent: true })];
    const fourth = planCluster(
      snapshot({
        ...tenants,
        nodes: more,
        leases: [...noticed, active("low-ns", "l3", { gpus: 8 }, [["n3", 8]])],
        pods: [...pods, trainer("t3", 8, { group: "job/j3" })],
      }),
    );
    expect(fourth.reclaims.flatMap((r) => r.nodes)).toEqual(["n3"]);
  });
});

describe("a Job whose pods are still being created", () => {
  it("waits a moment for the rest of the group before reclaiming, and wakes to plan it", () => {
    const snap = snapshot({
      ...tenants,
      nodes: [node("n1", { lent: true })],
      leases: [active("low-ns", "l", { gpus: 8 }, [["n1", 8]])],
      pods: [trainer("w0", 8, { group: "job/fresh", createdAt: T0 })],
    });
    const now = planCluster(snap);
    expect(now.reclaims).toEqual([]);
    expect(now.wakeAt).toBe(T0 + 1000);
    expect(planCluster({ ...snap, now: T0 + 1000 }).reclaims.map((r) => r.nodes)).toEqual([["n1"]]);
  });

  it("plans at once when all the pods of a Job of known size exist, and waits while one is missing", () => {
    const base = {
      ...tenants,
      nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
      leases: [
        active("low-ns", "a", { gpus: 8 }, [["n1", 8]]),
        active("low-ns", "b", { gpus: 8 }, [["n2", 8]]),
      ],
    };
    const w0 = trainer("w0", 8, { group: "job/train", createdAt: T0 });
    const w1 = trainer("w1", 8, { group: "job/train", createdAt: T0 });
    const groupSizes = new Map([["training/job/train", 2]]);
    const complete = planCluster(snapshot({ ...base, pods: [w0, w1], groupSizes }));
    expect(complete.reclaims.map((r) => r.nodes)).toEqual([["n1", "n2"]]);
    // One of its two pods is not there yet: wait for it, longer than a group of unknown size waits
    // (a loaded Job controller can take seconds), and no longer than INCOMPLETE_GROUP_WAIT_MS.
    const partial = planCluster(snapshot({ ...base, pods: [w0], groupSizes }));
    expect(partial.reclaims).toEqual([]);
    expect(partial.wakeAt).toBe(T0 + INCOMPLETE_GROUP_WAIT_MS);
    const stillPartial = { ...base, pods: [w0], groupSizes, now: T0 + GROUP_SETTLE_MS };
    expect(planCluster(snapshot(stillPartial)).reclaims).toEqual([]);
    const givenUp = { ...base, pods: [w0], groupSizes, now: T0 + INCOMPLETE_GROUP_WAIT_MS };
    expect(planCluster(snapshot(givenUp)).reclaims.map((r) => r.nodes)).toEqual([["n1"]]);
    // Both exist but the scheduler has not tried the second yet: wait for its verdict too.
    const untried = { ...w1, unschedulable: false, unschedulableSince: undefined };
    const undecided = planCluster(snapshot({ ...base, pods: [w0, untried], groupSizes }));
    expect(undecided.reclaims).toEqual([]);
  });

  it("counts a group's pods that are already running towards its declared size", () => {
    const snap = snapshot({
      ...tenants,
      nodes: [node("n1", { lent: true }), node("i1", { lendable: false })],
      leases: [active("low-ns", "l", { gpus: 8 }, [["n1", 8]])],
      pods: [
        trainer("w0", 8, {
          group: "group/g",
          groupSize: 2,
          createdAt: T0,
          nodeName: "i1",
          unschedulable: false,
        }),
        trainer("w1", 8, { group: "group/g", groupSize: 2, createdAt: T0 }),
      ],
    });
    expect(planCluster(snap).reclaims.map((r) => r.nodes)).toEqual([["n1"]]);
  });
});

/**
 * The plan as ordered actions: the promises stated directly, over random clusters, random write
 * budgets and random write failures, pass after pass, against a small model of the API server that
 * applies each write the moment it succeeds.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ANNOTATION_IDLE_SINCE,
  ANNOTATION_RECLAIM_DEADLINE,
  ANNOTATION_RETURNING,
  LABEL_NODE_STATE,
} from "../../../src/api/index.ts";
import { selectBatch } from "../../../src/core/batch-selector.ts";
import type { ClusterSnapshot, LeaseView, PodView } from "../../../src/core/model.ts";
import { actionIds, type PlanAction, quotaLimitsFor } from "../../../src/core/plan-actions.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { reclaimBesideBindings } from "../../support/fixtures.ts";
import { H100, lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

/** Deterministic pseudo-random failure of one write in one pass. */
function fails(seed: number, pass: number, id: string, rate: number): boolean {
  let h = (seed ^ (pass * 0x9e3779b1)) >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return (h % 1000) / 1000 < rate;
}

/** How often each kind of action ran over all runs: proof that the promises were put to the test. */
const ranKinds = new Map<string, number>();

interface Witness {
  /** Promise violations seen while writes were applied, in words. */
  violations: string[];
  /** Admitted Events sent, by lease name. */
  admittedEvents: Map<string, number>;
  /** Lease statuses written with phase Active for the first time, by lease name. */
  admissions: Map<string, number>;
}

/** Applies one action's write to the model cluster, checking the promises that concern it first. */
/** GPUs the written statuses of a namespace's leases hold. */
function heldIn(world: ClusterSnapshot, namespace: string): number {
  return world.leases
    .filter(
      (l) => l.namespace === namespace && (l.status.phase === "Active" || l.status.phase === "Reclaiming"),
    )
    .reduce((sum, l) => sum + (l.status.allocations ?? []).reduce((s, a) => s + a.gpus, 0), 0);
}

const quotaOf = (world: ClusterSnapshot, namespace: string): number | undefined => {
  const hard = world.resourceQuotas?.find((q) => q.namespace === namespace)?.hard["requests.nvidia.com/gpu"];
  return hard === undefined ? undefined : Number(hard);
};

function apply(
  world: ClusterSnapshot,
  action: PlanAction,
  witness: Witness,
  inBatch: ReadonlySet<string>,
): void {
  const leaseNamed = (l: { namespace: string; name: string }) =>
    world.leases.find((x) => x.namespace === l.namespace && x.name === l.name);
  const podNamed = (p: { namespace: string; name: string }) =>
    world.pods.find((x) => x.namespace === p.namespace && x.name === p.name);
  switch (action.kind) {
    case "lendNode":
    case "nodeChange": {
      const { change } = action;
      world.nodes = world.nodes.map((n) => {
        if (n.name !== change.node) return n;
        const annotations = { ...n.annotations };
        const mark = (key: string, value: string | null | undefined) => {
          if (value === null) delete annotations[key];
          else if (value !== undefined) annotations[key] = value;
        };
        mark(ANNOTATION_IDLE_SINCE, change.idleSince);
        mark(ANNOTATION_RETURNING, change.returning);
        const labels = { ...n.labels };
        if (change.stateLabel === null) delete labels[LABEL_NODE_STATE];
        else if (change.stateLabel !== undefined) labels[LABEL_NODE_STATE] = change.stateLabel;
        return {
          ...n,
          lent: change.lent ?? n.lent,
          returning: annotations[ANNOTATION_RETURNING] !== undefined,
          annotations,
          labels,
        };
      });
      return;
    }
    case "leaseStatus": {
      const current = leaseNamed(action.lease);
      if (!current) return;
      const before = new Set((current.status.allocations ?? []).map((a) => a.node));
      for (const a of action.status.allocations ?? []) {
        const n = world.nodes.find((x) => x.name === a.node);
        if (!before.has(a.node) && !n?.lent)
          witness.violations.push(`${action.lease.name} placed on ${a.node} before its taint was written`);
      }
      if (action.status.phase === "Active" && current.status.phase !== "Active")
        witness.admissions.set(action.lease.name, (witness.admissions.get(action.lease.name) ?? 0) + 1);
      const grows = heldIn(world, current.namespace);
      current.status = action.status;
      // A tenant who sees its lease Active can create its pods: the quota was raised first.
      const held = heldIn(world, current.namespace);
      if (held > grows && (quotaOf(world, current.namespace) ?? 0) < held)
        witness.violations.push(`${current.namespace} holds ${held} GPUs before its quota admits them`);
      return;
    }
    case "binding": {
      const owner = leaseNamed(action.lease);
      const node = action.binding.node;
      if (owner?.status.phase !== "Active" || !(owner.status.allocations ?? []).some((a) => a.node === node))
        witness.violations.push(`${action.binding.pod.name} bound to ${node} outside a written allocation`);
      if (!world.nodes.find((n) => n.name === node)?.lent)
        witness.violations.push(`${action.binding.pod.name} bound to ${node} before its taint`);
      const p = podNamed(action.binding.pod);
      if (p) Object.assign(p, { gated: false, targetNode: node, nodeName: node, phase: "Running" });
      return;
    }
    case "podNotice": {
      const owner = leaseNamed(action.lease);
      if (owner?.status.reclaim?.deadline !== action.notice.deadline)
        witness.violations.push(`${action.notice.pod.name} told a deadline its lease's status does not show`);
      const p = podNamed(action.notice.pod);
      if (p) p.annotations = { ...p.annotations, [ANNOTATION_RECLAIM_DEADLINE]: action.notice.deadline };
      return;
    }
    case "eviction": {
      if (action.notBefore !== undefined && world.now < action.notBefore) {
        // The runner waits for notBefore; the model checks that what it waits for is the deadline.
        const deadline = Date.parse(action.lease.status.reclaim?.deadline ?? "");
        if (action.notBefore < deadline)
          witness.violations.push(`${action.pod.name} armed before its deadline`);
      }
      const deadline = Date.parse(action.lease.status.reclaim?.deadline ?? "");
      if (action.reason === "Reclaimed" && (action.notBefore ?? world.now) < deadline)
        witness.violations.push(`${action.pod.name} evicted before its deadline`);
      world.pods = world.pods.filter((p) => p.uid !== action.pod.uid);
      return;
    }
    case "quotaStatus": {
      // The tenant's summary counts what is written, at the moment it is written.
      const active = world.leases.filter(
        (l) =>
          world.namespaces.find((n) => n.name === l.namespace)?.tenant === action.quota.name &&
          (l.status.phase === "Active" || l.status.phase === "Reclaiming"),
      );
      if ((action.status.allocated?.activeLeases ?? 0) !== active.length)
        witness.violations.push(
          `TenantQuota ${action.quota.name} shows ${action.status.allocated?.activeLeases} active, ${active.length} written`,
        );
      const q = world.quotas.find((x) => x.name === action.quota.name);
      if (q) q.status = action.status;
      return;
    }
    case "resourceQuota": {
      world.resourceQuotas = [
        ...(world.resourceQuotas ?? []).filter((q) => q.namespace !== action.quota.namespace),
        { namespace: action.quota.namespace, hard: quotaLimitsFor(action, inBatch) },
      ];
      return;
    }
    case "addFinalizer": {
      const l = leaseNamed(action.lease);
      if (l) l.hasFinalizer = true;
      return;
    }
    case "removeFinalizer": {
      world.leases = world.leases.filter((l) => l.uid !== action.lease.uid);
      return;
    }
    case "event": {
      const e = action.event;
      if (e.kind === "GpuLease" && e.reason === "Admitted") {
        witness.admittedEvents.set(e.name, (witness.admittedEvents.get(e.name) ?? 0) + 1);
        if (
          world.leases.find((l) => l.name === e.name && l.namespace === e.namespace)?.status.phase !==
          "Active"
        )
          witness.violations.push(`Admitted Event for ${e.name} whose Active status is not written`);
      }
      if (e.kind === "Node" && e.reason === "NodeLent" && !world.nodes.find((n) => n.name === e.name)?.lent)
        witness.violations.push(`NodeLent Event for ${e.name} before its taint`);
      return;
    }
  }
}

/** One pass: plan, select under the budget, run wave by wave, skip what a failure left unmet. */
function pass(
  world: ClusterSnapshot,
  budget: { urgent: number; other: number },
  failure: (id: string) => boolean,
  witness: Witness,
): { deferred: number; ran: number } {
  const plan = planCluster(world);
  const batch = selectBatch(plan.actions, budget);
  const succeeded = new Set<string>();
  const inBatch = new Set(batch.waves.flat().map((a) => a.id));
  let ran = 0;
  let failed = false;
  for (const wave of batch.waves) {
    for (const action of wave) {
      if (!action.requires.every((id) => succeeded.has(id))) continue;
      if (action.kind !== "event" && failure(action.id)) {
        failed = true;
        continue;
      }
      apply(world, action, witness, inBatch);
      ranKinds.set(action.kind, (ranKinds.get(action.kind) ?? 0) + 1);
      succeeded.add(action.id);
      if (action.kind !== "event") ran++;
    }
  }
  // After a pass whose writes all landed, every namespace's quota admits exactly what its leases hold:
  // a budget that cut an admission did not raise the quota for it.
  if (!failed)
    for (const ns of world.namespaces) {
      const quota = quotaOf(world, ns.name);
      if (ns.tenant !== undefined && quota !== undefined && quota !== heldIn(world, ns.name))
        witness.violations.push(
          `${ns.name} quota ${quota}, its written leases hold ${heldIn(world, ns.name)}`,
        );
    }
  return { deferred: batch.deferred, ran };
}

const cluster = fc.record({
  nodes: fc.array(
    fc.record({ gpus: fc.constantFrom(4, 8), model: fc.constantFrom(H100, "A100"), lent: fc.boolean() }),
    { minLength: 1, maxLength: 6 },
  ),
  leases: fc.array(
    fc.record({
      tenant: fc.constantFrom("a", "b"),
      gpus: fc.constantFrom(1, 2, 4, 8),
      model: fc.constantFrom(undefined, H100),
      pods: fc.integer({ min: 0, max: 3 }),
    }),
    { maxLength: 12 },
  ),
  budget: fc.record({ urgent: fc.integer({ min: 1, max: 6 }), other: fc.integer({ min: 1, max: 8 }) }),
  failureRate: fc.constantFrom(0, 0.1, 0.3),
  /** Internal 8-GPU pods, appearing at `demandAt`. */
  internal: fc.integer({ min: 0, max: 2 }),
  /** The pass at which the internal demand appears (after leases hold the nodes it needs). */
  demandAt: fc.integer({ min: 1, max: 6 }),
  /** How far the clock moves before each pass. */
  steps: fc.array(fc.integer({ min: 0, max: 90_000 }), { minLength: 12, maxLength: 12 }),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
});

function world(
  c: fc.Arbitrary<unknown> extends never ? never : ReturnType<typeof cluster.generate>["value"],
) {
  const leases: LeaseView[] = c.leases.map((l, i) =>
    lease(
      `${l.tenant}-ns`,
      `l${i}`,
      { gpus: l.gpus, ...(l.model ? { gpuModel: l.model } : {}) },
      { createdAt: T0 + i },
    ),
  );
  const pods: PodView[] = c.leases.flatMap((l, i) =>
    Array.from({ length: l.pods }, (_, k) =>
      pod(`${l.tenant}-ns`, `l${i}-p${k}`, { lease: `l${i}`, gated: true, gpus: { "nvidia.com/gpu": 1 } }),
    ),
  );
  return snapshot({
    nodes: c.nodes.map((n, i) =>
      node(`n${i}`, { gpus: { "nvidia.com/gpu": n.gpus }, gpuModel: n.model, lent: n.lent }),
    ),
    pods,
    leases,
    namespaces: [tenantNs("a-ns", "a"), tenantNs("b-ns", "b")],
    quotas: [
      quota("a", { limits: [{ maxGpus: 24, maxReservedGpus: 0 }] }),
      quota("b", { limits: [{ maxGpus: 24 }] }),
    ],
  });
}

/** Internal 8-GPU pods the scheduler could not place: demand that reclaims lent nodes. */
function internalDemand(count: number, now: number): PodView[] {
  return Array.from({ length: count }, (_, k) =>
    pod("training", `train-${k}`, {
      uid: `train-${k}`,
      createdAt: now,
      gpus: { "nvidia.com/gpu": 8 },
      unschedulable: true,
      unschedulableSince: now,
    }),
  );
}

const newWitness = (): Witness => ({ violations: [], admittedEvents: new Map(), admissions: new Map() });

describe("the plan as ordered actions", () => {
  it("keeps every promise under any budget and any write failure, and converges once writes succeed", () => {
    fc.assert(
      fc.property(cluster, (c) => {
        const w = world(c);
        const witness = newWitness();
        for (let p = 0; p < 12; p++) {
          w.now += c.steps[p] ?? 0;
          if (p === c.demandAt) w.pods = [...w.pods, ...internalDemand(c.internal, w.now)];
          pass(w, c.budget, (id) => fails(c.seed, p, id, c.failureRate), witness);
        }
        // Then with no failures until nothing is left to do.
        let quiet = 0;
        for (let p = 0; p < 100 && quiet < 2; p++) {
          const { deferred, ran } = pass(w, c.budget, () => false, witness);
          quiet = deferred === 0 && ran === 0 ? quiet + 1 : 0;
        }
        expect(witness.violations).toEqual([]);
        // Exactly one Admitted Event per admission written.
        for (const [name, count] of witness.admittedEvents) expect(count).toBe(witness.admissions.get(name));
        // Converged: every gated pod of an Active lease with room is bound; nothing more to write.
        const final = planCluster(w);
        expect(final.bindings).toEqual([]);
        expect(final.leaseStatuses).toEqual([]);
        // Nothing at all left to write: a write that changes nothing would be planned every pass.
        expect(final.actions.filter((a) => a.kind !== "event").map((a) => a.id)).toEqual([]);
      }),
      { numRuns: 80 },
    );
    for (const kind of [
      "lendNode",
      "leaseStatus",
      "binding",
      "podNotice",
      "eviction",
      "quotaStatus",
      "event",
    ])
      expect(ranKinds.get(kind) ?? 0, kind).toBeGreaterThan(0);
  }, 120_000);

  it("bounds a pass by its budget and defers the rest, prerequisites first", () => {
    const leases = Array.from({ length: 10 }, (_, i) =>
      lease("a-ns", `l${i}`, { gpus: 8 }, { createdAt: T0 + i }),
    );
    const pods = leases.map((l) =>
      pod("a-ns", `${l.name}-p`, { lease: l.name, gated: true, gpus: { "nvidia.com/gpu": 8 } }),
    );
    const snap = snapshot({
      nodes: Array.from({ length: 10 }, (_, i) => node(`n${i}`)),
      leases,
      pods,
      namespaces: [tenantNs("a-ns", "a")],
      quotas: [quota("a", { limits: [{ maxGpus: 80 }] })],
    });
    const plan = planCluster(snap);
    // Bindings are planned in the same pass, each after its lease's status.
    for (const b of plan.actions.filter((a) => a.kind === "binding"))
      expect(b.requires).toContain(actionIds.leaseStatus(b.lease));
    const batch = selectBatch(plan.actions, { urgent: 8, other: 8 });
    const writes = batch.waves.flat().filter((a) => a.kind !== "event");
    expect(writes.length).toBeLessThanOrEqual(8);
    expect(batch.deferred).toBeGreaterThan(0);
    // Every status in the batch comes after the taint of its node and the raise of its quota.
    const position = new Map(batch.waves.flatMap((wave, i) => wave.map((a) => [a.id, i] as const)));
    for (const action of writes) {
      for (const id of action.requires)
        expect(position.get(id) ?? -1).toBeLessThan(position.get(action.id) ?? 0);
    }
    const statuses = writes.filter((a) => a.kind === "leaseStatus");
    for (const s of statuses) {
      const node = s.kind === "leaseStatus" ? s.status.allocations?.[0]?.node : undefined;
      expect(s.requires).toContain(actionIds.lendNode(node ?? ""));
    }
  });

  it("sends reclaim notices and due evictions before any admission when the budget is short", () => {
    const deadline = new Date(T0 - 1000).toISOString();
    const reclaiming = lease(
      "a-ns",
      "victim",
      { gpus: 8 },
      {
        status: {
          phase: "Reclaiming",
          admittedAt: new Date(T0 - 3_600_000).toISOString(),
          allocations: [{ node: "lent", gpus: 8, since: new Date(T0 - 3_600_000).toISOString() }],
          reclaim: {
            requestedAt: new Date(T0 - 121_000).toISOString(),
            deadline,
            reason: "InternalDemand",
            nodes: ["lent"],
            gpus: 8,
          },
        },
      },
    );
    const running = pod("a-ns", "victim-p", {
      lease: "victim",
      nodeName: "lent",
      phase: "Running",
      gpus: { "nvidia.com/gpu": 8 },
    });
    const waiting = Array.from({ length: 5 }, (_, i) =>
      lease("a-ns", `new${i}`, { gpus: 1 }, { createdAt: T0 + i }),
    );
    const plan = planCluster(
      snapshot({
        nodes: [node("lent", { lent: true, returning: true }), node("free")],
        leases: [reclaiming, ...waiting],
        pods: [running],
        namespaces: [tenantNs("a-ns", "a")],
        quotas: [quota("a", { limits: [{ maxGpus: 80 }] })],
      }),
    );
    // Admission is starved of budget; the reclaim still goes out whole, and first in its wave.
    const batch = selectBatch(plan.actions, { urgent: 10, other: 1 });
    const ids = batch.waves.flat().map((a) => a.id);
    expect(ids).toContain(actionIds.eviction(running));
    expect(batch.waves[0]?.[0]?.priority).toBe("urgent");
    expect(batch.waves.flat().filter((a) => a.kind !== "event" && a.priority !== "urgent").length).toBe(1);
    expect(batch.deferred).toBeGreaterThan(0);
  });

  it("runs a new reclaim's status and notices in waves of their own, before bindings and admissions", () => {
    const { snapshot: snap, victim, running } = reclaimBesideBindings();
    const plan = planCluster(snap);
    expect(plan.noticesGiven.map((l) => l.name)).toEqual(["victim"]);
    const batch = selectBatch(plan.actions, { urgent: 256, other: 128 });
    const first = batch.waves.slice(0, batch.urgentWaves).flat();
    const rest = batch.waves.slice(batch.urgentWaves).flat();
    // The reclaim: the lease's Reclaiming status, then its pod's notice, and nothing else before them.
    expect(first.filter((a) => a.kind !== "event").map((a) => a.id)).toEqual([
      actionIds.leaseStatus(victim),
      actionIds.podNotice(running),
    ]);
    expect(first.every((a) => a.kind === "event" || a.priority === "urgent")).toBe(true);
    // The other writes of the pass come after: bindings and admissions.
    expect(rest.filter((a) => a.kind === "binding")).toHaveLength(8);
    expect(rest.some((a) => a.kind === "leaseStatus" && a.priority === "admission")).toBe(true);
  });

  it("notices every reclaim's first victim in the first round of writes", () => {
    const notice = (leaseName: string, podName: string): PlanAction => {
      const owner = lease("a-ns", leaseName, { gpus: 1 });
      const p = pod("a-ns", podName, { lease: leaseName });
      return {
        kind: "podNotice",
        id: actionIds.podNotice(p),
        requires: [],
        priority: "urgent",
        lease: owner,
        notice: { pod: p, deadline: new Date(T0).toISOString(), message: "reclaimed" },
      };
    };
    // The plan lists each lease's pods together: a then b.
    const actions = ["a", "b"].flatMap((l) => [0, 1, 2].map((i) => notice(l, `${l}-${i}`)));
    const batch = selectBatch(actions, { urgent: 256, other: 128 });
    expect(batch.urgentWaves).toBe(1);
    const pods = (batch.waves[0] ?? []).map((a) => (a.kind === "podNotice" ? a.notice.pod.name : ""));
    expect(pods).toEqual(["a-0", "b-0", "a-1", "b-1", "a-2", "b-2"]);
  });

  it("writes admissions before metering refreshes, so usage updates never starve admission", () => {
    const admitted = new Date(T0 - 3_600_000).toISOString();
    const active = Array.from({ length: 20 }, (_, i) =>
      lease(
        "a-ns",
        `running${i}`,
        { gpus: 1 },
        {
          status: {
            phase: "Active",
            admittedAt: admitted,
            allocations: [{ node: "n0", gpus: 1, since: admitted }],
            usage: { gpuSeconds: 0, closedGpuSeconds: 0, charges: "0.00" },
          },
        },
      ),
    );
    const pending = Array.from({ length: 3 }, (_, i) =>
      lease("a-ns", `new${i}`, { gpus: 4 }, { createdAt: T0 + i }),
    );
    const steady = snapshot({
      nodes: [node("n0", { gpus: { "nvidia.com/gpu": 32 }, lent: true }), node("n1")],
      leases: active,
      namespaces: [tenantNs("a-ns", "a")],
      quotas: [quota("a", { limits: [{ maxGpus: 80 }] })],
    });
    // The running leases' statuses as the operator last wrote them; then a minute passes.
    const written = planCluster(steady).leaseStatuses;
    const snap = {
      ...steady,
      now: T0 + 60_000,
      leases: [
        ...active.map((l) => ({
          ...l,
          status: written.find((w) => w.lease.uid === l.uid)?.status ?? l.status,
        })),
        ...pending,
      ],
    };
    const plan = planCluster(snap);
    const metered = plan.actions.filter((a) => a.kind === "leaseStatus" && a.transition === "metered");
    expect(metered.length).toBe(20); // every running lease's usage moved
    const batch = selectBatch(plan.actions, { urgent: 4, other: 6 });
    const chosen = batch.waves.flat().filter((a) => a.kind === "leaseStatus");
    expect(chosen.filter((a) => a.kind === "leaseStatus" && a.transition === "admitted")).toHaveLength(3);
  });
});

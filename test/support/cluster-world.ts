/**
 * A small simulated cluster for property tests of planning over time: random events (leases created
 * and deleted, pods, internal demand, nodes added, removed and changed, quotas edited, time passing)
 * and the API server's side of a plan's writes. Every change makes new objects only for what it
 * touches, as the operator's snapshot builder does (an unchanged object keeps its view).
 */
import fc from "fast-check";
import {
  ANNOTATION_IDLE_SINCE,
  ANNOTATION_RECLAIM_DEADLINE,
  ANNOTATION_RETURNING,
  LABEL_NODE_STATE,
} from "../../src/api/labels.ts";
import type { ClusterSnapshot, LeaseView, NodeView, PodView } from "../../src/core/model.ts";
import type { ClusterPlan } from "../../src/core/planner.ts";
import { H100, lease, node, pod, quota, snapshot, tenantNs } from "./snapshot-builder.ts";

const TENANTS = ["a", "b", "c"] as const;
const MODELS = [H100, "A100"] as const;

export const worldEvent = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: "writesLand" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "nothing" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("time" as const),
      ms: fc.constantFrom(1_000, 30_000, 61_000, 10 * 60_000, 3600_000),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("leaseCreated" as const),
      tenant: fc.constantFrom(...TENANTS),
      gpus: fc.integer({ min: 1, max: 12 }),
      perNode: fc.constantFrom(undefined, 1, 2, 4),
      model: fc.constantFrom(undefined, ...MODELS),
      duration: fc.constantFrom(undefined, "20m", "2h"),
      reserved: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("leaseDeleted" as const), pick: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("tenantPodCreated" as const), pick: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("internalDemand" as const),
      gpus: fc.integer({ min: 1, max: 8 }),
      model: fc.constantFrom(undefined, ...MODELS),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("internalPodRuns" as const), pick: fc.nat() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("podGone" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("nodeAdded" as const),
      gpus: fc.constantFrom(4, 8),
      model: fc.constantFrom(...MODELS),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("nodeRemoved" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("nodeChanged" as const),
      pick: fc.nat(),
      change: fc.constantFrom("notReady", "ready", "cordon", "reclaimLabel", "relabelModel", "resized"),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("quotaEdited" as const),
      tenant: fc.constantFrom(...TENANTS),
      maxGpus: fc.integer({ min: 0, max: 40 }),
      maxLeaseDuration: fc.constantFrom("4h", "30m"),
      reclaimNotice: fc.constantFrom("10m", "1m"),
      priority: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("namespaceChanged" as const),
      namespace: fc.constantFrom("a-ns", "b-ns", "c-ns", "a-extra"),
      tenant: fc.constantFrom(undefined, ...TENANTS),
    }),
  },
);

export type WorldEvent = typeof worldEvent extends fc.Arbitrary<infer T> ? T : never;

/** A starting cluster: nodes of two models (some busy with internal pods), three tenants, no lease. */
export function startingWorld(
  nodeCount: number,
  settings?: Partial<ClusterSnapshot["settings"]>,
): ClusterSnapshot {
  const base = snapshot({});
  const nodes = Array.from({ length: nodeCount }, (_, i) =>
    node(`n${i}`, {
      gpus: { "nvidia.com/gpu": i % 3 === 0 ? 4 : 8 },
      gpuModel: MODELS[i % 2],
      labels: { "gpulease.io/lendable": "true", "nvidia.com/gpu.product": MODELS[i % 2] as string },
    }),
  );
  return {
    ...base,
    settings: { ...base.settings, ...settings },
    nodes,
    pods: [pod("internal", "busy-0", { nodeName: "n0", phase: "Running", gpus: { "nvidia.com/gpu": 2 } })],
    namespaces: [...TENANTS.map((t) => tenantNs(`${t}-ns`, t)), { name: "internal", tenant: undefined }],
    quotas: TENANTS.map((t) =>
      quota(t, {
        limits: [
          { maxGpus: 24, maxReservedGpus: 8 },
          { gpuModel: H100, maxGpus: 16 },
        ],
        maxLeaseDuration: "4h",
      }),
    ),
    resourceQuotas: [],
    limitRanges: [],
  };
}

let serial = 0;

/** The cluster after one event. `lastPlan`: the plan the operator computed on the previous snapshot. */
export function applyEvent(
  world: ClusterSnapshot,
  event: WorldEvent,
  lastPlan: ClusterPlan,
): ClusterSnapshot {
  const now = world.now;
  const pick = <T>(items: readonly T[], n: number): T | undefined =>
    items.length === 0 ? undefined : items[n % items.length];
  switch (event.kind) {
    case "nothing":
      return { ...world };
    case "time":
      return { ...world, now: now + event.ms };
    case "writesLand":
      return applyWrites(world, lastPlan);
    case "leaseCreated": {
      const gpus = event.perNode
        ? Math.max(event.perNode, event.gpus - (event.gpus % event.perNode))
        : event.gpus;
      const created = lease(
        `${event.tenant}-ns`,
        `l${++serial}`,
        {
          gpus,
          ...(event.perNode ? { gpusPerNode: event.perNode } : {}),
          ...(event.model ? { gpuModel: event.model } : {}),
          ...(event.reserved
            ? { class: "Reserved", duration: "1h" }
            : event.duration
              ? { duration: event.duration }
              : {}),
        },
        { createdAt: now, hasFinalizer: false },
      );
      return { ...world, leases: [...world.leases, created] };
    }
    case "leaseDeleted": {
      const victim = pick(
        world.leases.filter((l) => !l.deleting),
        event.pick,
      );
      if (!victim) return world;
      return { ...world, leases: world.leases.map((l) => (l === victim ? { ...l, deleting: true } : l)) };
    }
    case "tenantPodCreated": {
      const owner = pick(world.leases, event.pick);
      if (!owner) return world;
      const id = ++serial;
      const created = pod(owner.namespace, `p${id}`, {
        uid: `pod-${id}`,
        lease: owner.name,
        gated: true,
        createdAt: now,
        gpus: { "nvidia.com/gpu": 1 + (event.pick % 2) },
      });
      return { ...world, pods: [...world.pods, created] };
    }
    case "internalDemand": {
      const id = ++serial;
      const created = pod("internal", `w${id}`, {
        uid: `pod-${id}`,
        phase: "Pending",
        unschedulable: true,
        unschedulableSince: now,
        createdAt: now - 60_000,
        gpus: { "nvidia.com/gpu": event.gpus },
        nodeSelector: event.model ? { "nvidia.com/gpu.product": event.model } : {},
      });
      return { ...world, pods: [...world.pods, created] };
    }
    case "internalPodRuns": {
      const waiting = pick(
        world.pods.filter((p) => p.namespace === "internal" && p.nodeName === undefined),
        event.pick,
      );
      const target = pick(
        world.nodes.filter((n) => !n.lent),
        event.pick,
      );
      if (!waiting || !target) return world;
      return {
        ...world,
        pods: world.pods.map((p) =>
          p === waiting ? { ...p, nodeName: target.name, phase: "Running", unschedulable: false } : p,
        ),
      };
    }
    case "podGone": {
      const gone = pick(world.pods, event.pick);
      return gone ? { ...world, pods: world.pods.filter((p) => p !== gone) } : world;
    }
    case "nodeAdded": {
      const name = `n-added-${++serial}`;
      const added = node(name, {
        gpus: { "nvidia.com/gpu": event.gpus },
        gpuModel: event.model,
        labels: { "gpulease.io/lendable": "true", "nvidia.com/gpu.product": event.model },
      });
      return { ...world, nodes: [...world.nodes, added] };
    }
    case "nodeRemoved": {
      const gone = pick(world.nodes, event.pick);
      return gone ? { ...world, nodes: world.nodes.filter((n) => n !== gone) } : world;
    }
    case "nodeChanged": {
      const target = pick(world.nodes, event.pick);
      if (!target) return world;
      const changed: NodeView = changeNode(target, event.change);
      return { ...world, nodes: world.nodes.map((n) => (n === target ? changed : n)) };
    }
    case "namespaceChanged": {
      const others = world.namespaces.filter((ns) => ns.name !== event.namespace);
      return { ...world, namespaces: [...others, { name: event.namespace, tenant: event.tenant }] };
    }
    case "quotaEdited": {
      return {
        ...world,
        quotas: world.quotas.map((q) =>
          q.name === event.tenant
            ? {
                ...quota(q.name, {
                  limits: [
                    { maxGpus: event.maxGpus, maxReservedGpus: Math.floor(event.maxGpus / 2) },
                    { gpuModel: H100, maxGpus: event.maxGpus },
                  ],
                  maxLeaseDuration: event.maxLeaseDuration,
                  reclaimNotice: event.reclaimNotice,
                  priority: event.priority,
                }),
                generation: q.generation + 1,
                status: q.status,
              }
            : q,
        ),
      };
    }
  }
}

function changeNode(target: NodeView, change: string): NodeView {
  switch (change) {
    case "notReady":
      return { ...target, ready: false };
    case "ready":
      return { ...target, ready: true, unschedulable: false, reclaimRequested: false };
    case "cordon":
      return { ...target, unschedulable: true };
    case "reclaimLabel":
      return { ...target, reclaimRequested: true, lendable: false };
    case "resized":
      // The kubelet reserves more: less CPU and memory to share among the node's GPUs.
      return {
        ...target,
        cpuMillis: Math.floor(target.cpuMillis / 2),
        memoryBytes: Math.floor(target.memoryBytes / 2),
      };
    default: {
      const model = target.gpuModel === H100 ? "A100" : H100;
      return { ...target, gpuModel: model, labels: { ...target.labels, "nvidia.com/gpu.product": model } };
    }
  }
}

/** The cluster once every write of the plan has landed, as the API server and the kubelet make it. */
export function applyWrites(world: ClusterSnapshot, plan: ClusterPlan): ClusterSnapshot {
  const now = world.now;
  const nodeChanges = new Map([...plan.lendNodes, ...plan.nodeChanges].map((c) => [c.node, c]));
  const nodes = world.nodes.map((n) => {
    const c = nodeChanges.get(n.name);
    if (!c) return n;
    const annotations = { ...n.annotations };
    const labels = { ...n.labels };
    if (typeof c.idleSince === "string") annotations[ANNOTATION_IDLE_SINCE] = c.idleSince;
    else if (c.idleSince === null) delete annotations[ANNOTATION_IDLE_SINCE];
    if (typeof c.returning === "string") annotations[ANNOTATION_RETURNING] = c.returning;
    else if (c.returning === null) delete annotations[ANNOTATION_RETURNING];
    if (typeof c.stateLabel === "string") labels[LABEL_NODE_STATE] = c.stateLabel;
    else if (c.stateLabel === null) delete labels[LABEL_NODE_STATE];
    const lent = c.lent ?? n.lent;
    return {
      ...n,
      annotations,
      labels,
      lent,
      returning: lent && ANNOTATION_RETURNING in annotations,
    };
  });
  const statusOf = new Map(plan.leaseStatuses.map((s) => [s.lease.uid, s.status]));
  const finalize = new Set(plan.addFinalizers.map((l) => l.uid));
  const unfinalize = new Set(plan.removeFinalizers.map((l) => l.uid));
  const leases: LeaseView[] = [];
  for (const l of world.leases) {
    // Deleted and without its finalizer: the API server removes it.
    if (l.deleting && (unfinalize.has(l.uid) || (!l.hasFinalizer && !finalize.has(l.uid)))) continue;
    const status = statusOf.get(l.uid);
    if (!status && !finalize.has(l.uid)) {
      leases.push(l);
      continue;
    }
    leases.push({ ...l, ...(status ? { status } : {}), hasFinalizer: l.hasFinalizer || finalize.has(l.uid) });
  }
  const bound = new Map(plan.bindings.map((b) => [b.pod.uid, b.node]));
  const noticed = new Map(plan.notices.map((n) => [n.pod.uid, n.deadline]));
  const evicted = new Set([
    ...plan.evictions.filter((e) => e.notBefore === undefined || e.notBefore <= now).map((e) => e.pod.uid),
    ...plan.orphanEvictions.map((e) => e.pod.uid),
  ]);
  const pods: PodView[] = [];
  for (const p of world.pods) {
    if (evicted.has(p.uid)) continue;
    const node = bound.get(p.uid);
    const deadline = noticed.get(p.uid);
    if (node === undefined && deadline === undefined) {
      pods.push(p);
      continue;
    }
    pods.push({
      ...p,
      ...(node !== undefined ? { nodeName: node, gated: false, phase: "Running" } : {}),
      ...(deadline !== undefined
        ? { annotations: { ...p.annotations, [ANNOTATION_RECLAIM_DEADLINE]: deadline } }
        : {}),
    });
  }
  const quotaStatus = new Map(plan.quotaStatuses.map((q) => [q.quota.name, q.status]));
  const quotas = world.quotas.map((q) => {
    const status = quotaStatus.get(q.name);
    return status ? { ...q, status } : q;
  });
  const resourceQuotas = new Map((world.resourceQuotas ?? []).map((q) => [q.namespace, q]));
  for (const q of plan.resourceQuotas)
    resourceQuotas.set(q.namespace, { namespace: q.namespace, hard: q.hard });
  const limitRanges = new Map((world.limitRanges ?? []).map((r) => [r.namespace, r]));
  for (const r of plan.limitRanges) limitRanges.set(r.namespace, r);
  return {
    ...world,
    nodes,
    leases,
    pods,
    quotas,
    resourceQuotas: [...resourceQuotas.values()],
    limitRanges: [...limitRanges.values()],
    orphansSince: new Map(plan.orphans.map((o) => [o.pod.uid, o.since])),
  };
}

/**
 * Small random clusters for property tests: a few 4- and 8-GPU nodes of two models, partly lent and
 * partly busy with internal pods, and Pending leases of three tenants (one of them may be Dedicated).
 */
import fc from "fast-check";
import type { ClusterSnapshot, LeaseView } from "../../src/core/model.ts";
import type { ClusterPlan } from "../../src/core/planner.ts";
import { H100, lease, node, pod, quota, snapshot, T0, tenantNs } from "./snapshot-builder.ts";

export const arbitraryCluster = fc.record({
  nodes: fc.array(
    fc.record({
      gpus: fc.constantFrom(4, 8),
      model: fc.constantFrom(H100, "A100"),
      lent: fc.boolean(),
      internal: fc.integer({ min: 0, max: 8 }),
    }),
    { minLength: 1, maxLength: 8 },
  ),
  leases: fc.array(
    fc.record({
      tenant: fc.constantFrom("a", "b", "c"),
      gpus: fc.integer({ min: 1, max: 16 }),
      perNode: fc.constantFrom(undefined, 1, 2, 4),
      model: fc.constantFrom(undefined, H100, "A100"),
      reserved: fc.boolean(),
      priority: fc.integer({ min: -2, max: 2 }),
    }),
    { maxLength: 14 },
  ),
  maxGpus: fc.integer({ min: 0, max: 40 }),
  dedicatedA: fc.boolean(),
});

export type ArbitraryCluster = typeof arbitraryCluster extends fc.Arbitrary<infer T> ? T : never;

export function buildCluster(c: ArbitraryCluster) {
  const nodes = c.nodes.map((n, i) =>
    node(`n${i}`, { gpus: { "nvidia.com/gpu": n.gpus }, gpuModel: n.model, lent: n.lent }),
  );
  const pods = c.nodes.map((n, i) =>
    pod("internal", `busy-${i}`, {
      nodeName: `n${i}`,
      phase: "Running",
      gpus: { "nvidia.com/gpu": Math.min(n.internal, n.gpus) },
    }),
  );
  const leases: LeaseView[] = c.leases.map((l, i) =>
    lease(
      `${l.tenant}-ns`,
      `l${i}`,
      {
        gpus: l.perNode ? Math.max(l.perNode, l.gpus - (l.gpus % l.perNode)) : l.gpus,
        ...(l.perNode ? { gpusPerNode: l.perNode } : {}),
        ...(l.model ? { gpuModel: l.model } : {}),
        ...(l.reserved ? { class: "Reserved", duration: "1h" } : {}),
        priority: l.priority,
      },
      { createdAt: T0 + i },
    ),
  );
  return snapshot({
    nodes,
    pods,
    leases,
    namespaces: ["a", "b", "c"].map((t) => tenantNs(`${t}-ns`, t)),
    quotas: ["a", "b", "c"].map((t) =>
      quota(t, {
        ...(t === "a" && c.dedicatedA ? { isolation: "Dedicated" } : {}),
        limits: [
          { maxGpus: c.maxGpus, maxReservedGpus: Math.floor(c.maxGpus / 2) },
          { gpuModel: H100, maxGpus: c.maxGpus },
        ],
      }),
    ),
  });
}

/** Applies a plan's lease statuses and taints to the snapshot, as the API server would after the writes. */
export function afterWrites(snap: ClusterSnapshot, plan: ClusterPlan): ClusterSnapshot {
  const lent = new Set(plan.lendNodes.map((c) => c.node));
  return {
    ...snap,
    nodes: snap.nodes.map((n) => (lent.has(n.name) ? { ...n, lent: true } : n)),
    leases: snap.leases.map((l) => {
      const s = plan.leaseStatuses.find((x) => x.lease.uid === l.uid);
      return s ? { ...l, status: s.status } : l;
    }),
  };
}

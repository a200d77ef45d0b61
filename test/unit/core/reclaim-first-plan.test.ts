import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ClusterSnapshot, PodView } from "../../../src/core/model.ts";
import type { PlanAction } from "../../../src/core/plan-actions.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { planReclaimFirst } from "../../../src/core/reclaim-first-plan.ts";
import { afterWrites, arbitraryCluster, buildCluster } from "../../support/arbitrary-cluster.ts";
import { H100, pod, T0 } from "../../support/snapshot-builder.ts";

/**
 * A cluster some time after its leases were admitted, with each Active lease's pods running on its
 * nodes, and then internal pods that cannot schedule: the moment the reclaim-first plan is for.
 */
const withDemand = fc.record({
  // Lent nodes hold no internal pods, and quotas leave room: more Active leases to reclaim from.
  cluster: arbitraryCluster.map((c) => ({
    ...c,
    nodes: c.nodes.map((n) => (n.lent ? { ...n, internal: 0 } : n)),
    maxGpus: Math.max(c.maxGpus, 24),
  })),
  demand: fc.array(
    fc.record({
      gpus: fc.integer({ min: 2, max: 8 }),
      model: fc.constantFrom(undefined, H100, "A100"),
      job: fc.constantFrom("a", "b", undefined),
    }),
    { minLength: 2, maxLength: 6 },
  ),
  later: fc.integer({ min: 0, max: 3 * 3600_000 }),
});

function scenario(input: typeof withDemand extends fc.Arbitrary<infer T> ? T : never): ClusterSnapshot {
  const start = buildCluster(input.cluster);
  const admitted = afterWrites(start, planCluster(start));
  const now = T0 + input.later;
  const tenantPods: PodView[] = admitted.leases.flatMap((l) =>
    (l.status.allocations ?? []).map((a) =>
      pod(l.namespace, `${l.name}-${a.node}`, {
        lease: l.name,
        nodeName: a.node,
        phase: "Running",
        gpus: { "nvidia.com/gpu": a.gpus },
      }),
    ),
  );
  const internal = input.demand.map((d, i) =>
    pod("internal", `wants-${i}`, {
      phase: "Pending",
      unschedulable: true,
      unschedulableSince: now - 1000,
      createdAt: now - 60_000,
      gpus: { "nvidia.com/gpu": d.gpus },
      nodeSelector: d.model ? { "nvidia.com/gpu.product": d.model } : {},
      ...(d.job ? { group: `internal/job/${d.job}`, groupSize: 1 } : {}),
    }),
  );
  return { ...admitted, now, pods: [...admitted.pods, ...tenantPods, ...internal] };
}

describe("the reclaim-first plan", () => {
  it("writes only what the whole plan writes for the same snapshot, and every notice of it", () => {
    let reclaims = 0;
    fc.assert(
      fc.property(withDemand, (input) => {
        const snap = scenario(input);
        const whole = planCluster(snap);
        const first = planReclaimFirst(snap);
        // Writes by id; Events (numbered in plan order) by what they say and what they wait for.
        const wholeById = new Map(whole.actions.map((a) => [a.id, a]));
        const eventKey = (a: PlanAction) => (a.kind === "event" ? JSON.stringify([a.event, a.requires]) : "");
        const wholeEvents = new Set(whole.actions.map(eventKey));
        for (const action of first.actions) {
          if (action.kind === "event") expect(wholeEvents).toContain(eventKey(action));
          else expect(action).toEqual(wholeById.get(action.id));
        }
        const noticeIds = (actions: PlanAction[]) =>
          actions
            .filter((a) => a.kind === "podNotice")
            .map((a) => a.id)
            .sort();
        expect(noticeIds(first.actions)).toEqual(noticeIds(whole.actions));
        expect(first.noticesGiven.map((l) => l.uid).sort()).toEqual(
          whole.noticesGiven.map((l) => l.uid).sort(),
        );
        if (whole.noticesGiven.length > 0) reclaims++;
      }),
      { numRuns: 1000 },
    );
    // The property saw reclaims, not only clusters where the demand fit or could not be helped.
    expect(reclaims).toBeGreaterThan(60);
  });
});

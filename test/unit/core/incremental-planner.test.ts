import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IncrementalPlanner, planDivergence } from "../../../src/core/incremental-planner.ts";
import type { ClusterSnapshot } from "../../../src/core/model.ts";
import type { ClusterPlan } from "../../../src/core/planner.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { applyEvent, startingWorld, type WorldEvent, worldEvent } from "../../support/cluster-world.ts";
import { lease, quota, snapshot, tenantNs } from "../../support/snapshot-builder.ts";

/**
 * The oracle of incremental planning: after every event of a random sequence, the incremental
 * planner's plan equals the plan made from scratch on the same snapshot.
 */
describe("the incremental planner", () => {
  it("plans as the reference does after every event of random sequences", () => {
    const totals = {
      reused: 0,
      unlooked: 0,
      computed: 0,
      admissionKept: 0,
      admissionDelta: 0,
      tenantsReused: 0,
      steps: 0,
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.constantFrom(0, 60_000),
        fc.constantFrom(0, 8),
        fc.array(worldEvent, { minLength: 5, maxLength: 60 }),
        (nodes, periodMs, headroomGpus, events: WorldEvent[]) => {
          let world = startingWorld(nodes, {
            meteringIntervalMs: periodMs,
            idlePeriodMs: periodMs,
            headroomGpus,
          });
          const incremental = new IncrementalPlanner();
          let plan: ClusterPlan = planCluster(world);
          for (const event of events) {
            world = applyEvent(world, event, plan);
            const fromScratch = planCluster(world);
            const reused = incremental.plan(world);
            const diverged = planDivergence(reused, fromScratch);
            if (diverged) {
              expect({ event, part: diverged, value: reused[diverged] }).toEqual({
                event,
                part: diverged,
                value: fromScratch[diverged],
              });
            }
            const stats = incremental.lastStats();
            totals.reused += stats.leasePlansReused;
            totals.unlooked += stats.leasePlansUnlooked;
            totals.computed += stats.leasePlansComputed;
            totals.tenantsReused += stats.tenantStatusesReused;
            if (stats.admission === "reused") totals.admissionKept += 1;
            if (stats.admission === "delta") totals.admissionDelta += 1;
            totals.steps += 1;
            plan = fromScratch;
          }
        },
      ),
      { numRuns: 2000 },
    );
    // The sequences reached steady states where reuse happens, not only states planned from scratch.
    expect(totals.reused).toBeGreaterThan(totals.computed / 10);
    // Reused plans were also kept without a look, from what changed (lease-dirty-set.ts).
    expect(totals.unlooked).toBeGreaterThan(totals.reused / 10);
    expect(totals.admissionKept).toBeGreaterThan(totals.steps / 50);
    expect(totals.admissionDelta).toBeGreaterThan(100);
    expect(totals.tenantsReused).toBeGreaterThan(totals.steps / 5);
  });
});

describe("the incremental planner's kept ledger reads", () => {
  it("finds a lease gone unwatched from its quota's record, as the reference does", () => {
    const base = snapshot({});
    const tracked = lease("acme-ns", "tracked", { gpus: 1 }, { status: { phase: "Active" } });
    const other = lease("acme-ns", "other", { gpus: 1 });
    const acme = quota("acme", { limits: [{ maxGpus: 8 }] });
    const recorded = {
      ...acme,
      status: {
        ledger: { liveLeases: [{ uid: tracked.uid, lease: "acme-ns/tracked", gpuSeconds: 60 }] },
      },
    };
    const before: ClusterSnapshot = {
      ...base,
      settings: { ...base.settings, meteringIntervalMs: 60_000 },
      namespaces: [tenantNs("acme-ns", "acme")],
      quotas: [recorded],
      leases: [tracked, other],
    };
    const incremental = new IncrementalPlanner();
    incremental.plan(before);
    incremental.plan({ ...before, now: before.now + 1 });
    // The lease is gone and the operator never saw it go (no vanished record): the same quota object.
    const after = { ...before, now: before.now + 2, leases: [other] };
    const reference = planCluster(after);
    expect(reference.events.some((e) => e.reason === "LeaseVanished")).toBe(true);
    expect(planDivergence(incremental.plan(after), reference)).toBeUndefined();
  });
});

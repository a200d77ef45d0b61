/**
 * Exactly-once billing: a deleted lease's usage enters its tenant's ledger once, whatever the deletion
 * rate, the write failures, and a crash between the ledger write and the finalizer removal.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { selectBatch } from "../../../src/core/batch-selector.ts";
import type { ClusterSnapshot, LeaseView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { MAX_FOLDED_UIDS } from "../../../src/core/quota-status.ts";
import { lease, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const HOUR = 3_600_000;

/** `count` Ended leases being deleted, each with 3,600 GPU-seconds of usage. */
function deleting(count: number): LeaseView[] {
  return Array.from({ length: count }, (_, i) =>
    lease(
      "a-ns",
      `l${i}`,
      { gpus: 1 },
      {
        deleting: true,
        status: {
          phase: "Ended",
          endReason: "Expired",
          admittedAt: new Date(T0 - 2 * HOUR).toISOString(),
          endedAt: new Date(T0 - HOUR).toISOString(),
          pricing: { perGpuHour: "1.00", currency: "USD" },
          usage: { gpuSeconds: 3600, closedGpuSeconds: 3600, charges: "1.00" },
        },
      },
    ),
  );
}

/** Runs passes: the selected quota status and finalizer removals land unless `fails` says not. */
function run(
  world: ClusterSnapshot,
  passes: number,
  budget: number,
  fails: (pass: number, id: string) => boolean,
  crashAfterLedger?: (pass: number) => boolean,
): void {
  for (let p = 0; p < passes; p++) {
    const plan = planCluster(world);
    const batch = selectBatch(plan.actions, { urgent: budget, other: budget });
    if (batch.waves.length === 0) return; // converged
    const ok = new Set<string>();
    for (const wave of batch.waves) {
      for (const action of wave) {
        if (!action.requires.every((id) => ok.has(id)) || fails(p, action.id)) continue;
        if (action.kind === "quotaStatus") {
          world.quotas = world.quotas.map((q) =>
            q.name === action.quota.name ? { ...q, status: action.status } : q,
          );
          // A crash right after the ledger write: nothing else of this pass lands.
          if (crashAfterLedger?.(p)) {
            run(world, passes - p - 1, budget, fails);
            return;
          }
        } else if (action.kind === "resourceQuota") {
          world.resourceQuotas = [action.quota];
        } else if (action.kind === "removeFinalizer") {
          world.leases = world.leases.filter((l) => l.uid !== action.lease.uid);
        } else if (action.kind === "leaseStatus") {
          world.leases = world.leases.map((l) =>
            l.uid === action.lease.uid ? { ...l, status: action.status } : l,
          );
        }
        ok.add(action.id);
      }
    }
  }
}

const start = (leases: LeaseView[]) =>
  snapshot({
    now: T0,
    leases,
    namespaces: [tenantNs("a-ns", "a")],
    quotas: [quota("a", { limits: [{ maxGpus: 10 }] })],
  });

describe("the ledger", () => {
  it("folds 2,000 leases deleted at once exactly once each", () => {
    const world = start(deleting(2000));
    run(world, 200, 128, () => false);
    expect(world.leases).toEqual([]);
    const ledger = world.quotas[0]?.status.ledger;
    expect(ledger?.retiredLeases).toBe(2000);
    expect(ledger?.gpuSeconds).toBe(2000 * 3600);
    expect(ledger?.chargeMicros).toBe(String(2000 * 1_000_000));
    // Every lease is gone, so no UID needs keeping.
    const plan = planCluster(world);
    expect(plan.quotaStatuses[0]?.status.ledger?.foldedUids ?? []).toEqual([]);
  }, 60_000);

  it("never folds a lease twice under write failures, crashes after the ledger write, and stale UIDs", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 2 ** 30 }),
        fc.constantFrom(0, 0.2, 0.5),
        (count, budget, seed, rate) => {
          const world = start(deleting(count));
          // Leftover UIDs of leases long gone (a previous version's recentUids) must not matter.
          world.quotas = world.quotas.map((q) => ({
            ...q,
            status: {
              ledger: {
                retiredLeases: 5,
                gpuSeconds: 50,
                chargeMicros: "0",
                recentUids: ["gone-1", "gone-2"],
              },
            },
          }));
          const hash = (p: number, id: string) => {
            let h = (seed ^ Math.imul(p + 1, 0x9e3779b1)) >>> 0;
            for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0;
            return (h % 1000) / 1000;
          };
          run(
            world,
            40,
            budget,
            (p, id) => hash(p, id) < rate,
            (p) => hash(p, "crash") < rate / 2,
          );
          run(world, 200, budget, () => false);
          expect(world.leases).toEqual([]);
          expect(world.quotas[0]?.status.ledger?.retiredLeases).toBe(5 + count);
          expect(world.quotas[0]?.status.ledger?.gpuSeconds).toBe(50 + count * 3600);
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);

  it("holds further deleted leases back, not drops them, when the ledger's UID list is full", () => {
    const world = start(deleting(3));
    const full = Array.from({ length: MAX_FOLDED_UIDS }, (_, i) => `live-${i}`);
    // The full list belongs to leases that still exist (deleting, not yet released by their finalizer).
    const holders = full.map((uid, i) => ({ ...lease("a-ns", `h${i}`, { gpus: 1 }), uid, deleting: true }));
    world.leases = [...world.leases, ...holders];
    world.quotas = world.quotas.map((q) => ({
      ...q,
      status: { ledger: { retiredLeases: 0, foldedUids: full } },
    }));
    const plan = planCluster(world);
    const ledger = plan.quotaStatuses[0]?.status.ledger;
    expect(ledger?.retiredLeases ?? 0).toBe(0);
    expect(plan.removeFinalizers.filter((l) => l.name.startsWith("l"))).toEqual([]);
  }, 30_000);
});

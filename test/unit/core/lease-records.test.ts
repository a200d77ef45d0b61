/**
 * The persisted record of each lease's billing state (TenantQuota status.ledger.liveLeases): a lease
 * deleted without its finalizer is billed even when no operator saw it go.
 */
import { describe, expect, it } from "vitest";
import type { TenantQuotaStatus } from "../../../src/api/index.ts";
import type { LeaseView } from "../../../src/core/model.ts";
import { type ClusterPlan, planCluster } from "../../../src/core/planner.ts";
import { activeTrainLease } from "../../support/fixtures.ts";
import { node, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const _iso = (ms: number) => new Date(ms).toISOString();
const _HOUR = 3_600_000;

const world = (parts: {
  leases?: LeaseView[];
  status?: TenantQuotaStatus;
  vanished?: LeaseView[];
  unreadable?: string[];
}) =>
  snapshot({
    namespaces: [tenantNs("acme-ns", "acme")],
    quotas: [quota("acme", {}, parts.status ?? {})],
    nodes: [node("n1", { lent: true })],
    leases: parts.leases ?? [],
    vanishedLeases: (parts.vanished ?? []).map((l) => ({ lease: l, vanishedAt: T0 })),
    ...(parts.unreadable ? { unreadableLeases: parts.unreadable } : {}),
  });

const quotaStatus = (plan: ClusterPlan) => plan.quotaStatuses.find((q) => q.quota.name === "acme")?.status;
const vanishedEvents = (plan: ClusterPlan) => plan.events.filter((e) => e.reason === "LeaseVanished");

/** The status the operator wrote while the lease was alive: its record, nothing in the ledger yet. */
function recordedWhileAlive(l: LeaseView): TenantQuotaStatus {
  const status = quotaStatus(planCluster(world({ leases: [l] })));
  if (!status) throw new Error("no quota status planned");
  return status;
}

describe("the record of each lease in its TenantQuota's status", () => {
  it("holds every lease not in the ledger, with its usage and price as this plan gives them", () => {
    const l = activeTrainLease(8 * 3600);
    expect(recordedWhileAlive(l).ledger?.liveLeases).toEqual([
      { uid: l.uid, lease: "acme-ns/train", gpuSeconds: 8 * 3600, perGpuHour: "2" },
    ]);
  });

  it("bills a lease that vanished while no operator ran, from its record, once", () => {
    const l = activeTrainLease(8 * 3600);
    const written = recordedWhileAlive(l);
    // The operator restarts: the lease is gone from the cache, and no memory says it ever went.
    const plan = planCluster(world({ status: written }));
    const ledger = quotaStatus(plan)?.ledger;
    expect(ledger).toMatchObject({
      retiredLeases: 1,
      gpuSeconds: 8 * 3600,
      chargeMicros: String(16 * 1_000_000),
      foldedUids: [l.uid],
    });
    expect(ledger?.liveLeases).toBeUndefined(); // the fold and the record's removal are one write
    expect(vanishedEvents(plan)).toEqual([
      expect.objectContaining({ kind: "TenantQuota", name: "acme", type: "Warning" }),
    ]);
    expect(vanishedEvents(plan)[0]?.message).toContain(
      "lease acme-ns/train was deleted without its finalizer",
    );

    // Written, then planned again: nothing more is folded, and the UID leaves the ledger.
    const again = planCluster(world({ status: quotaStatus(plan) }));
    expect(quotaStatus(again)?.ledger).toMatchObject({
      retiredLeases: 1,
      gpuSeconds: 8 * 3600,
      foldedUids: [],
    });
    expect(vanishedEvents(again)).toEqual([]);
  });

  it("folds a lease the operator saw vanish once, whether it restarts before or after writing the fold", () => {
    const l = activeTrainLease(8 * 3600);
    const written = recordedWhileAlive(l);
    // The running operator saw it go: its memory and the record name the same lease.
    const seen = planCluster(world({ status: written, vanished: [l] }));
    const folded = quotaStatus(seen);
    expect(folded?.ledger).toMatchObject({ retiredLeases: 1, foldedUids: [l.uid] });
    expect(folded?.ledger?.liveLeases).toBeUndefined();
    expect(vanishedEvents(seen)).toHaveLength(1);

    // Restart after the fold was written, before the operator forgot the lease: not billed again.
    const afterWrite = planCluster(world({ status: folded }));
    expect(quotaStatus(afterWrite)?.ledger).toMatchObject({ retiredLeases: 1, gpuSeconds: 8 * 3600 });
    expect(vanishedEvents(afterWrite)).toEqual([]);

    // Restart before the fold was written: memory is lost, the record still bills it.
    const beforeWrite = planCluster(world({ status: written }));
    expect(quotaStatus(beforeWrite)?.ledger).toMatchObject({ retiredLeases: 1, gpuSeconds: 8 * 3600 });
  });

  it("counts a recorded reclaim as reclaimed GPU-seconds", () => {
    const l = activeTrainLease(8 * 3600);
    const reclaimed = {
      ...l,
      status: { ...l.status, phase: "Ended" as const, endReason: "Reclaimed" as const, allocations: [] },
    };
    const written = recordedWhileAlive(reclaimed);
    expect(written.ledger?.liveLeases?.[0]?.reclaimed).toBe(true);
    const ledger = quotaStatus(planCluster(world({ status: written })))?.ledger;
    expect(ledger).toMatchObject({ gpuSeconds: 8 * 3600, reclaimedGpuSeconds: 8 * 3600 });
  });

  it("keeps the record of a lease that exists but cannot be read, and bills nothing for it", () => {
    const l = activeTrainLease(8 * 3600);
    const written = recordedWhileAlive(l);
    const plan = planCluster(world({ status: written, unreadable: ["acme-ns/train"] }));
    const ledger = quotaStatus(plan)?.ledger ?? written.ledger;
    expect(ledger?.retiredLeases ?? 0).toBe(0);
    expect(ledger?.liveLeases).toEqual(written.ledger?.liveLeases);
    expect(vanishedEvents(plan)).toEqual([]);
  });
});

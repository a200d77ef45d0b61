import { describe, expect, it } from "vitest";
import type { LeaseView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { activeTrainLease } from "../../support/fixtures.ts";
import { node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const _iso = (ms: number) => new Date(ms).toISOString();
const _HOUR = 3_600_000;

const world = (vanished: LeaseView, ledger: Record<string, unknown> | undefined) =>
  snapshot({
    namespaces: [tenantNs("acme-ns", "acme")],
    quotas: [quota("acme", {}, ledger ? { ledger } : {})],
    nodes: [node("n1", { lent: true })],
    pods: [
      pod("acme-ns", "worker", {
        nodeName: "n1",
        phase: "Running",
        lease: "train",
        gpus: { "nvidia.com/gpu": 8 },
      }),
    ],
    leases: [],
    vanishedLeases: [{ lease: vanished, vanishedAt: T0 }],
  });

describe("a lease deleted without its finalizer", () => {
  it("records its usage in the ledger from the operator's own record, and its pods become orphans", () => {
    const gone = activeTrainLease(0);
    const plan = planCluster(world(gone, undefined));
    const ledger = plan.quotaStatuses.find((q) => q.quota.name === "acme")?.status.ledger;
    expect(ledger).toMatchObject({ retiredLeases: 1, gpuSeconds: 8 * 3600, foldedUids: [gone.uid] });
    expect(ledger?.chargeMicros).toBe(String(16 * 1_000_000)); // 8 GPU-hours at 2 USD
    expect(plan.settledVanished).toEqual([]);
    expect(plan.events).toContainEqual(
      expect.objectContaining({ kind: "TenantQuota", name: "acme", reason: "LeaseVanished" }),
    );
    expect(plan.orphans.map((o) => [o.pod.name, o.why])).toEqual([
      ["worker", "its lease train does not exist"],
    ]);
  });

  it("is folded once: with its UID in the ledger it is forgotten and not counted again", () => {
    const gone = activeTrainLease(0);
    const ledger = {
      retiredLeases: 1,
      gpuSeconds: 28800,
      reclaimedGpuSeconds: 0,
      chargeMicros: "16000000",
      foldedUids: [gone.uid],
    };
    const plan = planCluster(world(gone, ledger));
    expect(plan.settledVanished).toEqual([gone.uid]);
    const after = plan.quotaStatuses.find((q) => q.quota.name === "acme")?.status.ledger ?? ledger;
    expect(after).toMatchObject({ retiredLeases: 1, gpuSeconds: 28800, foldedUids: [gone.uid] });
  });
});

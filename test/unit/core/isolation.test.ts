import { describe, expect, it } from "vitest";
import type { LeaseView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { lease, node, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const iso = (ms: number) => new Date(ms).toISOString();

const activeOn = (ns: string, name: string, nodeName: string, gpus: number): LeaseView =>
  lease(
    ns,
    name,
    { gpus },
    {
      status: {
        phase: "Active",
        admittedAt: iso(T0 - 60_000),
        allocations: [{ node: nodeName, gpus, since: iso(T0 - 60_000) }],
        pricing: { perGpuHour: "1", currency: "USD" },
      },
    },
  );

const world = (aIsolation: "Shared" | "Dedicated", leases: LeaseView[]) =>
  snapshot({
    namespaces: [tenantNs("a-ns", "a"), tenantNs("b-ns", "b")],
    quotas: [quota("a", { isolation: aIsolation }), quota("b")],
    // n1 is lent with room left; n2 is idle and lendable.
    nodes: [node("n1", { lent: true }), node("n2")],
    leases,
  });

const placed = (plan: ReturnType<typeof planCluster>, name: string) =>
  plan.decisions.find((d) => d.lease.name === name && d.kind === "admit");

describe("TenantQuota isolation", () => {
  it("places a Dedicated tenant's lease away from another tenant's node (a Shared one shares it)", () => {
    const others = [activeOn("b-ns", "theirs", "n1", 4)];
    const pending = lease("a-ns", "mine", { gpus: 4 });
    const shared = planCluster(world("Shared", [...others, pending]));
    expect(placed(shared, "mine")).toMatchObject({
      placement: { allocations: [{ node: "n1", gpus: 4 }] },
    });
    const dedicated = planCluster(world("Dedicated", [...others, pending]));
    expect(placed(dedicated, "mine")).toMatchObject({
      placement: { allocations: [{ node: "n2", gpus: 4 }] },
    });
  });

  it("keeps other tenants off a node a Dedicated tenant holds, and lets the tenant share with itself", () => {
    const mine = activeOn("a-ns", "mine", "n1", 4);
    const theirs = lease("b-ns", "theirs", { gpus: 4 }, { createdAt: T0 - 2 });
    const more = lease("a-ns", "more", { gpus: 4 }, { createdAt: T0 - 1 });
    const plan = planCluster(world("Dedicated", [mine, theirs, more]));
    expect(placed(plan, "theirs")).toMatchObject({ placement: { allocations: [{ node: "n2", gpus: 4 }] } });
    expect(placed(plan, "more")).toMatchObject({ placement: { allocations: [{ node: "n1", gpus: 4 }] } });
  });
});

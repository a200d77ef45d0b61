import { describe, expect, it } from "vitest";
import { ReferenceCheck } from "../../../src/controller/reference-check.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { lease, node, quota, snapshot, tenantNs } from "../../support/snapshot-builder.ts";

const cluster = snapshot({
  nodes: [node("n0")],
  namespaces: [tenantNs("a-ns", "a")],
  quotas: [quota("a")],
  leases: [lease("a-ns", "small", { gpus: 2 })],
});

describe("the production reference check", () => {
  it("runs at most once per interval, and finds no difference in a plan made as the reference makes it", () => {
    const check = new ReferenceCheck(1000);
    const plan = planCluster(cluster);
    expect(check.run(10_000, cluster, plan)).toMatchObject({ part: undefined });
    expect(check.run(10_500, cluster, plan)).toBeUndefined();
    expect(check.run(11_000, cluster, plan)).toMatchObject({ part: undefined });
  });

  it("names the first part of a plan that differs from the reference's", () => {
    const check = new ReferenceCheck(1000);
    // A plan made without the lease: the reference admits it.
    const stale = planCluster({ ...cluster, leases: [] });
    expect(check.run(0, cluster, stale)).toMatchObject({ part: "actions", at: "0 lend/n0" });
  });

  it("never runs with an interval of 0", () => {
    const check = new ReferenceCheck(0);
    expect(check.run(0, cluster, planCluster(cluster))).toBeUndefined();
  });
});

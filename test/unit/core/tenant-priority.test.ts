import { describe, expect, it } from "vitest";
import type { ClusterSnapshot } from "../../../src/core/model.ts";
import type { PlanAction } from "../../../src/core/plan-actions.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { priorityQuotaSpec } from "../../../src/core/tenant-priority.ts";
import { quota, snapshot, tenantNs } from "../../support/snapshot-builder.ts";

function world(classes: string[] | undefined, parts: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  const base = snapshot({
    namespaces: [
      tenantNs("acme-ns", "acme"),
      tenantNs("beta-ns", "beta"),
      { ...tenantNs("gone-ns", "beta"), terminating: true },
      { name: "training", tenant: undefined },
    ],
    quotas: [quota("acme"), quota("beta")],
    ...parts,
  });
  return {
    ...base,
    settings: { ...base.settings, ...(classes ? { tenantPriorityClasses: classes } : {}) },
  };
}

const ofKind = <K extends PlanAction["kind"]>(s: ClusterSnapshot, kind: K) =>
  planCluster(s).actions.filter((a): a is Extract<PlanAction, { kind: K }> => a.kind === kind);

describe("the priority allow-list ConfigMap", () => {
  const seen = (value: string | undefined, exists = true) => ({
    tenantAdmission: { namespace: "gpulease-system", exists, value },
  });

  it("is written with the configuration's classes, sorted, when it says otherwise", () => {
    const [write] = ofKind(world(["tenant-high", "batch"], seen("")), "tenantAdmission");
    expect(write).toMatchObject({ namespace: "gpulease-system", value: "batch,tenant-high", create: false });
  });

  it("is left alone when it already says the configuration's classes", () => {
    expect(ofKind(world(["tenant-high", "batch"], seen("batch,tenant-high")), "tenantAdmission")).toEqual([]);
    expect(ofKind(world(undefined, seen("")), "tenantAdmission")).toEqual([]);
  });

  it("says none by default, even over a list edited by hand or a missing key", () => {
    expect(ofKind(world(undefined, seen("system-node-critical")), "tenantAdmission")[0]?.value).toBe("");
    expect(ofKind(world(undefined, seen(undefined)), "tenantAdmission")[0]?.value).toBe("");
  });

  it("is created when it was deleted", () => {
    expect(ofKind(world(["x"], seen(undefined, false)), "tenantAdmission")[0]).toMatchObject({
      value: "x",
      create: true,
    });
  });

  it("is not planned when the shell does not watch it", () => {
    expect(ofKind(world(["x"]), "tenantAdmission")).toEqual([]);
  });
});

describe("the priority ResourceQuota of each tenant namespace", () => {
  it("allows gpulease-tenant and the configured classes, in every live tenant namespace", () => {
    const writes = ofKind(world(["tenant-high"], { priorityQuotas: [] }), "priorityQuota");
    expect(writes.map((w) => w.quota)).toEqual([
      { namespace: "acme-ns", allowedClasses: ["gpulease-tenant", "tenant-high"] },
      { namespace: "beta-ns", allowedClasses: ["gpulease-tenant", "tenant-high"] },
    ]);
  });

  it("is rewritten only where it allows other classes", () => {
    const writes = ofKind(
      world(["tenant-high"], {
        priorityQuotas: [
          { namespace: "acme-ns", allowedClasses: ["tenant-high", "gpulease-tenant"] },
          { namespace: "beta-ns", allowedClasses: ["gpulease-tenant"] },
        ],
      }),
      "priorityQuota",
    );
    expect(writes.map((w) => w.quota.namespace)).toEqual(["beta-ns"]);
  });

  it("refuses pods of every class outside the list, and leaves out pods that name none", () => {
    expect(priorityQuotaSpec(["gpulease-tenant", "tenant-high"])).toEqual({
      hard: { pods: "0" },
      scopeSelector: {
        matchExpressions: [
          { scopeName: "PriorityClass", operator: "Exists" },
          { scopeName: "PriorityClass", operator: "NotIn", values: ["gpulease-tenant", "tenant-high"] },
        ],
      },
    });
  });
});

import { describe, expect, it } from "vitest";
import { planCluster } from "../../../src/core/planner.ts";
import type { RoleBindingView } from "../../../src/core/tenant-bindings.ts";
import { quota, snapshot, tenantNs } from "../../support/snapshot-builder.ts";

const binding = (namespace: string, name: string, role: string, subjects: string[]): RoleBindingView => ({
  namespace,
  name,
  role,
  subjects,
});

const world = (roleBindings: RoleBindingView[]) =>
  snapshot({
    namespaces: [
      tenantNs("acme-prod", "acme"),
      { name: "sandbox", tenant: undefined },
      { name: "ml", tenant: undefined },
    ],
    quotas: [quota("acme")],
    roleBindings,
  });

describe("a tenant's users bound outside its namespaces", () => {
  it("are reported on the tenant's TenantQuota, naming the binding, the users and the role", () => {
    const plan = planCluster(
      world([
        binding("acme-prod", "alice-edit", "ClusterRole/edit", ["User/alice", "Group/system:authenticated"]),
        binding("sandbox", "alice-edit", "ClusterRole/edit", ["User/alice"]),
      ]),
    );
    expect(plan.tenantBindingsOutside.map((f) => [f.binding.namespace, f.tenant, f.subjects])).toEqual([
      ["sandbox", "acme", ["User/alice"]],
    ]);
    const event = plan.events.find((e) => e.reason === "TenantBoundOutside");
    expect(event).toMatchObject({ kind: "TenantQuota", name: "acme", type: "Warning" });
    expect(event?.message).toContain(
      "RoleBinding sandbox/alice-edit gives User/alice of tenant acme the role ClusterRole/edit",
    );
  });

  it("leaves internal users, and system groups every tenant shares, alone", () => {
    const plan = planCluster(
      world([
        binding("acme-prod", "alice-edit", "ClusterRole/edit", ["User/alice", "Group/system:authenticated"]),
        binding("ml", "bob-edit", "ClusterRole/edit", ["User/bob"]),
        binding("ml", "everyone-view", "ClusterRole/view", ["Group/system:authenticated"]),
      ]),
    );
    expect(plan.tenantBindingsOutside).toEqual([]);
  });
});

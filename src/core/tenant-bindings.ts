/**
 * RoleBindings that give a tenant's users a role in a namespace without the tenant label: there its
 * GPU pods count as internal demand (and can reclaim other tenants' GPUs) and its pods escape every
 * tenant rule. A tenant's subjects are those bound in its tenant namespaces; system users and groups
 * (`system:…`, e.g. system:authenticated) are everyone's and say nothing about a tenant. Pure.
 */
import type { PlannedEvent } from "./lease-lifecycle.ts";
import type { NamespaceView } from "./model.ts";

export interface RoleBindingView {
  namespace: string;
  name: string;
  /** `ClusterRole/edit`, `Role/deployer`… */
  role: string;
  /** `User/alice`, `Group/acme-devs`, `ServiceAccount/acme-prod/ci`. */
  subjects: string[];
}

export interface MisplacedTenantBinding {
  binding: RoleBindingView;
  tenant: string;
  /** The binding's subjects that belong to the tenant. */
  subjects: string[];
}

const isSystemSubject = (subject: string) => subject.split("/").pop()?.startsWith("system:") === true;

export function tenantBindingsOutside(
  namespaces: NamespaceView[],
  bindings: RoleBindingView[],
): MisplacedTenantBinding[] {
  const tenantOf = new Map(namespaces.filter((n) => n.tenant).map((n) => [n.name, n.tenant as string]));
  const subjectTenant = new Map<string, string>();
  for (const binding of bindings) {
    const tenant = tenantOf.get(binding.namespace);
    if (tenant === undefined) continue;
    for (const subject of binding.subjects) if (!isSystemSubject(subject)) subjectTenant.set(subject, tenant);
  }
  const misplaced: MisplacedTenantBinding[] = [];
  for (const binding of bindings) {
    if (tenantOf.has(binding.namespace)) continue;
    const byTenant = new Map<string, string[]>();
    for (const subject of binding.subjects) {
      const tenant = subjectTenant.get(subject);
      if (tenant === undefined) continue;
      byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), subject]);
    }
    for (const [tenant, subjects] of byTenant) misplaced.push({ binding, tenant, subjects });
  }
  return misplaced.sort((a, b) =>
    `${a.binding.namespace}/${a.binding.name}` < `${b.binding.namespace}/${b.binding.name}` ? -1 : 1,
  );
}

/** What the platform team reads: a Warning Event on the tenant's TenantQuota (the recorder sends it once). */
export function misplacedBindingEvent(found: MisplacedTenantBinding): PlannedEvent {
  const { binding, tenant, subjects } = found;
  return {
    kind: "TenantQuota",
    name: tenant,
    type: "Warning",
    reason: "TenantBoundOutside",
    message: `RoleBinding ${binding.namespace}/${binding.name} gives ${subjects.join(", ")} of tenant ${tenant} the role ${binding.role} in namespace ${binding.namespace}, which has no gpulease.io/tenant label: pods they create there are internal demand (they can reclaim other tenants' GPUs) and escape the tenant rules`,
  };
}

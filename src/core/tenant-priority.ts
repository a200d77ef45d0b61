/**
 * What keeps tenant pods at or below the tenant's priority, as desired state. Two lines of defence
 * read the same allow-list (the operator configuration's `tenantPriorityClasses`):
 *
 * - the ConfigMap `gpulease-tenant-admission`, the param of the validating policy
 *   gpulease-tenant-priority (config/policies), which refuses other classes with a message;
 * - a ResourceQuota `gpulease-priority` in every tenant namespace that allows no pod of any other
 *   class, so the API server refuses it even if the policy or its binding were removed.
 *
 * Pure: the shell compares and writes (src/controller/executor.ts).
 */
import type { ClusterSnapshot } from "./model.ts";

export const TENANT_ADMISSION_CONFIGMAP = "gpulease-tenant-admission";
/** The key the validating policy reads: class names, comma-separated. */
export const ALLOWED_PRIORITY_CLASSES_KEY = "allowedPriorityClasses";
/** The class the mutating policy gives tenant pods that name none (priority 0, never preempts). */
export const TENANT_PRIORITY_CLASS = "gpulease-tenant";
export const PRIORITY_QUOTA_NAME = "gpulease-priority";

/** The ConfigMap's value for an allow-list: sorted, without repeats, comma-separated. */
export function allowedPriorityClassesValue(classes: readonly string[]): string {
  return [...new Set(classes)].sort().join(",");
}

/**
 * The ConfigMap write the allow-list needs, or undefined when the ConfigMap already says it.
 * `current`: the ConfigMap's value as last seen (null: the ConfigMap does not exist; undefined key:
 * it exists without the key).
 */
export function planTenantAdmission(
  classes: readonly string[],
  current: { exists: boolean; value: string | undefined },
): { value: string; create: boolean } | undefined {
  const value = allowedPriorityClassesValue(classes);
  if (current.exists && current.value === value) return undefined;
  return { value, create: !current.exists };
}

/** The classes a tenant pod may name: the tenant class and the platform's allow-list, sorted. */
export function priorityQuotaClasses(classes: readonly string[]): string[] {
  return [...new Set([TENANT_PRIORITY_CLASS, ...classes])].sort();
}

export interface DesiredPriorityQuota {
  namespace: string;
  /** The classes outside the scope: pods of every other class count, against `pods: 0`. */
  allowedClasses: string[];
}

/**
 * The priority quotas to write: one per tenant namespace that is not being deleted, where the one
 * last seen allows other classes (or there is none). Planned only when the snapshot says which exist.
 */
export function planPriorityQuotas(snapshot: ClusterSnapshot): DesiredPriorityQuota[] {
  if (snapshot.priorityQuotas === undefined) return [];
  const allowedClasses = priorityQuotaClasses(snapshot.settings.tenantPriorityClasses ?? []);
  const current = new Map(snapshot.priorityQuotas.map((q) => [q.namespace, q.allowedClasses]));
  return snapshot.namespaces
    .filter((ns) => ns.tenant !== undefined && !ns.terminating)
    .filter((ns) => {
      const written = current.get(ns.name);
      return written === undefined || [...written].sort().join("\n") !== allowedClasses.join("\n");
    })
    .map((ns) => ({ namespace: ns.name, allowedClasses }))
    .sort((a, b) => (a.namespace < b.namespace ? -1 : 1));
}

/**
 * The ResourceQuota spec of a priority quota: no pod that names a class outside the list. The scope
 * needs both terms: Kubernetes matches a pod without priorityClassName as lacking the PriorityClass
 * key, which NotIn alone matches, so such a pod (the mutating policy off, no global default class)
 * would be refused too; Exists leaves it out (it runs at priority 0).
 */
export function priorityQuotaSpec(allowedClasses: readonly string[]): Record<string, unknown> {
  return {
    hard: { pods: "0" },
    scopeSelector: {
      matchExpressions: [
        { scopeName: "PriorityClass", operator: "Exists" },
        { scopeName: "PriorityClass", operator: "NotIn", values: [...allowedClasses] },
      ],
    },
  };
}

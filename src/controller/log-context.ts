/**
 * The fields that tie a log line to what a platform team greps for: the tenant, lease, node and pod.
 */
import { LABEL_TENANT } from "../api/index.ts";
import type { PlannedEvent } from "../core/lease-lifecycle.ts";
import type { Informer } from "../kube/informer.ts";

/** The tenant a namespace belongs to (its gpulease.io/tenant label), from the namespace cache. */
export function tenantOf(namespaces: Informer, namespace: string | undefined): string | undefined {
  if (namespace === undefined) return undefined;
  const metadata = namespaces.get(namespace)?.metadata as { labels?: Record<string, string> } | undefined;
  return metadata?.labels?.[LABEL_TENANT];
}

const SUBJECT_FIELD: Record<PlannedEvent["kind"], string> = {
  GpuLease: "lease",
  Pod: "pod",
  Node: "node",
  TenantQuota: "tenant",
};

/** Log fields for a Kubernetes Event the operator records: the log tells the same story as the Events. */
export function eventLogFields(namespaces: Informer, event: PlannedEvent): Record<string, string> {
  const fields: Record<string, string> = { event: event.reason, eventType: event.type };
  if (event.namespace !== undefined) fields.namespace = event.namespace;
  const tenant = tenantOf(namespaces, event.namespace);
  if (tenant !== undefined) fields.tenant = tenant;
  fields[SUBJECT_FIELD[event.kind]] = event.name;
  return fields;
}

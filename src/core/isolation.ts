/**
 * Tenant isolation (TenantQuota.spec.isolation): a Dedicated tenant's leases go only on nodes no other
 * tenant's lease holds, and no other tenant's lease goes on a node a Dedicated tenant's lease holds.
 * A filter on placement, kept apart from the packing itself. Reclaim only takes leases off nodes and
 * binding only puts pods on their own lease's nodes, so neither can make two tenants share one. Pure.
 */
import type { NodeAccount } from "./accounting.ts";
import type { QuotaView } from "./model.ts";

/**
 * The placement filter for each tenant, from the accounts as admission books them (read at each call,
 * so later bookings count); undefined for every tenant when no tenant is Dedicated (nothing to filter).
 * Built once per plan: whether any tenant is Dedicated is decided once, not for each lease.
 */
export function isolationFilters(
  accounts: Map<string, NodeAccount>,
  owners: Map<string, string>,
  quotas: Map<string, QuotaView>,
): (tenant: string) => ((node: string) => boolean) | undefined {
  const dedicated = (name: string) => quotas.get(name)?.spec.isolation === "Dedicated";
  if (![...quotas.keys()].some(dedicated)) return () => undefined;
  const holders = (node: string): string[] =>
    [...(accounts.get(node)?.leaseHeld.keys() ?? [])].map(
      (key) => owners.get(key.slice(0, key.indexOf("/"))) ?? `namespace ${key}`,
    );
  return (tenant) =>
    dedicated(tenant)
      ? (node) => holders(node).every((holder) => holder === tenant)
      : (node) => !holders(node).some((holder) => holder !== tenant && dedicated(holder));
}

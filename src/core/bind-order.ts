/**
 * Fair order for bindings and the per-pod backoff after a refused bind. A pass carries out a bounded
 * number of writes in plan order, so the order decides who waits: round-robin across tenants, and
 * within a tenant across its leases, so no tenant's (or lease's) many pods hold back another's. A pod
 * whose bind the API server refused waits out its backoff (the shell keeps it) instead of being
 * planned first in every pass. Pure.
 */
import type { PodView } from "./model.ts";

/** One from each group in turn, until all are taken. */
export function interleave<T>(groups: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(0, ...groups.map((g) => g.length));
  for (let i = 0; i < longest; i++) for (const group of groups) if (i < group.length) out.push(group[i] as T);
  return out;
}

function groupBy<T>(items: T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k) ?? [];
    list.push(item);
    groups.set(k, list);
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, list]) => list);
}

/** Bindings round-robin across tenants, then across each tenant's leases; a lease's own order is kept. */
export function fairBindingOrder<B extends { lease: { namespace: string; name: string } }>(
  bindings: B[],
  tenantOf: (namespace: string) => string | undefined,
): B[] {
  const byTenant = groupBy(bindings, (b) => tenantOf(b.lease.namespace) ?? `namespace/${b.lease.namespace}`);
  return interleave(
    byTenant.map((tenant) => interleave(groupBy(tenant, (b) => `${b.lease.namespace}/${b.lease.name}`))),
  );
}

export interface BindBackoff {
  failures: number;
  until: number;
  /** The refusal the pod was last told about. */
  message: string;
}

/** A refused bind is retried after 5 s, doubling up to 5 min: never in a hot loop. */
export const BIND_BACKOFF_BASE_MS = 5_000;
export const BIND_BACKOFF_MAX_MS = 300_000;

/**
 * The pod's backoff after one more refusal, and whether to tell it: once per distinct reason, not
 * once per attempt.
 */
export function afterBindRefusal(
  previous: BindBackoff | undefined,
  message: string,
  now: number,
): { backoff: BindBackoff; tell: boolean } {
  const failures = (previous?.failures ?? 0) + 1;
  const delay = Math.min(BIND_BACKOFF_MAX_MS, BIND_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 16));
  return { backoff: { failures, until: now + delay, message }, tell: previous?.message !== message };
}

/** A gated pod whose last bind was refused, until its backoff is over. */
export function inBindBackoff(
  pod: PodView,
  backoff: ReadonlyMap<string, { until: number }> | undefined,
  now: number,
): boolean {
  return pod.gated && (backoff?.get(pod.uid)?.until ?? 0) > now;
}

/** When the first backoff still running ends (replan then). */
export function bindBackoffEnds(
  backoff: ReadonlyMap<string, { until: number }> | undefined,
  now: number,
): number | undefined {
  let first: number | undefined;
  for (const { until } of backoff?.values() ?? [])
    if (until > now && (first === undefined || until < first)) first = until;
  return first;
}

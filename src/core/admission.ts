/**
 * Admission: which Pending leases become Active now, where they are placed, and why the others wait
 * or are rejected. Pure: a snapshot and node accounts in, decisions out.
 *
 * The queue is fair between tenants: tenant priority (high first), then tenant share of its quota
 * (low first, recomputed after every admission), then lease priority (high first), then age. It is
 * best-effort: a lease that does not fit does not block smaller ones behind it.
 *
 * Placements made in this plan are not written yet, so they may still move: when a lease does not fit
 * only because earlier admissions of the same plan fragmented its GPU model's nodes, they are packed
 * again together with it, largest blocks first (see `repack`). Nobody admitted earlier loses its
 * admission; only where it goes changes.
 */
import { ANNOTATION_IDLE_SINCE } from "../api/labels.ts";
import type { NodeAccount } from "./accounting.ts";
import { tenantNamespaces } from "./accounting.ts";
import { isolationFilters } from "./isolation.ts";
import { type ClusterSnapshot, type LeaseView, leaseKey, type QuotaView } from "./model.ts";
import type { Placement, PlacementCandidate } from "./placement.ts";
import { PlacementIndex } from "./placement-index.ts";
import {
  neverAdmissible,
  quotaBlocks,
  type Refusal,
  type TenantUsage,
  tenantShare,
  usageOf,
} from "./quota-rules.ts";

export type AdmissionDecision =
  | { kind: "admit"; lease: LeaseView; quota: QuotaView; placement: Placement }
  | { kind: "wait"; lease: LeaseView; refusal: Refusal }
  | { kind: "reject"; lease: LeaseView; refusal: Refusal };

export interface AdmissionResult {
  decisions: AdmissionDecision[];
  /** Nodes to lend (taint) before the admitted leases are written. */
  lend: string[];
  /** Earliest time an idle node becomes eligible for lending, when something waits for capacity. */
  wakeAt: number | undefined;
}

export function isPending(lease: LeaseView): boolean {
  return !lease.deleting && (lease.status.phase === undefined || lease.status.phase === "Pending");
}

/** When an Internal node may be lent (undefined: not idle, or not lendable at all). */
export function lendableAt(account: NodeAccount, snapshot: ClusterSnapshot): number | undefined {
  const { node } = account;
  if (account.state !== "Internal" || !node.lendable || node.reclaimRequested || account.internalBusy)
    return undefined;
  if (snapshot.settings.idlePeriodMs === 0) return snapshot.now;
  const since = Date.parse(node.annotations[ANNOTATION_IDLE_SINCE] ?? "");
  return Number.isNaN(since) ? undefined : since + snapshot.settings.idlePeriodMs;
}

/** A tenant's queue order: priority (high first), then age, then name; the key is built once. */
function sortQueue(queue: LeaseView[]): LeaseView[] {
  const keyed = queue.map((lease) => ({ lease, key: leaseKey(lease) }));
  keyed.sort(
    (a, b) =>
      b.lease.spec.priority - a.lease.spec.priority ||
      a.lease.createdAt - b.lease.createdAt ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  return keyed.map((k) => k.lease);
}

/** The map kept under `key`, made empty the first time. */
function innerMap<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = outer.get(key);
  if (inner === undefined) {
    inner = new Map();
    outer.set(key, inner);
  }
  return inner;
}

/**
 * What admission reads of a lease's spec, as a string: two leases of one tenant with the same class
 * are decided alike while nothing is admitted (the same quota check, the same search, the same
 * messages). Kept per lease object, which the snapshot keeps while the lease is unchanged.
 */
const classKeys = new WeakMap<LeaseView, string>();
function admissionClass(lease: LeaseView): string {
  let key = classKeys.get(lease);
  if (key === undefined) {
    const { resourceName, gpuModel, gpus, gpusPerNode, class: leaseClass, duration } = lease.spec;
    key = `${resourceName}|${gpuModel ?? ""}|${gpus}|${gpusPerNode ?? ""}|${leaseClass}|${duration ?? ""}`;
    classKeys.set(lease, key);
  }
  return key;
}

/**
 * `mayLend`: whether an Internal node may be lent now. Internal GPU demand that could use a node keeps
 * it unlent (leases may still use room on nodes already Lent).
 */
export function admit(
  snapshot: ClusterSnapshot,
  accounts: Map<string, NodeAccount>,
  mayLend: (account: NodeAccount) => boolean = () => true,
  options: { memoizeFailedShapes?: boolean } = {},
): AdmissionResult {
  const memoize = options.memoizeFailedShapes ?? true;
  const owners = tenantNamespaces(snapshot);
  const decisions: AdmissionDecision[] = [];
  const lend: string[] = [];
  const quotas = new Map(snapshot.quotas.map((q) => [q.name, q]));

  // Queues per tenant; leases without a tenant or quota wait with a reason.
  const queues = new Map<string, LeaseView[]>();
  const neverByTenant = new Map<string, Map<string, Refusal | null>>();
  for (const lease of snapshot.leases) {
    if (!isPending(lease)) continue;
    const tenant = owners.get(lease.namespace);
    if (tenant === undefined) {
      decisions.push({
        kind: "wait",
        lease,
        refusal: {
          reason: "NotATenantNamespace",
          message: `namespace ${lease.namespace} belongs to no tenant: a cluster admin must label it gpulease.io/tenant=<tenant>`,
        },
      });
      continue;
    }
    const quota = quotas.get(tenant);
    if (!quota) {
      decisions.push({
        kind: "wait",
        lease,
        refusal: { reason: "NoTenantQuota", message: `tenant ${tenant} has no TenantQuota named ${tenant}` },
      });
      continue;
    }
    // A rejection depends on the quota and the lease's class only: checked once per class.
    const rejections = innerMap(neverByTenant, tenant);
    const cls = admissionClass(lease);
    let never = memoize ? rejections.get(cls) : undefined;
    if (never === undefined) {
      never = neverAdmissible(quota, lease) ?? null;
      rejections.set(cls, never);
    }
    if (never) {
      decisions.push({ kind: "reject", lease, refusal: never });
      continue;
    }
    const queue = queues.get(tenant) ?? [];
    queue.push(lease);
    queues.set(tenant, queue);
  }
  for (const [tenant, queue] of queues) queues.set(tenant, sortQueue(queue));

  const leasesByTenant = new Map<string, LeaseView[]>();
  for (const lease of snapshot.leases) {
    const tenant = owners.get(lease.namespace);
    if (tenant === undefined || !queues.has(tenant)) continue;
    const list = leasesByTenant.get(tenant) ?? [];
    list.push(lease);
    leasesByTenant.set(tenant, list);
  }
  const usage = new Map<string, TenantUsage>();
  const shares = new Map<string, number>();
  for (const [tenant] of queues) {
    const quota = quotas.get(tenant);
    if (quota) {
      const tenantUsage = usageOf(quota, leasesByTenant.get(tenant) ?? []);
      usage.set(tenant, tenantUsage);
      shares.set(tenant, tenantShare(quota, tenantUsage));
    }
  }

  let idleInternalGpus = 0;
  for (const account of accounts.values()) {
    if (
      lendableAt(account, snapshot) !== undefined ||
      (account.state === "Internal" && account.node.lendable && !account.internalBusy)
    ) {
      idleInternalGpus += account.capacity;
    }
  }

  const pool = new CandidatePool(snapshot, accounts, mayLend);
  const isolationOf = isolationFilters(accounts, owners, quotas);
  // Shapes that found no place since the last admission, with their refusal: nothing freed room since,
  // so a lease of the same shape fails the same way. With tens of thousands of waiting leases this
  // skips all but one placement search per shape.
  const failedShapes = new Map<string, Refusal>();
  // Why each class of each tenant waits, since the last admission: the same class waits the same way
  // until something is admitted (see admissionClass). This skips even the shape's string per lease.
  const waitsByTenant = new Map<string, Map<string, Refusal>>();
  const wakeAt = pool.wakeAt;
  // Leases admitted in this plan and the pool they were placed in: their placements may still move.
  let admittedThisPlan: { lease: LeaseView; decision: number; key: string }[] = [];
  // GPUs of this plan's admissions without a model, by pool: they could move to another model.
  const unpinnedIn = new Map<string, number>();
  const countUnpinned = (lease: LeaseView, key: string) => {
    if (lease.spec.gpuModel === undefined) unpinnedIn.set(key, (unpinnedIn.get(key) ?? 0) + lease.spec.gpus);
  };
  let repackBudget = REPACK_BUDGET;
  // Smallest GPUs a repack failed for since the last admission, by pools and block: larger fail too.
  const failedRepacks = new Map<string, number>();
  // GPUs still queued for leases pinned to each model: a lease without a model should leave them room.
  const pinnedDemand = new Map<string, number>();
  for (const queue of queues.values()) {
    for (const lease of queue) {
      if (lease.spec.gpuModel === undefined) continue;
      const key = poolKey(lease.spec.resourceName, lease.spec.gpuModel);
      pinnedDemand.set(key, (pinnedDemand.get(key) ?? 0) + lease.spec.gpus);
    }
  }
  // The tenant to serve next. The order (priority, share, name) changes only when a lease is admitted
  // or a tenant's queue runs out, so after a lease that waits the same tenant comes next: with tens of
  // thousands of waiting leases this skips a scan of every tenant per lease. A queue is read from a
  // position, not shifted: shifting hundreds of leases one at a time is quadratic.
  const decided = new Map<string, number>();
  while (queues.size > 0) {
    const next = nextTenant();
    if (!next) break;
    const queue = queues.get(next.tenant) as LeaseView[];
    let at = decided.get(next.tenant) ?? 0;
    while (at < queue.length && !decide(next, queue[at++] as LeaseView)) {}
    if (at === queue.length) queues.delete(next.tenant);
    else decided.set(next.tenant, at);
  }
  return { decisions, lend: lend.sort(), wakeAt };

  /** The tenant with waiting leases to serve next: highest priority, then lowest share, then name. */
  function nextTenant(): { tenant: string; quota: QuotaView; share: number } | undefined {
    let best: { tenant: string; quota: QuotaView; share: number } | undefined;
    for (const tenant of queues.keys()) {
      const quota = quotas.get(tenant) as QuotaView;
      const share = shares.get(tenant) ?? 0;
      if (
        !best ||
        quota.spec.priority > best.quota.spec.priority ||
        (quota.spec.priority === best.quota.spec.priority &&
          (share < best.share || (share === best.share && tenant < best.tenant)))
      ) {
        best = { tenant, quota, share };
      }
    }
    return best;
  }

  /** Admits the lease or says why it waits; true when it was admitted (the tenants' order changed). */
  function decide(next: { tenant: string; quota: QuotaView }, lease: LeaseView): boolean {
    const tenantUsage = usage.get(next.tenant) as TenantUsage;
    if (lease.spec.gpuModel !== undefined) {
      // Decided now, admitted or not: no longer demand that later unpinned leases should leave room for.
      const key = poolKey(lease.spec.resourceName, lease.spec.gpuModel);
      pinnedDemand.set(key, (pinnedDemand.get(key) ?? 0) - lease.spec.gpus);
    }

    let classWaits: Map<string, Refusal> | undefined;
    let cls = "";
    if (memoize) {
      classWaits = innerMap(waitsByTenant, next.tenant);
      cls = admissionClass(lease);
      const known = classWaits.get(cls);
      if (known) {
        decisions.push({ kind: "wait", lease, refusal: known });
        return false;
      }
    }
    const waits = (refusal: Refusal): false => {
      classWaits?.set(cls, refusal);
      decisions.push({ kind: "wait", lease, refusal });
      return false;
    };

    const blocked = quotaBlocks(next.quota, lease, tenantUsage);
    if (blocked) return waits(blocked);

    const block = lease.spec.gpusPerNode ?? 1;
    // A lease never spans GPU models. One without a model goes to the model with the most free GPUs
    // beyond what leases pinned to it still ask for (then by name), so it does not fill nodes a pinned
    // lease needs while another model's nodes stay idle.
    const keys = pool.keysFor(lease.spec.resourceName, lease.spec.gpuModel);
    const canUse = isolationOf(next.tenant);
    // Only admissions change what fits, and the order of models below does not matter to a failure
    // (every model is tried): the same shape fails again, for the same reason.
    const shape = `${canUse ? next.tenant : ""}|${keys.join(",")}|${block}|${lease.spec.gpus}`;
    const failedBefore = memoize ? failedShapes.get(shape) : undefined;
    if (failedBefore) return waits(failedBefore);
    if (keys.length > 1) {
      const spare = new Map(keys.map((k) => [k, pool.index(k).free - (pinnedDemand.get(k) ?? 0)]));
      keys.sort((a, b) => (spare.get(b) as number) - (spare.get(a) as number) || (a < b ? -1 : 1));
    }
    const matching = keys.reduce((sum, key) => sum + pool.matching(key, block), 0);
    if (matching === 0) {
      return waits({
        reason: "NoMatchingNodes",
        message: `no lendable node offers ${lease.spec.resourceName}${
          lease.spec.gpuModel ? ` of model ${lease.spec.gpuModel}` : ""
        }${block > 1 ? ` with at least ${block} GPUs` : ""}`,
      });
    }
    let placement: Placement | undefined;
    let placedIn: string | undefined;
    // Across models, nodes already lent first: an infinite headroom forbids lending a new node.
    const passes =
      keys.length > 1
        ? [Number.POSITIVE_INFINITY, snapshot.settings.headroomGpus]
        : [snapshot.settings.headroomGpus];
    for (const headroomGpus of passes) {
      for (const key of keys) {
        placement = pool.index(key).place({
          gpus: lease.spec.gpus,
          block,
          headroomGpus,
          idleInternalGpus,
          ...(canUse ? { canUse } : {}),
        });
        placedIn = key;
        if (placement) break;
      }
      if (placement) break;
    }
    // Packing again ignores which tenant holds which node, so not where a tenant is Dedicated.
    if (!placement && !canUse) {
      const repacked = repack(lease, keys);
      placement = repacked?.placement;
      placedIn = repacked?.key;
    }
    if (!placement || placedIn === undefined) {
      // No live figures in the message: it would rewrite every waiting lease whenever capacity moves.
      const refusal: Refusal = {
        reason: "InsufficientCapacity",
        message: `not enough matching GPUs are free to lend${
          block > 1 ? ` in blocks of ${block} on one node` : ""
        } for the ${lease.spec.gpus} GPUs this lease needs; it is admitted as soon as they are`,
      };
      failedShapes.set(shape, refusal);
      return waits(refusal);
    }
    holdPlacement(lease, placement);
    admittedThisPlan.push({ lease, decision: decisions.length, key: placedIn });
    countUnpinned(lease, placedIn);
    failedRepacks.clear();
    failedShapes.clear();
    waitsByTenant.clear();
    const limitUsage = usageOf(next.quota, [
      { ...lease, status: { ...lease.status, phase: "Active", allocations: placement.allocations } },
    ]);
    for (const [key, value] of limitUsage.byLimit) {
      const entry = tenantUsage.byLimit.get(key) ?? { gpus: 0, reservedGpus: 0 };
      entry.gpus += value.gpus;
      entry.reservedGpus += value.reservedGpus;
      tenantUsage.byLimit.set(key, entry);
    }
    tenantUsage.totalGpus += lease.spec.gpus;
    shares.set(next.tenant, tenantShare(next.quota, tenantUsage));
    decisions.push({ kind: "admit", lease, quota: next.quota, placement });
    return true;
  }

  /** Books a placement on the node accounts: GPUs held, nodes newly lent. */
  function holdPlacement(lease: LeaseView, placement: Placement): void {
    for (const { node, gpus } of placement.allocations) {
      const account = accounts.get(node) as NodeAccount;
      account.free -= gpus;
      account.leaseHeld.set(leaseKey(lease), gpus);
    }
    for (const node of placement.newlyLent) {
      const account = accounts.get(node) as NodeAccount;
      account.state = "Lent";
      idleInternalGpus -= account.capacity;
      lend.push(node);
    }
  }

  /** Undoes holdPlacement. */
  function releasePlacement(lease: LeaseView, placement: Placement): void {
    for (const { node, gpus } of placement.allocations) {
      const account = accounts.get(node) as NodeAccount;
      account.free += gpus;
      account.leaseHeld.delete(leaseKey(lease));
    }
    for (const node of placement.newlyLent) {
      const account = accounts.get(node) as NodeAccount;
      account.state = "Internal";
      idleInternalGpus += account.capacity;
      lend.splice(lend.indexOf(node), 1);
    }
  }

  /**
   * Places `lease` by packing it again with every lease this plan admitted so far, from the pools as
   * they were before this plan: the most constrained first (pinned to a model before free to choose,
   * then largest blocks, then largest leases), each lease without a model on the model with the most
   * free GPUs left. Either all of them fit and the new placements replace the old ones, or nothing
   * changes. Bounded by REPACK_BUDGET (leases placed again plus nodes indexed again) per plan, so a
   * plan over thousands of waiting leases stays linear.
   */
  function repack(lease: LeaseView, keys: string[]): { placement: Placement; key: string } | undefined {
    // Worth trying only if one of the lease's pools has the GPUs free once this plan's leases without
    // a model could leave it; moving leases within a pool frees nothing, it only defragments.
    if (!keys.some((key) => pool.index(key).free + (unpinnedIn.get(key) ?? 0) >= lease.spec.gpus))
      return undefined;
    if (admittedThisPlan.length === 0) return undefined;
    // A lease of the same pools and block and at least as many GPUs failed since the last admission.
    const shape = `${keys.join(",")}#${lease.spec.gpusPerNode ?? 1}`;
    if ((failedRepacks.get(shape) ?? Number.POSITIVE_INFINITY) <= lease.spec.gpus) return undefined;
    // The cost: every lease placed again, every pool index built again.
    const cost = admittedThisPlan.length + 1 + pool.nodeCount();
    if (repackBudget < cost) return undefined;
    repackBudget -= cost;
    failedRepacks.set(shape, lease.spec.gpus);

    const previous = admittedThisPlan.map(({ lease: held, decision, key }) => {
      const d = decisions[decision];
      if (d?.kind !== "admit")
        throw new Error(`decision ${decision} of ${leaseKey(held)} is not an admission`);
      return { ...d, decision, key };
    });
    // The idle GPUs as they were before this plan lent any node.
    let idleLeft = idleInternalGpus;
    for (const d of previous)
      for (const node of d.placement.newlyLent) idleLeft += (accounts.get(node) as NodeAccount).capacity;
    const fresh = new Map<string, PlacementIndex>();
    const indexOf = (key: string) => {
      let index = fresh.get(key);
      if (!index) {
        index = pool.freshIndex(key);
        fresh.set(key, index);
      }
      return index;
    };
    const all = [...previous.map((d) => d.lease), lease];
    const order = all
      .map((held, at) => ({ held, at }))
      .sort(
        (a, b) =>
          Number(a.held.spec.gpuModel === undefined) - Number(b.held.spec.gpuModel === undefined) ||
          (b.held.spec.gpusPerNode ?? 1) - (a.held.spec.gpusPerNode ?? 1) ||
          b.held.spec.gpus - a.held.spec.gpus ||
          a.at - b.at,
      );
    const placed = new Map<number, { placement: Placement; key: string }>();
    for (const { held, at } of order) {
      const block = held.spec.gpusPerNode ?? 1;
      const choices = pool.keysFor(held.spec.resourceName, held.spec.gpuModel);
      if (choices.length > 1) choices.sort((a, b) => indexOf(b).free - indexOf(a).free || (a < b ? -1 : 1));
      let found: { placement: Placement; key: string } | undefined;
      for (const key of choices) {
        const placement = indexOf(key).place({
          gpus: held.spec.gpus,
          block,
          headroomGpus: snapshot.settings.headroomGpus,
          idleInternalGpus: idleLeft,
        });
        if (placement) {
          found = { placement, key };
          break;
        }
      }
      if (!found) return undefined;
      for (const node of found.placement.newlyLent) idleLeft -= (accounts.get(node) as NodeAccount).capacity;
      placed.set(at, found);
    }
    for (const d of previous) releasePlacement(d.lease, d.placement);
    for (const key of new Set(previous.map((d) => d.key))) indexOf(key);
    for (const [key, index] of fresh) pool.replaceIndex(key, index);
    unpinnedIn.clear();
    admittedThisPlan = previous.map((d, i) => {
      const { placement, key } = placed.get(i) as { placement: Placement; key: string };
      holdPlacement(d.lease, placement);
      decisions[d.decision] = { kind: "admit", lease: d.lease, quota: d.quota, placement };
      countUnpinned(d.lease, key);
      return { lease: d.lease, decision: d.decision, key };
    });
    return placed.get(previous.length);
  }
}

/**
 * Work allowed per plan for packing admissions again (leases placed plus nodes indexed): a few repacks
 * of a 10,000-node cluster, many of a small one.
 */
const REPACK_BUDGET = 60_000;

function poolKey(resourceName: string, model: string | undefined): string {
  return `${resourceName}|${model ?? ""}`;
}

/**
 * Lendable capacity by resource and GPU model, built once per plan: an index per model for placement
 * and the counts behind NoMatchingNodes.
 */
class CandidatePool {
  private readonly byKey = new Map<string, NodeAccount[]>();
  private readonly indexes = new Map<string, PlacementIndex>();
  private readonly matchingCache = new Map<string, number>();
  private readonly initial = new Map<string, PlacementCandidate[]>();
  readonly wakeAt: number | undefined;

  constructor(
    private readonly snapshot: ClusterSnapshot,
    accounts: Map<string, NodeAccount>,
    private readonly mayLend: (account: NodeAccount) => boolean,
  ) {
    let wake: number | undefined;
    for (const account of accounts.values()) {
      if (account.resourceName === undefined) continue;
      if (!account.node.lendable && account.state !== "Lent") continue;
      const key = poolKey(account.resourceName, account.node.gpuModel);
      const list = this.byKey.get(key) ?? [];
      list.push(account);
      this.byKey.set(key, list);
      if (account.state !== "Lent" && mayLend(account)) {
        const at = lendableAt(account, snapshot);
        if (at !== undefined && at > snapshot.now) wake = wake === undefined ? at : Math.min(wake, at);
      }
    }
    this.wakeAt = wake;
  }

  keysFor(resourceName: string, model: string | undefined): string[] {
    if (model !== undefined) return [poolKey(resourceName, model)];
    return [...this.byKey.keys()].filter((k) => k.startsWith(`${resourceName}|`)).sort();
  }

  matching(key: string, block: number): number {
    const cacheKey = `${key}#${block}`;
    const cached = this.matchingCache.get(cacheKey);
    if (cached !== undefined) return cached;
    const count = (this.byKey.get(key) ?? []).filter(
      (a) => a.capacity >= block && a.state !== "Unavailable",
    ).length;
    this.matchingCache.set(cacheKey, count);
    return count;
  }

  index(key: string): PlacementIndex {
    let index = this.indexes.get(key);
    if (!index) {
      index = new PlacementIndex(this.candidates(key));
      this.indexes.set(key, index);
    }
    return index;
  }

  /** Nodes in every pool (what building all indexes again costs). */
  nodeCount(): number {
    let count = 0;
    for (const list of this.byKey.values()) count += list.length;
    return count;
  }

  /** An index of the pool as it was before this plan placed anything in it. */
  freshIndex(key: string): PlacementIndex {
    return new PlacementIndex(this.candidates(key));
  }

  replaceIndex(key: string, index: PlacementIndex): void {
    this.indexes.set(key, index);
  }

  /** The pool's nodes at the start of the plan (captured the first time, before any placement). */
  private candidates(key: string): PlacementCandidate[] {
    let candidates = this.initial.get(key);
    if (!candidates) {
      candidates = [];
      for (const account of this.byKey.get(key) ?? []) {
        if (account.free <= 0) continue;
        if (account.state === "Lent") {
          candidates.push({
            name: account.node.name,
            free: account.free,
            capacity: account.capacity,
            lent: true,
          });
        } else if (this.mayLend(account)) {
          const at = lendableAt(account, this.snapshot);
          if (at !== undefined && at <= this.snapshot.now) {
            candidates.push({
              name: account.node.name,
              free: account.free,
              capacity: account.capacity,
              lent: false,
            });
          }
        }
      }
      this.initial.set(key, candidates);
    }
    return candidates;
  }
}

/**
 * Reclaim planning: for each internal demand, whether giving back some Lent nodes would let it
 * schedule, and if so which nodes cost the least to take back. Pure; every choice is explained.
 *
 * Cost, compared in order: the highest tenant priority among the leases hit (low first); the highest
 * lease priority hit, but only between two choices that hit the same single tenant (a lease's priority
 * orders its own tenant's leases, so no tenant can push a reclaim onto another by raising it); GPU-time
 * lost since the last checkpoint (annotation gpulease.io/last-checkpoint, else since admission); and
 * GPUs evicted. Reserved leases before their end and leases younger than their tenant's minRuntime are
 * never victims.
 */

import { ANNOTATION_LAST_CHECKPOINT } from "../api/labels.ts";
import { holdsAllocation, type NodeAccount, podHoldsGpus } from "./accounting.ts";
import type { DemandGroup } from "./demand.ts";
import { earliest } from "./instants.ts";
import { type ClusterSnapshot, type LeaseView, leaseKey, type QuotaView } from "./model.ts";
import type { Orphan } from "./orphans.ts";
import { groupFits, type NodeRoom, placeGroup, staticFit } from "./scheduling-fit.ts";

export interface LeaseHit {
  lease: LeaseView;
  /** Nodes of this lease being taken back. */
  nodes: string[];
  /** The whole lease ends (no partial reclaim). */
  whole: boolean;
  gpus: number;
}

export interface ReclaimDecision {
  demand: DemandGroup;
  nodes: string[];
  hits: LeaseHit[];
  gpusEvicted: number;
  explanation: string;
}

export interface ReclaimPlan {
  decisions: ReclaimDecision[];
  /** Demand that returning GPUs cannot help, with the reason (for logs). */
  hopeless: { demand: DemandGroup; reason: string }[];
  /** Demand that reclaim could serve but protections forbid now. */
  blocked: DemandGroup[];
  /** Leases likely to be reclaimed soon (AtRisk). */
  atRisk: Set<string>;
  /** Demand that GPUs could serve, now or once protections lapse: no node it could use is lent. */
  waiting: DemandGroup[];
  /** When the first minRuntime protection that blocks a demand lapses (replan then). */
  wakeAt: number | undefined;
  /**
   * Lent nodes not counted as free while demand waits, because tenant pods without a lease there
   * (orphans, or pods of an ending lease) still hold GPUs: one line each, for the operator's log.
   */
  notFree: string[];
}

interface Candidate {
  account: NodeAccount;
  leases: LeaseView[];
  protectedBy: string | undefined;
  cost: Cost;
}

/** Lent nodes whose subsets the reclaim searches exactly (2^10 subsets at most). */
const SEARCH_NODES = 10;

interface Cost {
  tenantPriority: number;
  /** The tenants hit, sorted and joined: lease priority is compared only where this is one same tenant. */
  tenants: string;
  leasePriority: number;
  gpuSecondsLost: number;
  gpus: number;
}

/** Negative when `a` costs less than `b`. */
function costOrder(a: Cost, b: Cost): number {
  if (a.tenantPriority !== b.tenantPriority) return a.tenantPriority - b.tenantPriority;
  const oneSameTenant = a.tenants === b.tenants && a.tenants !== "" && !a.tenants.includes("\n");
  if (oneSameTenant && a.leasePriority !== b.leasePriority) return a.leasePriority - b.leasePriority;
  return a.gpuSecondsLost - b.gpuSecondsLost || a.gpus - b.gpus;
}

function lessCost(a: Cost, b: Cost): boolean {
  return costOrder(a, b) < 0;
}

/** GPUs the lease holds on the node. */
function gpusOn(lease: LeaseView, node: string): number {
  return (lease.status.allocations ?? []).find((a) => a.node === node)?.gpus ?? 0;
}

/**
 * What evicting these leases from these nodes costs (a lease without partial reclaim loses all its
 * GPUs). With nothing evicted, the lowest cost there is.
 */
function evictionCost(
  evictions: { lease: LeaseView; node: string }[],
  now: number,
  quotaOf: (lease: LeaseView) => QuotaView | undefined,
): Cost {
  const cost: Cost = { tenantPriority: -1e9, tenants: "", leasePriority: -1e9, gpuSecondsLost: 0, gpus: 0 };
  const tenants = new Set<string>();
  for (const { lease, node } of evictions) {
    const evicted = lease.spec.allowPartialReclaim ? gpusOn(lease, node) : lease.spec.gpus;
    const quota = quotaOf(lease);
    tenants.add(quota?.name ?? `namespace ${lease.namespace}`);
    cost.tenantPriority = Math.max(cost.tenantPriority, quota?.spec.priority ?? 0);
    cost.leasePriority = Math.max(cost.leasePriority, lease.spec.priority);
    cost.gpuSecondsLost += gpuTimeLost(lease, evicted, now);
    cost.gpus += evicted;
  }
  cost.tenants = [...tenants].sort().join("\n");
  return cost;
}

/** What returning one lent node costs, on its own. */
function nodeCost(
  account: NodeAccount,
  leases: LeaseView[],
  now: number,
  quotaOf: (lease: LeaseView) => QuotaView | undefined,
): Cost {
  return evictionCost(
    leases.map((lease) => ({ lease, node: account.node.name })),
    now,
    quotaOf,
  );
}

/** What returning these nodes costs, each lease counted once: the candidates' cost, for a plan. */
function planCost(
  chosen: Candidate[],
  now: number,
  quotaOf: (lease: LeaseView) => QuotaView | undefined,
): Cost {
  const seen = new Set<string>();
  const evictions: { lease: LeaseView; node: string }[] = [];
  for (const c of chosen) {
    for (const lease of c.leases) {
      const key = lease.spec.allowPartialReclaim
        ? `${leaseKey(lease)}@${c.account.node.name}`
        : leaseKey(lease);
      if (seen.has(key)) continue;
      seen.add(key);
      evictions.push({ lease, node: c.account.node.name });
    }
  }
  return evictionCost(evictions, now, quotaOf);
}

/**
 * The cheapest subset of `pool` that lets the demand fit, if it costs less than `chosen`; else
 * `chosen`. Subsets whose own nodes free fewer GPUs than the demand still needs are skipped unseen.
 */
function cheaperChoice(
  chosen: Candidate[],
  pool: Candidate[],
  o: {
    neededGpus: number;
    freedGpus: (c: Candidate) => number;
    cost: (list: Candidate[]) => Cost;
    fits: (list: Candidate[]) => boolean;
  },
): Candidate[] {
  // A plan costs at least its cheapest node: the cheapest node alone cannot be beaten.
  if (chosen.length === 1 && chosen[0] === pool[0]) return chosen;
  let best = chosen;
  let bestCost = o.cost(chosen);
  const freed = pool.map(o.freedGpus);
  for (let mask = 1; mask < 1 << pool.length; mask++) {
    let gpus = 0;
    const subset: Candidate[] = [];
    for (let i = 0; i < pool.length; i++) {
      if (mask & (1 << i)) {
        gpus += freed[i] as number;
        subset.push(pool[i] as Candidate);
      }
    }
    if (gpus < o.neededGpus) continue;
    const cost = o.cost(subset);
    if (lessCost(cost, bestCost) && o.fits(subset)) {
      best = subset;
      bestCost = cost;
    }
  }
  return best;
}

function compareCost(a: Candidate, b: Candidate): number {
  return costOrder(a.cost, b.cost) || (a.account.node.name < b.account.node.name ? -1 : 1);
}

export function protection(lease: LeaseView, quota: QuotaView | undefined, now: number): string | undefined {
  if (lease.spec.class === "Reserved") return `lease ${lease.namespace}/${lease.name} is Reserved`;
  const ends = protectionEnds(lease, quota);
  if (ends !== undefined && now < ends) {
    return `lease ${lease.namespace}/${lease.name} is inside its minimum runtime until ${new Date(ends).toISOString()}`;
  }
  return undefined;
}

/**
 * A lease's admission and last checkpoint as epoch ms (NaN when absent), parsed once per lease view:
 * every lent node's cost reads them, in every plan, and views are reused while the lease is unchanged.
 */
const parsedTimes = new WeakMap<LeaseView, { admittedAt: number; checkpoint: number }>();
function leaseTimes(lease: LeaseView): { admittedAt: number; checkpoint: number } {
  let times = parsedTimes.get(lease);
  if (times === undefined) {
    times = {
      admittedAt: Date.parse(lease.status.admittedAt ?? ""),
      checkpoint: Date.parse(lease.annotations[ANNOTATION_LAST_CHECKPOINT] ?? ""),
    };
    parsedTimes.set(lease, times);
  }
  return times;
}

/** When a lease's minRuntime protection ends (undefined: none, or Reserved which never lapses early). */
export function protectionEnds(lease: LeaseView, quota: QuotaView | undefined): number | undefined {
  if (lease.spec.class === "Reserved") return undefined;
  const minRuntime = quota?.spec.minRuntimeMs;
  const admittedAt = leaseTimes(lease).admittedAt;
  return minRuntime !== undefined && minRuntime > 0 && !Number.isNaN(admittedAt)
    ? admittedAt + minRuntime
    : undefined;
}

/** Seconds of GPU work lost if the lease stops now: since its last checkpoint, else since admission. */
export function gpuTimeLost(lease: LeaseView, gpus: number, now: number): number {
  const times = leaseTimes(lease);
  const admittedAt = times.admittedAt || now;
  const checkpoint = times.checkpoint;
  const since = Number.isNaN(checkpoint) ? admittedAt : Math.max(admittedAt, Math.min(checkpoint, now));
  return (gpus * Math.max(0, now - since)) / 1000;
}

/** What every step of reclaim planning reads, built once per plan. */
interface ReclaimContext {
  snapshot: ClusterSnapshot;
  accounts: Map<string, NodeAccount>;
  quotaOf: (lease: LeaseView) => QuotaView | undefined;
  resourceFor: (pod: { gpus: Record<string, number> }) => string;
  /** Room for internal pods on a node, as it is or (`returned`) once its tenants are gone. */
  room: (account: NodeAccount, returned: boolean) => NodeRoom;
  /** Leases holding GPUs, by node. */
  leasesOn: Map<string, LeaseView[]>;
  /** Nodes already being returned, before or by this plan. */
  taken: Set<string>;
  /** Each node's position among the accounts. */
  nodeOrder: Map<string, number>;
  /** Every lent node as a candidate with its cost, sorted cheapest first; computed once, when first asked. */
  candidates: () => Candidate[];
}

/** What reclaim can do for one demand group that does not fit in the room available. */
type DemandOutcome =
  | { kind: "reclaim"; decision: ReclaimDecision; available: NodeRoom[] }
  /** Reclaim could serve it once protections lapse, the first at `lapsesAt`. */
  | { kind: "blocked"; lapsesAt: number | undefined }
  | { kind: "hopeless" };

const HOPELESS_REASON =
  "it would not fit even with every lent node returned (CPU, memory, node selector, affinity or taints)";

export function planReclaim(
  snapshot: ClusterSnapshot,
  accounts: Map<string, NodeAccount>,
  demand: DemandGroup[],
  owners: Map<string, string>,
  orphans: Orphan[] = [],
): ReclaimPlan {
  const ctx = reclaimContext(snapshot, accounts, owners);
  const decisions: ReclaimDecision[] = [];
  const hopeless: ReclaimPlan["hopeless"] = [];
  const blocked: DemandGroup[] = [];
  let wakeAt: number | undefined;
  // Each demand group (oldest first) takes its share of the room, so two groups are never promised
  // the same returning GPUs.
  let available = availableRooms(ctx);
  for (const group of demand) {
    const served = placeGroup(group.pods, available, ctx.resourceFor);
    if (served) {
      available = withGpus(served);
      continue;
    }
    const outcome = reclaimFor(ctx, group, available);
    if (outcome.kind === "blocked") {
      blocked.push(group);
      wakeAt = earliest(wakeAt, outcome.lapsesAt);
    } else if (outcome.kind === "hopeless") {
      hopeless.push({ demand: group, reason: HOPELESS_REASON });
    } else {
      decisions.push(outcome.decision);
      available = outcome.available;
      for (const node of outcome.decision.nodes) ctx.taken.add(node);
    }
  }
  const hopelessKeys = new Set(hopeless.map((h) => h.demand.key));
  const waiting = demand.filter((g) => !hopelessKeys.has(g.key));
  const notFree = demand.length > 0 ? nodesHeldWithoutLease(accounts, orphans) : [];
  return { decisions, hopeless, blocked, atRisk: leasesAtRisk(ctx, blocked), waiting, wakeAt, notFree };
}

/** Lent or returning nodes where tenant pods hold GPUs no lease allocates there, and which pods. */
function nodesHeldWithoutLease(accounts: Map<string, NodeAccount>, orphans: Orphan[]): string[] {
  const lines: string[] = [];
  for (const account of accounts.values()) {
    if (account.strayTenantUsed === 0 || (account.state !== "Lent" && account.state !== "Returning"))
      continue;
    const here = orphans.filter((o) => o.node === account.node.name);
    const pods = here.map((o) => `${o.pod.namespace}/${o.pod.name} (${o.why})`).join(", ");
    lines.push(
      `node ${account.node.name} is not counted as free: tenant pods without a lease there hold ${account.strayTenantUsed} GPUs` +
        (pods
          ? `: ${pods}; they are evicted from ${new Date(Math.min(...here.map((o) => o.evictAt))).toISOString()}`
          : ""),
    );
  }
  return lines;
}

function reclaimContext(
  snapshot: ClusterSnapshot,
  accounts: Map<string, NodeAccount>,
  owners: Map<string, string>,
): ReclaimContext {
  const now = snapshot.now;
  const quotas = new Map(snapshot.quotas.map((q) => [q.name, q]));
  const quotaOf = (lease: LeaseView) => quotas.get(owners.get(lease.namespace) ?? "");
  const { resourceNames } = snapshot.settings;
  const resourceFor = (pod: { gpus: Record<string, number> }) =>
    resourceNames.find((r) => (pod.gpus[r] ?? 0) > 0) ?? (resourceNames[0] as string);

  // CPU and memory held on each node by internal pods (tenant pods leave with the node).
  const internalUse = new Map<string, { cpu: number; memory: number }>();
  for (const pod of snapshot.pods) {
    if (!podHoldsGpus(pod) || pod.nodeName === undefined || owners.has(pod.namespace)) continue;
    const used = internalUse.get(pod.nodeName) ?? { cpu: 0, memory: 0 };
    used.cpu += pod.cpuMillis;
    used.memory += pod.memoryBytes;
    internalUse.set(pod.nodeName, used);
  }
  const room = (account: NodeAccount, returned: boolean): NodeRoom => {
    const used = internalUse.get(account.node.name) ?? { cpu: 0, memory: 0 };
    return {
      node: account.node,
      // Tenant pods without a lease here (orphans) do not leave with a reclaim: their GPUs stay held.
      gpus: returned
        ? Math.max(0, account.capacity - account.internalUsed - account.strayTenantUsed)
        : Math.max(0, account.free),
      cpuMillis: account.node.cpuMillis - used.cpu,
      memoryBytes: account.node.memoryBytes - used.memory,
    };
  };

  const leasesOn = new Map<string, LeaseView[]>();
  for (const lease of snapshot.leases) {
    if (!holdsAllocation(lease)) continue;
    for (const allocation of lease.status.allocations ?? []) {
      const list = leasesOn.get(allocation.node) ?? [];
      list.push(lease);
      leasesOn.set(allocation.node, list);
    }
  }

  const taken = new Set<string>();
  for (const account of accounts.values()) if (account.state === "Returning") taken.add(account.node.name);

  let candidates: Candidate[] | undefined;
  const lentCandidates = (): Candidate[] => {
    candidates ??= [...accounts.values()]
      .filter((account) => account.state === "Lent")
      .map((account) => {
        const leases = leasesOn.get(account.node.name) ?? [];
        const protectedBy = leases.map((l) => protection(l, quotaOf(l), now)).find((p) => p !== undefined);
        return { account, leases, protectedBy, cost: nodeCost(account, leases, now, quotaOf) };
      })
      .sort(compareCost);
    return candidates;
  };
  const nodeOrder = new Map([...accounts.keys()].map((node, i) => [node, i]));
  return {
    snapshot,
    accounts,
    quotaOf,
    resourceFor,
    room,
    leasesOn,
    taken,
    nodeOrder,
    candidates: lentCandidates,
  };
}

/** Demand pods always ask for GPUs: rooms without a free GPU are left out. */
function withGpus(rooms: NodeRoom[]): NodeRoom[] {
  return rooms.filter((r) => r.gpus > 0);
}

/** Room for internal pods now, and on nodes already on their way back. */
function availableRooms(ctx: ReclaimContext): NodeRoom[] {
  const accounts = [...ctx.accounts.values()];
  return withGpus([
    ...accounts.filter((a) => a.state === "Internal").map((a) => ctx.room(a, false)),
    ...accounts.filter((a) => ctx.taken.has(a.node.name)).map((a) => ctx.room(a, true)),
  ]);
}

/** The cheapest lent nodes whose return lets the group fit, or why there are none. */
function reclaimFor(ctx: ReclaimContext, group: DemandGroup, available: NodeRoom[]): DemandOutcome {
  const now = ctx.snapshot.now;
  const candidates = ctx
    .candidates()
    .filter(
      (c) => !ctx.taken.has(c.account.node.name) && group.pods.some((p) => staticFit(p, c.account.node)),
    );
  const usable = candidates.filter((c) => c.protectedBy === undefined);
  const freedRooms = (chosen: Candidate[]): NodeRoom[] =>
    // In node order, as the rooms are everywhere else: placement tries rooms in order.
    freedBy(ctx, chosen)
      .map((node) => ctx.accounts.get(node))
      .filter((a): a is NodeAccount => a !== undefined)
      .sort((a, b) => (ctx.nodeOrder.get(a.node.name) ?? 0) - (ctx.nodeOrder.get(b.node.name) ?? 0))
      .map((a) => ctx.room(a, true));
  const roomsWith = (chosen: Candidate[]) => [...available, ...freedRooms(chosen)];
  const roomNow = available.reduce((sum, r) => sum + r.gpus, 0);
  // Placement is best fit, whatever the order of rooms: a room no pod of the group fits in now never
  // matters, so the many tries below look only at the rooms that might (few, in a large cluster).
  const couldHost = (room: NodeRoom) =>
    group.pods.some(
      (pod) =>
        room.gpus >= (pod.gpus[ctx.resourceFor(pod)] ?? 0) &&
        room.cpuMillis >= pod.cpuMillis &&
        room.memoryBytes >= pod.memoryBytes &&
        staticFit(pod, room.node),
    );
  const hosts = available.filter(couldHost);
  const hostGpus = hosts.reduce((sum, r) => sum + r.gpus, 0);
  const fitsWith = (chosen: Candidate[]) => {
    const freed = freedRooms(chosen).filter(couldHost);
    // The group needs at least its GPUs free in all.
    if (hostGpus + freed.reduce((sum, r) => sum + r.gpus, 0) < group.gpus) return false;
    return groupFits(group.pods, [...hosts, ...freed], ctx.resourceFor);
  };

  let chosen = greedyChoice(usable, fitsWith);
  if (chosen === undefined) {
    if (candidates.length > usable.length && fitsWith(candidates)) {
      return { kind: "blocked", lapsesAt: firstLapse(ctx, candidates) };
    }
    return { kind: "hopeless" };
  }
  // Node by node, the greedy misses cheaper combinations (one 8-GPU node for two 4-GPU ones, two
  // nodes sharing one lease): search the subsets of the cheapest few nodes by the plan's own cost.
  chosen = cheaperChoice(chosen, usable.slice(0, SEARCH_NODES), {
    neededGpus: group.gpus - roomNow,
    freedGpus: (c) => ctx.room(c.account, true).gpus,
    cost: (list) => planCost(list, now, ctx.quotaOf),
    fits: fitsWith,
  });

  return {
    kind: "reclaim",
    decision: reclaimDecision(group, leaseHits(chosen), freedBy(ctx, chosen).sort(), usable.length),
    available: withGpus(placeGroup(group.pods, roomsWith(chosen), ctx.resourceFor) ?? available),
  };
}

/**
 * The cheapest nodes, added one by one until the demand fits, then without those that turned out
 * unnecessary (most expensive first); undefined when even all of them are not enough.
 */
function greedyChoice(
  usable: Candidate[],
  fitsWith: (chosen: Candidate[]) => boolean,
): Candidate[] | undefined {
  let chosen: Candidate[] = [];
  for (const candidate of usable) {
    chosen.push(candidate);
    if (fitsWith(chosen)) break;
  }
  if (!fitsWith(chosen)) return undefined;
  for (const candidate of [...chosen].reverse()) {
    const without = chosen.filter((c) => c !== candidate);
    if (without.length > 0 && fitsWith(without)) chosen = without;
  }
  return chosen;
}

/** When the first minRuntime protection on these nodes lapses (undefined: none lapses later). */
function firstLapse(ctx: ReclaimContext, candidates: Candidate[]): number | undefined {
  return candidates
    .flatMap((c) => c.leases.map((lease) => protectionEnds(lease, ctx.quotaOf(lease))))
    .filter((lapse): lapse is number => lapse !== undefined && lapse > ctx.snapshot.now)
    .reduce<number | undefined>(earliest, undefined);
}

function reclaimDecision(
  group: DemandGroup,
  hits: LeaseHit[],
  nodes: string[],
  unprotectedNodes: number,
): ReclaimDecision {
  const gpusEvicted = hits.reduce((s, h) => s + h.gpus, 0);
  const explanation =
    `${group.pods.length} internal pod(s) of ${group.key} need ${group.gpus} GPUs: returning ${nodes.join(", ")} ` +
    `evicts ${gpusEvicted} GPUs of ${hits.map((h) => `${h.lease.namespace}/${h.lease.name}`).join(", ") || "no lease"} ` +
    `(cheapest of ${unprotectedNodes} unprotected lent node(s): lowest tenant priority, then within one tenant lowest lease priority, least GPU-time lost since checkpoint, fewest GPUs)`;
  return { demand: group, nodes, hits, gpusEvicted, explanation };
}

/**
 * Nodes freed by a choice: the chosen ones, plus every other node left empty by whole reclaims. Only
 * the nodes the victims hold can be left empty, so only those are looked at (not every node: this
 * runs for each subset the search tries).
 */
function freedBy(ctx: ReclaimContext, chosen: Candidate[]): string[] {
  const victims = new Set<LeaseView>();
  for (const c of chosen) for (const lease of c.leases) victims.add(lease);
  const freed = new Set(chosen.map((c) => c.account.node.name));
  for (const victim of victims) {
    if (victim.spec.allowPartialReclaim) continue;
    for (const { node } of victim.status.allocations ?? []) {
      if (freed.has(node) || ctx.taken.has(node)) continue;
      const account = ctx.accounts.get(node);
      if (account?.state !== "Lent" || account.strayTenantUsed > 0) continue;
      const here = ctx.leasesOn.get(node) ?? [];
      if (here.length > 0 && here.every((l) => victims.has(l) && !l.spec.allowPartialReclaim))
        freed.add(node);
    }
  }
  return [...freed];
}

/** What the chosen nodes take from each lease: all of it, or (partial reclaim) its GPUs there. */
function leaseHits(chosen: Candidate[]): LeaseHit[] {
  const hits = new Map<string, LeaseHit>();
  for (const c of chosen) {
    for (const lease of c.leases) {
      const key = leaseKey(lease);
      const whole = !lease.spec.allowPartialReclaim;
      const hit = hits.get(key) ?? { lease, nodes: [], whole, gpus: 0 };
      if (whole) {
        hit.nodes = (lease.status.allocations ?? []).map((a) => a.node).sort();
        hit.gpus = lease.spec.gpus;
      } else {
        hit.nodes = [...new Set([...hit.nodes, c.account.node.name])].sort();
        hit.gpus += gpusOn(lease, c.account.node.name);
      }
      hits.set(key, hit);
    }
  }
  return [...hits.values()];
}

/** AtRisk: the leases the next reclaim would hit, while demand waits or the idle headroom is gone. */
function leasesAtRisk(ctx: ReclaimContext, blocked: DemandGroup[]): Set<string> {
  const atRisk = new Set<string>();
  const rankFor = (fits: (node: NodeAccount) => boolean) =>
    [...ctx.accounts.values()]
      .filter((a) => a.state === "Lent" && !ctx.taken.has(a.node.name) && fits(a))
      .map((a) => ({
        a,
        leases: (ctx.leasesOn.get(a.node.name) ?? []).filter((l) => l.spec.class !== "Reserved"),
      }))
      .filter((x) => x.leases.length > 0)
      .sort((x, y) => {
        const px = Math.max(...x.leases.map((l) => ctx.quotaOf(l)?.spec.priority ?? 0));
        const py = Math.max(...y.leases.map((l) => ctx.quotaOf(l)?.spec.priority ?? 0));
        return px - py || (x.a.node.name < y.a.node.name ? -1 : 1);
      });
  const markUntil = (ranked: ReturnType<typeof rankFor>, gpus: number) => {
    let left = gpus;
    for (const { a, leases } of ranked) {
      if (left <= 0) break;
      for (const lease of leases) atRisk.add(leaseKey(lease));
      left -= a.capacity;
    }
  };
  for (const group of blocked)
    markUntil(
      rankFor((a) => group.pods.some((p) => staticFit(p, a.node))),
      group.gpus,
    );
  let idle = 0;
  for (const a of ctx.accounts.values())
    if (a.state === "Internal" && a.node.lendable && !a.internalBusy) idle += a.capacity;
  const { headroomGpus } = ctx.snapshot.settings;
  const deficit = headroomGpus - idle;
  if (headroomGpus > 0 && deficit > 0)
    markUntil(
      rankFor(() => true),
      deficit,
    );
  return atRisk;
}

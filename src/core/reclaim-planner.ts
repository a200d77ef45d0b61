/**
 * Reclaim planning: for each internal demand, whether giving back some Lent nodes would let it
 * schedule, and if so which nodes cost the least to take back. Pure; every choice is explained.
 *
 * Cost, compared in order: the highest tenant priority among the leases hit (low first), the highest
 * lease priority hit, GPU-time lost since the last checkpoint (annotation gpulease.io/last-checkpoint,
 * else since admission), and GPUs evicted. Reserved leases before their end and leases younger than
 * their tenant's minRuntime are never victims.
 */

import { ANNOTATION_LAST_CHECKPOINT } from "../api/labels.ts";
import { holdsAllocation, type NodeAccount, podHoldsGpus } from "./accounting.ts";
import type { DemandGroup } from "./demand.ts";
import { type ClusterSnapshot, type LeaseView, leaseKey, type QuotaView } from "./model.ts";
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
}

interface Candidate {
  account: NodeAccount;
  leases: LeaseView[];
  protectedBy: string | undefined;
  cost: [number, number, number, number];
}

/** Lent nodes whose subsets the reclaim searches exactly (2^10 subsets at most). */
const SEARCH_NODES = 10;

type Cost = [number, number, number, number];

function lessCost(a: Cost, b: Cost): boolean {
  for (let i = 0; i < 4; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

/** What returning these nodes costs, each lease counted once: the candidates' cost, for a plan. */
function planCost(
  chosen: Candidate[],
  now: number,
  quotaOf: (lease: LeaseView) => QuotaView | undefined,
): Cost {
  const seen = new Set<string>();
  const cost: Cost = [-1e9, -1e9, 0, 0];
  for (const c of chosen) {
    for (const lease of c.leases) {
      const whole = !lease.spec.allowPartialReclaim;
      const key = whole ? leaseKey(lease) : `${leaseKey(lease)}@${c.account.node.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const evicted = whole
        ? lease.spec.gpus
        : ((lease.status.allocations ?? []).find((a) => a.node === c.account.node.name)?.gpus ?? 0);
      cost[0] = Math.max(cost[0], quotaOf(lease)?.spec.priority ?? 0);
      cost[1] = Math.max(cost[1], lease.spec.priority);
      cost[2] += gpuTimeLost(lease, evicted, now);
      cost[3] += evicted;
    }
  }
  return cost;
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
  for (let i = 0; i < 4; i++) {
    const d = (a.cost[i] ?? 0) - (b.cost[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.account.node.name < b.account.node.name ? -1 : 1;
}

export function protection(lease: LeaseView, quota: QuotaView | undefined, now: number): string | undefined {
  if (lease.spec.class === "Reserved") return `lease ${lease.namespace}/${lease.name} is Reserved`;
  const ends = protectionEnds(lease, quota);
  if (ends !== undefined && now < ends) {
    return `lease ${lease.namespace}/${lease.name} is inside its minimum runtime until ${new Date(ends).toISOString()}`;
  }
  return undefined;
}

/** When a lease's minRuntime protection ends (undefined: none, or Reserved which never lapses early). */
export function protectionEnds(lease: LeaseView, quota: QuotaView | undefined): number | undefined {
  if (lease.spec.class === "Reserved") return undefined;
  const minRuntime = quota?.spec.minRuntimeMs;
  const admittedAt = Date.parse(lease.status.admittedAt ?? "");
  return minRuntime !== undefined && minRuntime > 0 && !Number.isNaN(admittedAt)
    ? admittedAt + minRuntime
    : undefined;
}

/** Seconds of GPU work lost if the lease stops now: since its last checkpoint, else since admission. */
export function gpuTimeLost(lease: LeaseView, gpus: number, now: number): number {
  const admittedAt = Date.parse(lease.status.admittedAt ?? "") || now;
  const checkpoint = Date.parse(lease.annotations[ANNOTATION_LAST_CHECKPOINT] ?? "");
  const since = Number.isNaN(checkpoint) ? admittedAt : Math.max(admittedAt, Math.min(checkpoint, now));
  return (gpus * Math.max(0, now - since)) / 1000;
}

export function planReclaim(
  snapshot: ClusterSnapshot,
  accounts: Map<string, NodeAccount>,
  demand: DemandGroup[],
  owners: Map<string, string>,
): ReclaimPlan {
  const now = snapshot.now;
  const quotas = new Map(snapshot.quotas.map((q) => [q.name, q]));
  const quotaOf = (lease: LeaseView) => quotas.get(owners.get(lease.namespace) ?? "");
  const resourceFor = (pod: { gpus: Record<string, number> }) =>
    snapshot.settings.resourceNames.find((r) => (pod.gpus[r] ?? 0) > 0) ??
    (snapshot.settings.resourceNames[0] as string);

  // CPU and memory held on each node by internal pods (tenant pods leave with the node).
  const internalCpu = new Map<string, { cpu: number; memory: number }>();
  for (const pod of snapshot.pods) {
    if (!podHoldsGpus(pod) || pod.nodeName === undefined || owners.has(pod.namespace)) continue;
    const used = internalCpu.get(pod.nodeName) ?? { cpu: 0, memory: 0 };
    used.cpu += pod.cpuMillis;
    used.memory += pod.memoryBytes;
    internalCpu.set(pod.nodeName, used);
  }
  const room = (account: NodeAccount, returned: boolean): NodeRoom => {
    const used = internalCpu.get(account.node.name) ?? { cpu: 0, memory: 0 };
    return {
      node: account.node,
      gpus: returned ? account.capacity - account.internalUsed : Math.max(0, account.free),
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

  const decisions: ReclaimDecision[] = [];
  const hopeless: ReclaimPlan["hopeless"] = [];
  const blocked: DemandGroup[] = [];
  let wakeAt: number | undefined;
  const taken = new Set<string>(); // nodes already being returned (before or by this plan)
  for (const account of accounts.values()) if (account.state === "Returning") taken.add(account.node.name);

  // Room for internal pods now, and on nodes already on their way back; each demand group (oldest
  // first) takes its share, so two groups are never promised the same returning GPUs.
  // (Demand pods always ask for GPUs, so rooms without a free GPU are left out.)
  const withGpus = (rooms: NodeRoom[]) => rooms.filter((r) => r.gpus > 0);
  let available: NodeRoom[] = withGpus([
    ...[...accounts.values()].filter((a) => a.state === "Internal").map((a) => room(a, false)),
    ...[...accounts.values()].filter((a) => taken.has(a.node.name)).map((a) => room(a, true)),
  ]);
  // Every lent node as a candidate, with its cost, computed once for all demand groups (sorted by cost).
  let candidateCache: Candidate[] | undefined;
  const allCandidates = (): Candidate[] => {
    if (candidateCache) return candidateCache;
    const list: Candidate[] = [];
    for (const account of accounts.values()) {
      if (account.state !== "Lent") continue;
      const leases = leasesOn.get(account.node.name) ?? [];
      const guard = leases.map((l) => protection(l, quotaOf(l), now)).find((p) => p !== undefined);
      let tenantPriority = Number.NEGATIVE_INFINITY;
      let leasePriority = Number.NEGATIVE_INFINITY;
      let lost = 0;
      let gpus = 0;
      for (const lease of leases) {
        const whole = !lease.spec.allowPartialReclaim;
        const here = (lease.status.allocations ?? []).find((a) => a.node === account.node.name)?.gpus ?? 0;
        const evicted = whole ? lease.spec.gpus : here;
        tenantPriority = Math.max(tenantPriority, quotaOf(lease)?.spec.priority ?? 0);
        leasePriority = Math.max(leasePriority, lease.spec.priority);
        lost += gpuTimeLost(lease, evicted, now);
        gpus += evicted;
      }
      list.push({
        account,
        leases,
        protectedBy: guard,
        cost: [leases.length ? tenantPriority : -1e9, leases.length ? leasePriority : -1e9, lost, gpus],
      });
    }
    candidateCache = list.sort(compareCost);
    return candidateCache;
  };
  for (const group of demand) {
    const served = placeGroup(group.pods, available, resourceFor);
    if (served) {
      available = withGpus(served);
      continue;
    }

    const candidates = allCandidates().filter(
      (c) => !taken.has(c.account.node.name) && group.pods.some((p) => staticFit(p, c.account.node)),
    );
    const usable = candidates.filter((c) => c.protectedBy === undefined);

    // Nodes freed by a choice: the chosen ones, plus every other node left empty by whole reclaims.
    const freedBy = (chosen: Candidate[]): string[] => {
      const victims = new Set<string>();
      for (const c of chosen) {
        for (const lease of c.leases) victims.add(leaseKey(lease));
      }
      const freed = new Set(chosen.map((c) => c.account.node.name));
      for (const account of accounts.values()) {
        if (account.state !== "Lent" || freed.has(account.node.name) || taken.has(account.node.name))
          continue;
        const here = leasesOn.get(account.node.name) ?? [];
        const wholeVictims = here.filter((l) => victims.has(leaseKey(l)) && !l.spec.allowPartialReclaim);
        if (here.length > 0 && wholeVictims.length === here.length && account.strayTenantUsed === 0)
          freed.add(account.node.name);
      }
      return [...freed];
    };
    const roomsWith = (chosen: Candidate[]) => {
      const freed = new Set(freedBy(chosen));
      return [
        ...available,
        ...[...accounts.values()].filter((a) => freed.has(a.node.name)).map((a) => room(a, true)),
      ];
    };
    const fitsWith = (chosen: Candidate[]) => groupFits(group.pods, roomsWith(chosen), resourceFor);

    let chosen: Candidate[] = [];
    for (const candidate of usable) {
      chosen.push(candidate);
      if (fitsWith(chosen)) break;
    }
    if (!fitsWith(chosen)) {
      const all = candidates;
      if (all.length > usable.length && fitsWith(all)) {
        blocked.push(group);
        for (const c of all) {
          for (const lease of c.leases) {
            const lapse = protectionEnds(lease, quotaOf(lease));
            if (lapse !== undefined && lapse > now)
              wakeAt = wakeAt === undefined ? lapse : Math.min(wakeAt, lapse);
          }
        }
      } else
        hopeless.push({
          demand: group,
          reason:
            "it would not fit even with every lent node returned (CPU, memory, node selector, affinity or taints)",
        });
      continue;
    }
    // Drop choices that turned out unnecessary, most expensive first.
    for (const candidate of [...chosen].reverse()) {
      const without = chosen.filter((c) => c !== candidate);
      if (without.length > 0 && fitsWith(without)) chosen = without;
    }
    // Node by node, the greedy misses cheaper combinations (one 8-GPU node for two 4-GPU ones, two
    // nodes sharing one lease): search the subsets of the cheapest few nodes by the plan's own cost.
    const roomNow = available.reduce((sum, r) => sum + r.gpus, 0);
    chosen = cheaperChoice(chosen, usable.slice(0, SEARCH_NODES), {
      neededGpus: group.gpus - roomNow,
      freedGpus: (c) => room(c.account, true).gpus,
      cost: (list) => planCost(list, now, quotaOf),
      fits: fitsWith,
    });

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
          hit.gpus += (lease.status.allocations ?? []).find((a) => a.node === c.account.node.name)?.gpus ?? 0;
        }
        hits.set(key, hit);
      }
    }
    const nodes = freedBy(chosen).sort();
    available = withGpus(placeGroup(group.pods, roomsWith(chosen), resourceFor) ?? available);
    for (const node of nodes) taken.add(node);
    const gpusEvicted = [...hits.values()].reduce((s, h) => s + h.gpus, 0);
    const explanation =
      `${group.pods.length} internal pod(s) of ${group.key} need ${group.gpus} GPUs: returning ${nodes.join(", ")} ` +
      `evicts ${gpusEvicted} GPUs of ${[...hits.values()].map((h) => `${h.lease.namespace}/${h.lease.name}`).join(", ") || "no lease"} ` +
      `(cheapest of ${usable.length} unprotected lent node(s): lowest tenant and lease priority, least GPU-time lost since checkpoint, fewest GPUs)`;
    decisions.push({ demand: group, nodes, hits: [...hits.values()], gpusEvicted, explanation });
  }

  // AtRisk: the leases the next reclaim would hit, while demand waits or the idle headroom is gone.
  const atRisk = new Set<string>();
  const rankFor = (fits: (node: NodeAccount) => boolean) =>
    [...accounts.values()]
      .filter((a) => a.state === "Lent" && !taken.has(a.node.name) && fits(a))
      .map((a) => ({
        a,
        leases: (leasesOn.get(a.node.name) ?? []).filter((l) => l.spec.class !== "Reserved"),
      }))
      .filter((x) => x.leases.length > 0)
      .sort((x, y) => {
        const px = Math.max(...x.leases.map((l) => quotaOf(l)?.spec.priority ?? 0));
        const py = Math.max(...y.leases.map((l) => quotaOf(l)?.spec.priority ?? 0));
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
  for (const a of accounts.values())
    if (a.state === "Internal" && a.node.lendable && !a.internalBusy) idle += a.capacity;
  const deficit = snapshot.settings.headroomGpus - idle;
  if (snapshot.settings.headroomGpus > 0 && deficit > 0)
    markUntil(
      rankFor(() => true),
      deficit,
    );
  const hopelessKeys = new Set(hopeless.map((h) => h.demand.key));
  const waiting = demand.filter((g) => !hopelessKeys.has(g.key));
  return { decisions, hopeless, blocked, atRisk, waiting, wakeAt };
}

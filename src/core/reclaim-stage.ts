/**
 * The first stage of every plan: internal demand, the reclaims it needs, and the leases they hit.
 * Shared by the whole plan and the reclaim-first plan, so both decide a reclaim the same way.
 */
import { type DemandGroup, internalDemand } from "./demand.ts";
import { kueueDemandPods } from "./kueue-check.ts";
import type { ReclaimHit } from "./lease-lifecycle.ts";
import { leaseKey } from "./model.ts";
import { findOrphans, type Orphan } from "./orphans.ts";
import type { PlanContext } from "./plan-context.ts";
import { planReclaim, type ReclaimDecision, type ReclaimPlan } from "./reclaim-planner.ts";

export interface ReclaimStage {
  /** Tenant pods on lent nodes without an Active lease allocating the node. */
  allOrphans: Orphan[];
  /** Demand groups still settling (a Job's pods not all created yet): planned when they settle. */
  settling: DemandGroup[];
  reclaim: ReclaimPlan;
  /** The leases reclaims take GPUs from, by lease key, one hit per lease. */
  hits: Map<string, ReclaimHit>;
  /** Nodes on their way back to internal use (marked Returning in `ctx.accounts`). */
  returning: Set<string>;
}

export function reclaimStage(ctx: PlanContext): ReclaimStage {
  const { snapshot } = ctx;
  const seenOrphans = snapshot.orphansSince ?? new Map<string, number>();
  const allOrphans = findOrphans(snapshot, ctx.accounts, ctx.owners, seenOrphans, ctx.leases.byKey);
  // Pods that queued Kueue Workloads will create count as demand already (kueue-check.ts).
  const demand = internalDemand(
    [...snapshot.pods, ...kueueDemandPods(snapshot)],
    ctx.owners,
    snapshot.settings.resourceNames,
    snapshot.groupSizes,
  );
  const settled = demand.filter((g) => g.settlesAt <= snapshot.now);
  const settling = demand.filter((g) => g.settlesAt > snapshot.now);
  const reclaim = planReclaim(snapshot, ctx.accounts, settled, ctx.owners, allOrphans);
  const { hits, returning } = planReclaims(ctx, reclaim.decisions);
  explicitReclaims(ctx, hits);
  return { allOrphans, settling, reclaim, hits, returning };
}

/**
 * The leases internal demand takes GPUs from, one hit per lease, and the nodes that go back; those
 * nodes are marked Returning so no admission uses them.
 */
function planReclaims(
  ctx: PlanContext,
  decisions: ReclaimDecision[],
): { hits: Map<string, ReclaimHit>; returning: Set<string> } {
  const hits = new Map<string, ReclaimHit>();
  const returning = new Set<string>();
  for (const decision of decisions) {
    for (const node of decision.nodes) {
      returning.add(node);
      const account = ctx.accounts.get(node);
      if (account) account.state = "Returning";
    }
    for (const hit of decision.hits) {
      // Two demands may take different nodes of one lease (partial reclaim): one notice for both.
      const earlier = hits.get(leaseKey(hit.lease));
      const nodes = [...new Set([...(earlier?.nodes ?? []), ...hit.nodes])].sort();
      const allocations = hit.lease.status.allocations ?? [];
      hits.set(leaseKey(hit.lease), {
        nodes,
        whole: (earlier?.whole ?? false) || hit.whole,
        gpus: allocations.filter((a) => nodes.includes(a.node)).reduce((sum, a) => sum + a.gpus, 0),
        reason: "InternalDemand",
        explanation: earlier ? `${earlier.explanation}; ${decision.explanation}` : decision.explanation,
      });
    }
  }
  return { hits, returning };
}

/** Adds a hit for each Active lease on a lent node that lost its lendable label (or got gpulease.io/reclaim=true). */
function explicitReclaims(ctx: PlanContext, hits: Map<string, ReclaimHit>): void {
  for (const lease of ctx.snapshot.leases) {
    if (lease.status.phase !== "Active" || lease.spec.class === "Reserved" || hits.has(leaseKey(lease)))
      continue;
    const allocations = lease.status.allocations ?? [];
    const taken = allocations.filter((a) => {
      const account = ctx.accounts.get(a.node);
      return account?.node.lent === true && !account.node.lendable;
    });
    if (taken.length === 0) continue;
    const whole = !lease.spec.allowPartialReclaim;
    const nodes = (whole ? allocations : taken).map((a) => a.node).sort();
    hits.set(leaseKey(lease), {
      nodes,
      whole,
      gpus: (whole ? allocations : taken).reduce((sum, a) => sum + a.gpus, 0),
      reason: "NodeReclaimed",
      explanation: `node(s) ${taken.map((a) => a.node).join(", ")} were taken out of the lendable pool`,
    });
  }
}

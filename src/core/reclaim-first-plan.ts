/**
 * The reclaim-first plan: what internal demand needs written at once, and nothing else. When an
 * internal pod turns Unschedulable, the shell runs this before the whole plan: the reclaim's lease
 * statuses (Reclaiming, with the deadline), the victims' pod notices and their Events. Admission,
 * binding, metering and upkeep wait for the whole plan that follows.
 *
 * It decides through the same stage as the whole plan (reclaim-stage.ts) and plans each hit lease with
 * the same function, so every action it returns is one the whole plan would return for the same
 * snapshot (a property test holds it to that). Pure.
 */

import type { DemandGroup } from "./demand.ts";
import { sameJson } from "./equality.ts";
import type { LeasePlan } from "./lease-lifecycle.ts";
import { planLease } from "./lease-lifecycle.ts";
import type { ClusterSnapshot, LeaseView } from "./model.ts";
import { leaseKey } from "./model.ts";
import { buildActions, type PlanAction } from "./plan-actions.ts";
import { groupPodsByLease, planContext } from "./plan-context.ts";
import type { ReclaimDecision } from "./reclaim-planner.ts";
import { reclaimStage } from "./reclaim-stage.ts";

export interface ReclaimFirstPlan {
  actions: PlanAction[];
  /** Leases this plan gives a reclaim notice. */
  noticesGiven: LeaseView[];
  reclaims: ReclaimDecision[];
  hopelessDemand: { demand: DemandGroup; reason: string }[];
}

export function planReclaimFirst(snapshot: ClusterSnapshot): ReclaimFirstPlan {
  const ctx = planContext(snapshot);
  const { hits, reclaim } = reclaimStage(ctx);
  const decided = { reclaims: reclaim.decisions, hopelessDemand: reclaim.hopeless };
  if (hits.size === 0) return { actions: [], noticesGiven: [], ...decided };
  const podsByLease = groupPodsByLease(ctx);
  const plans: LeasePlan[] = [];
  for (const lease of snapshot.leases) {
    const hit = hits.get(leaseKey(lease));
    if (hit === undefined) continue;
    const plan = planLease(lease, {
      snapshot,
      accounts: ctx.accounts,
      quota: ctx.quotaOf(lease.namespace),
      pods: podsByLease.get(leaseKey(lease)) ?? [],
      decision: undefined,
      reclaimHit: hit,
    });
    // A lease already told (its notice written by an earlier pass) has nothing new to say here.
    if (plan.noticeGiven) plans.push(plan);
  }
  const actions = buildActions({
    lendNodes: [],
    nodeChanges: [],
    resourceQuotas: [],
    currentResourceQuota: () => undefined,
    leaseStatuses: plans
      .filter((p) => !sameJson(p.status, p.lease.status))
      .map((p) => ({ lease: p.lease, status: p.status, noticeGiven: p.noticeGiven })),
    addFinalizers: [],
    notices: plans.flatMap((p) => p.notify.map((n) => ({ ...n, lease: p.lease }))),
    evictions: [],
    bindings: [],
    quotaStatuses: [],
    removeFinalizers: [],
    events: plans.flatMap((p) => p.events),
    tenantOf: (namespace) => ctx.owners.get(namespace),
  });
  return { actions, noticesGiven: plans.map((p) => p.lease), ...decided };
}

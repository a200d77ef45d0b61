/**
 * The production check of the incremental planner: at most every `intervalMs`, the snapshot a pass
 * planned is planned again from scratch (the reference) and the two plans are compared.
 */
import { planDivergence } from "../core/incremental-planner.ts";
import type { ClusterSnapshot } from "../core/model.ts";
import { type ClusterPlan, planCluster } from "../core/planner.ts";

export interface ReferenceCheckResult {
  /** The first part of the plan that differs (undefined: the same plan). */
  part: keyof ClusterPlan | undefined;
  /** What the reference plan and the comparison cost. */
  ms: number;
}

export class ReferenceCheck {
  private lastAt = Number.NEGATIVE_INFINITY;

  /** `intervalMs` 0: never. */
  constructor(
    private readonly intervalMs: number,
    private readonly reference: (snapshot: ClusterSnapshot) => ClusterPlan = planCluster,
  ) {}

  /** Compares when a check is due at `now` (undefined: not due). */
  run(now: number, snapshot: ClusterSnapshot, plan: ClusterPlan): ReferenceCheckResult | undefined {
    if (this.intervalMs <= 0 || now - this.lastAt < this.intervalMs) return undefined;
    this.lastAt = now;
    const started = performance.now();
    const part = planDivergence(plan, this.reference(snapshot));
    return { part, ms: Math.round(performance.now() - started) };
  }
}

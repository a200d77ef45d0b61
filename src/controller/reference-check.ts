/**
 * The production check of the incremental planner: at most every `intervalMs`, the snapshot a pass
 * planned is planned again from scratch (the reference) and the two plans are compared.
 */
import { isDeepStrictEqual } from "node:util";
import { planDivergence } from "../core/incremental-planner.ts";
import type { ClusterSnapshot } from "../core/model.ts";
import { type ClusterPlan, planCluster } from "../core/planner.ts";

export interface ReferenceCheckResult {
  /** The first part of the plan that differs (undefined: the same plan). */
  part: keyof ClusterPlan | undefined;
  /** Where in that part, for a list: the first differing entry's index and id (or kind). */
  at?: string;
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
    const reference = this.reference(snapshot);
    const part = planDivergence(plan, reference);
    const at = part === undefined ? undefined : firstDifference(plan[part], reference[part]);
    return { part, ...(at !== undefined ? { at } : {}), ms: Math.round(performance.now() - started) };
  }
}

/** The first entry where two lists differ, as `index id` (undefined for what is not a list). */
function firstDifference(incremental: unknown, reference: unknown): string | undefined {
  if (!Array.isArray(incremental) || !Array.isArray(reference)) return undefined;
  const length = Math.max(incremental.length, reference.length);
  for (let i = 0; i < length; i++) {
    if (isDeepStrictEqual(incremental[i], reference[i])) continue;
    const entry = (reference[i] ?? incremental[i]) as { id?: unknown; kind?: unknown } | undefined;
    return `${i} ${String(entry?.id ?? entry?.kind ?? "")}`.trim();
  }
  return `length ${incremental.length} vs ${reference.length}`;
}

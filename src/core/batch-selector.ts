/**
 * Picks the batch of actions one pass carries out, under a write budget, so that every action in it
 * has each prerequisite either in the same batch (to run before it) or already done. Then orders the
 * batch into waves: an action runs in a later wave than everything it requires. Pure.
 */
import { type ActionPriority, isWrite, type PlanAction, PRIORITY_ORDER } from "./plan-actions.ts";

export interface WriteBudget {
  /** Writes of urgent actions (reclaim notices, due evictions, Reclaiming statuses) per pass. */
  urgent: number;
  /** Every other write per pass. */
  other: number;
}

export interface Batch {
  /**
   * Waves in order: every action's prerequisites inside the batch are in earlier waves. The urgent
   * actions, with what they require and the Events that announce them, come first in waves of their
   * own: a reclaim notice never waits behind a wave of bindings or metering writes.
   */
  waves: PlanAction[][];
  /** How many of the first waves carry the urgent actions (the pass may stop after them). */
  urgentWaves: number;
  /** Actions left for a later pass (the budget ran out, or a prerequisite did). */
  deferred: number;
}

const rank = (priority: ActionPriority) => PRIORITY_ORDER.indexOf(priority);
const bucket = (action: PlanAction): keyof WriteBudget => (action.priority === "urgent" ? "urgent" : "other");

/**
 * `done`: ids of actions that already succeeded (earlier batches of the same plan). A prerequisite
 * that is neither in the plan nor done can never be met: its dependents are deferred.
 */
export function selectBatch(
  actions: readonly PlanAction[],
  budget: WriteBudget,
  done: ReadonlySet<string> = new Set(),
): Batch {
  const byId = new Map<string, PlanAction>();
  for (const action of actions) if (!done.has(action.id)) byId.set(action.id, action);
  const order = [...byId.values()]
    .map((action, index) => ({ action, index }))
    .sort((a, b) => rank(a.action.priority) - rank(b.action.priority) || a.index - b.index)
    .map((entry) => entry.action);

  const selected = new Set<string>();
  const spent: WriteBudget = { urgent: 0, other: 0 };
  // An action with the prerequisites it pulls in, prerequisites first; undefined if one can never be met.
  const closure = (root: PlanAction): PlanAction[] | undefined => {
    const out: PlanAction[] = [];
    const visiting = new Set<string>();
    const visit = (action: PlanAction): boolean => {
      if (selected.has(action.id) || out.includes(action)) return true;
      if (visiting.has(action.id)) return false; // a cycle is a planner bug: never run it
      visiting.add(action.id);
      for (const id of action.requires) {
        if (done.has(id)) continue;
        const required = byId.get(id);
        if (!required || !visit(required)) return false;
      }
      out.push(action);
      return true;
    };
    return visit(root) ? out : undefined;
  };

  const chosen: PlanAction[] = [];
  let deferred = 0;
  for (const action of order) {
    if (selected.has(action.id) || !isWrite(action) || action.onlyAsPrerequisite) continue;
    const group = closure(action);
    if (!group) {
      deferred++;
      continue;
    }
    const cost: WriteBudget = { urgent: 0, other: 0 };
    for (const member of group) if (isWrite(member)) cost[bucket(member)]++;
    // Over budget, unless the bucket is still empty: an action whose prerequisites alone exceed the
    // budget must still make progress, one per pass.
    const over = (key: keyof WriteBudget) =>
      cost[key] > 0 && spent[key] > 0 && spent[key] + cost[key] > budget[key];
    if (over("urgent") || over("other")) {
      deferred++;
      continue;
    }
    spent.urgent += cost.urgent;
    spent.other += cost.other;
    for (const member of group) {
      selected.add(member.id);
      chosen.push(member);
    }
  }
  // Events cost no write: each goes with the write it announces, or waits for it.
  for (const action of order) {
    if (isWrite(action)) continue;
    if (action.requires.every((id) => done.has(id) || selected.has(id))) {
      selected.add(action.id);
      chosen.push(action);
    } else deferred++;
  }
  const urgent = urgentPart(chosen);
  const urgentWaves = intoWaves(
    chosen.filter((a) => urgent.has(a.id)),
    done,
  ).map(roundRobinByLease);
  const afterUrgent = new Set([...done, ...urgent]);
  const otherWaves = intoWaves(
    chosen.filter((a) => !urgent.has(a.id)),
    afterUrgent,
  );
  return { waves: [...urgentWaves, ...otherWaves], urgentWaves: urgentWaves.length, deferred };
}

/**
 * A wave reordered so each lease's first action comes before any lease's second: with many reclaims
 * at once, every reclaim's first victim hears of its deadline in the first round of writes.
 */
function roundRobinByLease(wave: PlanAction[]): PlanAction[] {
  const seen = new Map<string, number>();
  const round = new Map<PlanAction, number>();
  for (const action of wave) {
    const lease = "lease" in action ? `${action.lease.namespace}/${action.lease.name}` : action.id;
    const n = seen.get(lease) ?? 0;
    seen.set(lease, n + 1);
    round.set(action, n);
  }
  // Stable: within a round, the wave's own (priority) order.
  return wave
    .map((action, index) => ({ action, index }))
    .sort((a, b) => (round.get(a.action) ?? 0) - (round.get(b.action) ?? 0) || a.index - b.index)
    .map((x) => x.action);
}

/** Ids of the urgent actions of a batch, the actions they require, and the Events about them. */
function urgentPart(batch: PlanAction[]): Set<string> {
  const byId = new Map(batch.map((a) => [a.id, a]));
  const part = new Set<string>();
  const add = (action: PlanAction): void => {
    if (part.has(action.id)) return;
    part.add(action.id);
    for (const id of action.requires) {
      const required = byId.get(id);
      if (required) add(required);
    }
  };
  for (const action of batch) if (isWrite(action) && action.priority === "urgent") add(action);
  for (const action of batch) {
    if (!isWrite(action) && action.requires.length > 0 && action.requires.every((id) => part.has(id)))
      part.add(action.id);
  }
  return part;
}

/** Groups a batch into waves by dependency depth; within a wave, the batch's (priority) order. */
function intoWaves(batch: PlanAction[], done: ReadonlySet<string>): PlanAction[][] {
  const depth = new Map<string, number>();
  const byId = new Map(batch.map((a) => [a.id, a]));
  const depthOf = (action: PlanAction): number => {
    const known = depth.get(action.id);
    if (known !== undefined) return known;
    let d = 0;
    for (const id of action.requires) {
      if (done.has(id)) continue;
      const required = byId.get(id);
      if (required) d = Math.max(d, depthOf(required) + 1);
    }
    depth.set(action.id, d);
    return d;
  };
  const waves: PlanAction[][] = [];
  for (const action of batch) {
    const d = depthOf(action);
    while (waves.length <= d) waves.push([]);
    (waves[d] as PlanAction[]).push(action);
  }
  // Within a wave, urgent first (the batch was chosen in priority order, but closures interleave).
  for (const wave of waves) wave.sort((a, b) => rank(a.priority) - rank(b.priority));
  return waves;
}

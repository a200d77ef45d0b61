import type { Condition } from "../api/index.ts";

export interface ConditionInput {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

/**
 * Returns the conditions with `input` set, keeping lastTransitionTime when the status did not change
 * (the metav1.Condition contract). The list stays sorted by type so writes are deterministic.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  input: ConditionInput,
  now: number,
  observedGeneration: number,
): Condition[] {
  const existing = conditions?.find((c) => c.type === input.type);
  const lastTransitionTime =
    existing && existing.status === input.status ? existing.lastTransitionTime : new Date(now).toISOString();
  const next: Condition = { ...input, lastTransitionTime, observedGeneration };
  return [...(conditions ?? []).filter((c) => c.type !== input.type), next].sort((a, b) =>
    a.type.localeCompare(b.type),
  );
}

export function removeCondition(conditions: Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function getCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

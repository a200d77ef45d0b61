/**
 * Internal demand: GPU pods outside tenant namespaces that the scheduler could not place. Pods of one
 * Job or pod group are one demand, satisfied for all of them or not at all.
 */
import type { PodView } from "./model.ts";

export interface DemandGroup {
  key: string;
  pods: PodView[];
  gpus: number;
  /** When the earliest of its pods became Unschedulable. */
  since: number;
  /**
   * When the group is complete enough to plan for: a Job's controller creates its pods in batches
   * a few milliseconds apart, so a group is planned only once its newest pod is GROUP_SETTLE_MS old
   * (otherwise the first pod alone could trigger a reclaim the whole group cannot use).
   */
  settlesAt: number;
}

export const GROUP_SETTLE_MS = 1000;

export function internalDemand(
  pods: PodView[],
  owners: Map<string, string>,
  resourceNames: string[],
): DemandGroup[] {
  const groups = new Map<string, DemandGroup>();
  for (const pod of pods) {
    if (owners.has(pod.namespace) || pod.nodeName !== undefined || pod.terminating || pod.gated) continue;
    if (!pod.unschedulable) continue;
    const gpus = resourceNames.reduce((sum, r) => sum + (pod.gpus[r] ?? 0), 0);
    if (gpus === 0) continue;
    const key = `${pod.namespace}/${pod.group}`;
    const group = groups.get(key) ?? {
      key,
      pods: [],
      gpus: 0,
      since: pod.unschedulableSince ?? pod.createdAt,
      settlesAt: 0,
    };
    group.pods.push(pod);
    // A pod that is its own group is complete at once; a Job or pod group waits for its stragglers.
    if (!pod.group.startsWith("pod/"))
      group.settlesAt = Math.max(group.settlesAt, pod.createdAt + GROUP_SETTLE_MS);
    group.gpus += gpus;
    group.since = Math.min(group.since, pod.unschedulableSince ?? pod.createdAt);
    groups.set(key, group);
  }
  // Oldest demand first; a deterministic order for equal times.
  return [...groups.values()].sort((a, b) => a.since - b.since || (a.key < b.key ? -1 : 1));
}

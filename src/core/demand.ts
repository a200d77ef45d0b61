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
}

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
    };
    group.pods.push(pod);
    group.gpus += gpus;
    group.since = Math.min(group.since, pod.unschedulableSince ?? pod.createdAt);
    groups.set(key, group);
  }
  // Oldest demand first; a deterministic order for equal times.
  return [...groups.values()].sort((a, b) => a.since - b.since || (a.key < b.key ? -1 : 1));
}

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
   * When the group is complete enough to plan for. A group whose size is known (a Job's parallelism, a
   * pod-group size annotation) is complete once that many of its pods have a verdict; while one is
   * missing it waits INCOMPLETE_GROUP_WAIT_MS after its newest pod (a loaded Job controller or scheduler
   * can take seconds), then is planned as it is, so a Job that can never create all its pods is not
   * left waiting. A group of unknown size is planned once its newest pod is GROUP_SETTLE_MS old (a Job's
   * controller creates its pods a few milliseconds apart; else the first pod alone could trigger a
   * reclaim the group cannot use).
   */
  settlesAt: number;
}

export const GROUP_SETTLE_MS = 1000;
export const INCOMPLETE_GROUP_WAIT_MS = 10_000;

export function internalDemand(
  pods: PodView[],
  owners: Map<string, string>,
  resourceNames: string[],
  groupSizes: ReadonlyMap<string, number> = new Map(),
): DemandGroup[] {
  const groups = new Map<string, DemandGroup>();
  // The pods of each group the scheduler has decided on (placed, or marked Unschedulable), and the
  // size its pods declare: a group is complete once every one of its pods has a verdict, so a pod the
  // scheduler has not tried yet is waited for, not planned without.
  const members = new Map<string, number>();
  const declared = new Map<string, number>();
  for (const pod of pods) {
    if (pod.group.startsWith("pod/") || owners.has(pod.namespace) || pod.terminating) continue;
    if (pod.phase === "Succeeded" || pod.phase === "Failed") continue;
    const key = `${pod.namespace}/${pod.group}`;
    if (pod.nodeName !== undefined || pod.unschedulable) members.set(key, (members.get(key) ?? 0) + 1);
    if (pod.groupSize !== undefined) declared.set(key, Math.max(declared.get(key) ?? 0, pod.groupSize));
  }
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
  for (const group of groups.values()) {
    const size = groupSizes.get(group.key) ?? declared.get(group.key);
    if (size === undefined) continue;
    if ((members.get(group.key) ?? 0) >= size) group.settlesAt = 0;
    // Known to be incomplete: planning now would reclaim for part of a Job that runs whole or not at all.
    else group.settlesAt += INCOMPLETE_GROUP_WAIT_MS - GROUP_SETTLE_MS;
  }
  // Oldest demand first; a deterministic order for equal times.
  return [...groups.values()].sort((a, b) => a.since - b.since || (a.key < b.key ? -1 : 1));
}

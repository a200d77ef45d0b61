/**
 * A pod's Unschedulable condition carries a time truncated to the second; the operator notes when it
 * saw the pod turn Unschedulable, which is later and exact, and a pass plans with that. The overlay
 * copies only those pods, and keeps both its copies and the resulting array while nothing changed, so
 * the planner still tells an untouched pods array by identity (lease-dirty-set.ts, the snapshot builder).
 */
import type { PodView } from "../core/model.ts";

export class PodTimeOverlay {
  private from: readonly PodView[] | undefined;
  private result: PodView[] = [];
  private copies = new Map<string, { base: PodView; copy: PodView }>();

  /** `pods` with each Unschedulable pod's time as the operator saw it (`seen`, by uid), where later. */
  apply(pods: PodView[], seen: ReadonlyMap<string, number>): PodView[] {
    const copies = new Map<string, { base: PodView; copy: PodView }>();
    let out: PodView[] | undefined;
    let allKept = true;
    for (let i = 0; i < pods.length; i++) {
      const pod = pods[i] as PodView;
      if (!pod.unschedulable) continue;
      const at = seen.get(pod.uid);
      if (at === undefined || (pod.unschedulableSince !== undefined && at <= pod.unschedulableSince))
        continue;
      const before = this.copies.get(pod.uid);
      const kept = before !== undefined && before.base === pod && before.copy.unschedulableSince === at;
      if (!kept) allKept = false;
      const copy = kept ? before.copy : { ...pod, unschedulableSince: at };
      copies.set(pod.uid, { base: pod, copy });
      out ??= pods.slice();
      out[i] = copy;
    }
    const same = pods === this.from && allKept && copies.size === this.copies.size;
    this.copies = copies;
    if (same) return this.result;
    this.from = pods;
    this.result = out ?? pods;
    return this.result;
  }
}

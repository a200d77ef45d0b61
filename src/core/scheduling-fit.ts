/**
 * Would this pod fit that node? The parts of the scheduler's filters that decide whether giving GPUs
 * back helps: node selector, required node affinity, taints and tolerations, GPUs, CPU and memory.
 */
import type { NodeSelectorRequirement, NodeView, PodView, Taint, Toleration } from "./model.ts";

function requirementMatches(req: NodeSelectorRequirement, value: string | undefined): boolean {
  switch (req.operator) {
    case "In":
      return value !== undefined && req.values.includes(value);
    case "NotIn":
      return value === undefined || !req.values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
      return value !== undefined && Number(value) > Number(req.values[0]);
    case "Lt":
      return value !== undefined && Number(value) < Number(req.values[0]);
    default:
      return false;
  }
}

export function matchesNodeSelection(pod: PodView, node: NodeView): boolean {
  for (const [key, value] of Object.entries(pod.nodeSelector)) if (node.labels[key] !== value) return false;
  if (pod.affinityTerms.length === 0) return true;
  return pod.affinityTerms.some(
    (term) =>
      term.matchExpressions.every((req) => requirementMatches(req, node.labels[req.key])) &&
      term.matchFields.every((req) =>
        requirementMatches(req, req.key === "metadata.name" ? node.name : undefined),
      ),
  );
}

export function tolerates(tolerations: Toleration[], taint: Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === "Exists") return t.key === undefined || t.key === "" || t.key === taint.key;
    return t.key === taint.key && (t.value ?? "") === taint.value;
  });
}

export function toleratesNode(pod: PodView, node: NodeView): boolean {
  return node.taints.every(
    (taint) => taint.effect === "PreferNoSchedule" || tolerates(pod.tolerations, taint),
  );
}

/** Room on a node for internal pods, as the fit simulation tracks it. */
export interface NodeRoom {
  node: NodeView;
  gpus: number;
  cpuMillis: number;
  memoryBytes: number;
}

export function staticFit(pod: PodView, node: NodeView): boolean {
  return node.ready && !node.unschedulable && matchesNodeSelection(pod, node) && toleratesNode(pod, node);
}

/**
 * Places every pod of a group in `rooms` at once (largest GPU pods first, each on the tightest node
 * that takes it) and returns the rooms left, or undefined when the group does not fit. The input rooms
 * are not changed.
 */
export function placeGroup(
  pods: PodView[],
  rooms: NodeRoom[],
  resourceName: (pod: PodView) => string,
): NodeRoom[] | undefined {
  const left = rooms.map((r) => ({ ...r }));
  const order = [...pods].sort(
    (a, b) => (b.gpus[resourceName(b)] ?? 0) - (a.gpus[resourceName(a)] ?? 0) || (a.name < b.name ? -1 : 1),
  );
  for (const pod of order) {
    const gpus = pod.gpus[resourceName(pod)] ?? 0;
    let best: (typeof left)[number] | undefined;
    for (const room of left) {
      if (room.gpus < gpus || room.cpuMillis < pod.cpuMillis || room.memoryBytes < pod.memoryBytes) continue;
      if (!staticFit(pod, room.node)) continue;
      if (!best || room.gpus < best.gpus || (room.gpus === best.gpus && room.node.name < best.node.name))
        best = room;
    }
    if (!best) return undefined;
    best.gpus -= gpus;
    best.cpuMillis -= pod.cpuMillis;
    best.memoryBytes -= pod.memoryBytes;
  }
  return left;
}

/** Whether every pod of a group fits in `rooms` at once. */
export function groupFits(
  pods: PodView[],
  rooms: NodeRoom[],
  resourceName: (pod: PodView) => string,
): boolean {
  return placeGroup(pods, rooms, resourceName) !== undefined;
}

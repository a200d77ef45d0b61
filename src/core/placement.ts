/**
 * Bin-packing of one lease onto nodes. Pure and deterministic (ties broken by node name).
 *
 * Preference, in order: nodes already Lent before lending more; as few newly lent nodes as possible;
 * and for the last piece the tightest node that fits (best fit), so whole nodes stay whole for leases
 * that need them. Every allocation is a multiple of the lease's block (gpusPerNode, else 1).
 */

export interface PlacementCandidate {
  name: string;
  /** GPUs free for leasing on this node now. */
  free: number;
  /** Whole GPU capacity of the node (what lending it takes from the internal pool). */
  capacity: number;
  /** Already Lent: using it lends nothing new. */
  lent: boolean;
}

export interface Placement {
  allocations: { node: string; gpus: number }[];
  /** Internal nodes this placement lends. */
  newlyLent: string[];
}

export interface PlacementRequest {
  gpus: number;
  block: number;
  /** Idle Internal GPUs that must remain unlent after this placement. */
  headroomGpus: number;
  /** Idle Internal GPUs now (lent-eligible or not). */
  idleInternalGpus: number;
}

function byName(a: PlacementCandidate, b: PlacementCandidate): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Takes `blocks` blocks from `nodes`: whole largest nodes first, the remainder from the tightest fit. */
function fill(
  nodes: PlacementCandidate[],
  blocks: number,
  block: number,
  canUse: (node: PlacementCandidate) => boolean,
  take: (node: PlacementCandidate, blocks: number) => void,
): number {
  const pool = nodes
    .map((node) => ({ node, units: Math.floor(node.free / block) }))
    .filter((entry) => entry.units > 0)
    .sort((a, b) => b.units - a.units || byName(a.node, b.node));
  let remaining = blocks;
  const used = new Set<string>();
  while (remaining > 0) {
    let bestFit: { node: PlacementCandidate; units: number } | undefined;
    for (const entry of pool) {
      if (used.has(entry.node.name) || entry.units < remaining || !canUse(entry.node)) continue;
      if (!bestFit || entry.units < bestFit.units) bestFit = entry;
    }
    if (bestFit) {
      take(bestFit.node, remaining);
      return 0;
    }
    const largest = pool.find((entry) => !used.has(entry.node.name) && canUse(entry.node));
    if (!largest) return remaining;
    used.add(largest.node.name);
    take(largest.node, largest.units);
    remaining -= largest.units;
  }
  return remaining;
}

export function placeLease(
  request: PlacementRequest,
  candidates: PlacementCandidate[],
): Placement | undefined {
  const { gpus, block } = request;
  if (block <= 0 || gpus % block !== 0) return undefined;
  const sorted = [...candidates].sort(byName);
  const allocations = new Map<string, number>();
  const newlyLent: string[] = [];
  let idleLeft = request.idleInternalGpus;
  const take = (node: PlacementCandidate, blocks: number) => {
    allocations.set(node.name, (allocations.get(node.name) ?? 0) + blocks * block);
    if (!node.lent && !newlyLent.includes(node.name)) {
      newlyLent.push(node.name);
      idleLeft -= node.capacity;
    }
  };
  let remaining = fill(
    sorted.filter((n) => n.lent),
    gpus / block,
    block,
    () => true,
    take,
  );
  if (remaining > 0) {
    remaining = fill(
      sorted.filter((n) => !n.lent),
      remaining,
      block,
      (node) => idleLeft - node.capacity >= request.headroomGpus,
      take,
    );
  }
  if (remaining > 0) return undefined;
  return {
    allocations: [...allocations]
      .map(([node, g]) => ({ node, gpus: g }))
      .sort((a, b) => (a.node < b.node ? -1 : 1)),
    newlyLent: newlyLent.sort(),
  };
}

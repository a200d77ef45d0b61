/**
 * The same placement as placeLease (placement.ts), over an index of nodes bucketed by free GPUs, so a
 * plan over thousands of nodes and leases does not scan every node for every lease. placeLease stays
 * the readable reference; a property test proves the two agree on every input.
 */
import type { Placement, PlacementCandidate } from "./placement.ts";

/** Node names kept sorted, with insert and delete by binary search. */
class SortedNames {
  readonly names: string[] = [];

  private position(name: string): number {
    let lo = 0;
    let hi = this.names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.names[mid] as string) < name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(name: string): void {
    this.names.splice(this.position(name), 0, name);
  }

  delete(name: string): void {
    const at = this.position(name);
    if (this.names[at] === name) this.names.splice(at, 1);
  }
}

/** Nodes of one kind (lent, or idle and lendable) by free GPUs. */
class Buckets {
  private readonly byFree: SortedNames[] = [];
  readonly nodes = new Map<string, PlacementCandidate>();
  max = 0;
  /** Sum of free GPUs over the nodes held. */
  free = 0;

  add(node: PlacementCandidate): void {
    if (node.free <= 0) return;
    this.nodes.set(node.name, node);
    const bucket = this.byFree[node.free] ?? new SortedNames();
    this.byFree[node.free] = bucket;
    bucket.add(node.name);
    this.max = Math.max(this.max, node.free);
    this.free += node.free;
  }

  remove(name: string): PlacementCandidate | undefined {
    const node = this.nodes.get(name);
    if (!node) return undefined;
    this.nodes.delete(name);
    this.byFree[node.free]?.delete(name);
    this.free -= node.free;
    return node;
  }

  /** Blocks of `block` GPUs in all nodes held (an upper bound when some are not usable). */
  units(block: number): number {
    let total = 0;
    for (let free = block; free <= this.max; free++) {
      total += (this.byFree[free]?.names.length ?? 0) * Math.floor(free / block);
    }
    return total;
  }

  /**
   * Among usable nodes whose units (free / block, rounded down) are the smallest at least `atLeast`
   * (or, with `largest`, the greatest), the one with the smallest name.
   */
  pick(
    block: number,
    atLeast: number,
    largest: boolean,
    canUse: (node: PlacementCandidate) => boolean,
  ): PlacementCandidate | undefined {
    const unitsOf = (free: number) => Math.floor(free / block);
    const firstFree = largest ? this.max : atLeast * block;
    const step = largest ? -1 : 1;
    for (let free = firstFree; largest ? free >= block : free <= this.max; free += step) {
      const bucket = this.byFree[free];
      if (!bucket || bucket.names.length === 0) continue;
      const units = unitsOf(free);
      // Every bucket with the same units competes on name.
      let best: PlacementCandidate | undefined;
      for (let f = units * block; f < (units + 1) * block && f <= this.max; f++) {
        for (const name of this.byFree[f]?.names ?? []) {
          if (best && name >= best.name) break;
          const node = this.nodes.get(name) as PlacementCandidate;
          if (canUse(node)) {
            best = node;
            break;
          }
        }
      }
      if (best) return best;
      // Nothing usable with these units: continue past this group of buckets.
      free = largest ? units * block : (units + 1) * block - 1;
    }
    return undefined;
  }
}

export interface IndexRequest {
  gpus: number;
  block: number;
  headroomGpus: number;
  idleInternalGpus: number;
  /** Nodes this lease may use at all (tenant isolation); absent: every node. */
  canUse?: (node: string) => boolean;
}

export class PlacementIndex {
  private readonly lent = new Buckets();
  private readonly idle = new Buckets();

  constructor(candidates: Iterable<PlacementCandidate>) {
    for (const c of candidates) (c.lent ? this.lent : this.idle).add({ ...c });
  }

  /** GPUs free on the nodes held (lent, and idle ones that may be lent), headroom not counted. */
  get free(): number {
    return this.lent.free + this.idle.free;
  }

  /** Places the lease and updates the index, or returns undefined (index unchanged). */
  place(request: IndexRequest): Placement | undefined {
    const { gpus, block } = request;
    if (block <= 0 || gpus % block !== 0) return undefined;
    const blocks = gpus / block;
    const headroomOk = (idleLeft: number) => (node: PlacementCandidate) =>
      idleLeft - node.capacity >= request.headroomGpus;
    // Cheap refusal first: not enough blocks even counting every node, usable or not.
    if (this.lent.units(block) + this.idle.units(block) < blocks) return undefined;

    const taken: { from: Buckets; node: PlacementCandidate; blocks: number }[] = [];
    let remaining = blocks;
    let idleLeft = request.idleInternalGpus;
    const run = (from: Buckets, usable: () => (node: PlacementCandidate) => boolean) => {
      while (remaining > 0) {
        const fit = from.pick(block, remaining, false, usable());
        if (fit) {
          from.remove(fit.name);
          taken.push({ from, node: fit, blocks: remaining });
          if (from === this.idle) idleLeft -= fit.capacity;
          remaining = 0;
          return;
        }
        const big = from.pick(block, 1, true, usable());
        if (!big) return;
        from.remove(big.name);
        const units = Math.floor(big.free / block);
        taken.push({ from, node: big, blocks: units });
        if (from === this.idle) idleLeft -= big.capacity;
        remaining -= units;
      }
    };
    const allowed = (node: PlacementCandidate) => request.canUse?.(node.name) ?? true;
    run(this.lent, () => allowed);
    if (remaining > 0) run(this.idle, () => (node) => allowed(node) && headroomOk(idleLeft)(node));
    if (remaining > 0) {
      for (const t of taken) t.from.add(t.node);
      return undefined;
    }
    const allocations = new Map<string, number>();
    const newlyLent: string[] = [];
    for (const t of taken) {
      const gpusHere = t.blocks * block;
      allocations.set(t.node.name, (allocations.get(t.node.name) ?? 0) + gpusHere);
      // What is left of the node is lent now, whichever bucket it came from.
      this.lent.add({ ...t.node, free: t.node.free - gpusHere, lent: true });
      if (t.from === this.idle) newlyLent.push(t.node.name);
    }
    return {
      allocations: [...allocations]
        .map(([node, g]) => ({ node, gpus: g }))
        .sort((a, b) => (a.node < b.node ? -1 : 1)),
      newlyLent: newlyLent.sort(),
    };
  }
}

/**
 * Which leases' plans a pass must look at, found from what changed since the last pass instead of by
 * walking every lease's inputs. A lease is dirty when its object, one of its pods, an account of a node
 * it is allocated on, its admission decision, its reclaim hit or AtRisk mark changed, or its plan's
 * `wakeAt` came; and every lease is, when something they all read changed (settings, namespaces,
 * quotas, time going back, metering to the instant, a bind backoff starting or ending). The others
 * keep their plans without a look. Being dirty only means being checked: the incremental planner still
 * compares a dirty lease's inputs before it plans it again, so marking too much costs time, never a
 * wrong plan; marking too little is what the property test of the incremental planner would catch.
 *
 * Arrays are compared the way the snapshot builder changes them: in place for an update, last for an
 * addition, closed up for a deletion; any other order only marks more.
 */
import type { NodeAccount } from "./accounting.ts";
import type { AdmissionDecision } from "./admission.ts";
import type { ClusterSnapshot, LeaseView, NodeView, PodView } from "./model.ts";

/** What a lease's plan reads of a node's account (undefined and zero where the node has none). */
export interface NodeReading {
  node: NodeView | undefined;
  state: NodeAccount["state"] | undefined;
  capacity: number;
  internalUsed: number;
}

export function readNode(account: NodeAccount | undefined): NodeReading {
  return {
    node: account?.node,
    state: account?.state,
    capacity: account?.capacity ?? 0,
    internalUsed: account?.internalUsed ?? 0,
  };
}

/** Whether the account still reads as `reading` recorded. */
export function readsSame(reading: NodeReading, account: NodeAccount | undefined): boolean {
  return (
    reading.node === account?.node &&
    reading.state === account?.state &&
    reading.capacity === (account?.capacity ?? 0) &&
    reading.internalUsed === (account?.internalUsed ?? 0)
  );
}

interface WalkMemory {
  now: number;
  settings: ClusterSnapshot["settings"];
  namespaces: ClusterSnapshot["namespaces"];
  quotas: ClusterSnapshot["quotas"];
  bindBackoff: ClusterSnapshot["bindBackoff"];
  leases: readonly LeaseView[];
  pods: readonly PodView[];
  hits: ReadonlySet<string>;
  atRisk: ReadonlySet<string>;
}

/** What one pass's lease plans read that the walk tracks. */
export interface WalkInputs {
  snapshot: ClusterSnapshot;
  /** Every lease of the snapshot by `namespace/name`. */
  leaseByKey: ReadonlyMap<string, LeaseView>;
  /** Node accounts as the lease plans read them (after reclaims and admissions marked them). */
  accounts: ReadonlyMap<string, NodeAccount>;
  decisions: readonly AdmissionDecision[];
  /**
   * How `decisions` differ from the last pass's, when the caller knows: the decisions made anew and
   * the leases whose decisions went. Otherwise every decision is compared.
   */
  decisionDelta?: { made: readonly AdmissionDecision[]; goneLeases: readonly LeaseView[] };
  /** The leases' changes since the last pass, when the caller has them (else they are found here). */
  leaseChanges?: { since: readonly LeaseView[]; gone: readonly LeaseView[]; came: readonly LeaseView[] };
  hits: ReadonlySet<string>;
  atRisk: ReadonlySet<string>;
}

export class LeaseDirtySet {
  private memory: WalkMemory | undefined;
  /** The admission decisions of the last pass, and by lease (rebuilt only when the array changes). */
  private decisionList: readonly AdmissionDecision[] = [];
  private decisionMap = new Map<LeaseView, AdmissionDecision>();
  /** The leases allocated on each node, by node name. */
  private readonly leasesOnNode = new Map<string, Set<LeaseView>>();
  private readonly readings = new Map<string, NodeReading>();
  /** Uids whose plans must be looked at next pass whatever changes (planned but not kept). */
  private carried = new Set<string>();
  /** When each kept plan wakes, by uid; `wakes` orders them (its items not in here are stale). */
  private readonly wakeOf = new Map<string, number>();
  /** A binary min-heap of wakes; compacted when stale items outnumber the live ones. */
  private wakes: { at: number; uid: string }[] = [];

  /** Forgets everything: the next pass looks at every lease. */
  reset(): void {
    this.memory = undefined;
    this.decisionList = [];
    this.decisionMap = new Map();
  }

  /** The lease's admission decision this pass (after `dirty`). */
  decisionFor(lease: LeaseView): AdmissionDecision | undefined {
    return this.decisionMap.get(lease);
  }

  /**
   * The uids of the leases whose plans must be looked at, or undefined when every lease must be.
   * Call once per pass, before planning; then `remember` what the pass planned.
   */
  dirty(inputs: WalkInputs): Set<string> | undefined {
    const { snapshot } = inputs;
    const was = this.memory;
    const dirty = this.carried;
    this.carried = new Set();
    const decisionsChanged = this.takeDecisions(inputs, dirty);
    const everything =
      was === undefined ||
      was.settings !== snapshot.settings ||
      was.namespaces !== snapshot.namespaces ||
      was.quotas !== snapshot.quotas ||
      snapshot.now < was.now ||
      // Without a metering interval, usage is metered up to the instant: every plan changes with time.
      snapshot.settings.meteringIntervalMs <= 0 ||
      backoffVerdictsDiffer(was, snapshot);
    if (everything) {
      this.reindex(snapshot.leases);
      this.rereadNodes(inputs.accounts);
      this.wakes = [];
      this.wakeOf.clear();
      return undefined;
    }
    const leaseChanges =
      inputs.leaseChanges?.since === was.leases
        ? inputs.leaseChanges
        : arrayChanges(was.leases, snapshot.leases, (l) => l.uid);
    this.leaseChanges(leaseChanges, dirty);
    this.podChanges(was.pods, snapshot.pods, inputs.leaseByKey, dirty);
    this.nodeChanges(inputs.accounts, dirty);
    if (decisionsChanged) decisionChanges(decisionsChanged, this.decisionMap, dirty);
    const mark = (key: string) => {
      const lease = inputs.leaseByKey.get(key);
      if (lease) dirty.add(lease.uid);
    };
    for (const key of was.hits) mark(key);
    for (const key of inputs.hits) mark(key);
    for (const key of was.atRisk) if (!inputs.atRisk.has(key)) mark(key);
    for (const key of inputs.atRisk) if (!was.atRisk.has(key)) mark(key);
    while (this.wakes.length > 0 && (this.wakes[0] as { at: number }).at <= snapshot.now) {
      const wake = this.popWake();
      if (this.wakeOf.get(wake.uid) !== wake.at) continue;
      this.wakeOf.delete(wake.uid);
      dirty.add(wake.uid);
    }
    return dirty;
  }

  /**
   * What this pass planned, for each lease it looked at: whether its plan was kept, and when that plan
   * wakes. A plan not kept is looked at again next pass.
   */
  remember(
    inputs: WalkInputs,
    looked: Iterable<{ uid: string; kept: boolean; wakeAt: number | undefined }>,
  ): void {
    const { snapshot } = inputs;
    this.memory = {
      now: snapshot.now,
      settings: snapshot.settings,
      namespaces: snapshot.namespaces,
      quotas: snapshot.quotas,
      bindBackoff: snapshot.bindBackoff,
      leases: snapshot.leases,
      pods: snapshot.pods,
      hits: inputs.hits,
      atRisk: inputs.atRisk,
    };
    for (const { uid, kept, wakeAt } of looked) {
      if (!kept) this.carried.add(uid);
      if (!kept || wakeAt === undefined) this.wakeOf.delete(uid);
      else if (this.wakeOf.get(uid) !== wakeAt) {
        this.wakeOf.set(uid, wakeAt);
        this.pushWake({ at: wakeAt, uid });
      }
    }
    if (this.wakes.length > 2 * this.wakeOf.size + 1024) {
      this.wakes = [];
      for (const [uid, at] of this.wakeOf) this.pushWake({ at, uid });
    }
  }

  /**
   * Takes this pass's decisions, marking the leases whose decisions the delta says changed; returns
   * the last pass's by lease when they must be compared one by one.
   */
  private takeDecisions(
    inputs: WalkInputs,
    dirty: Set<string>,
  ): Map<LeaseView, AdmissionDecision> | undefined {
    const { decisions, decisionDelta } = inputs;
    if (decisions === this.decisionList) return undefined;
    this.decisionList = decisions;
    if (decisionDelta) {
      for (const lease of decisionDelta.goneLeases) {
        this.decisionMap.delete(lease);
        dirty.add(lease.uid);
      }
      for (const decision of decisionDelta.made) {
        this.decisionMap.set(decision.lease, decision);
        dirty.add(decision.lease.uid);
      }
      return undefined;
    }
    const before = this.decisionMap;
    this.decisionMap = new Map(decisions.map((d) => [d.lease, d]));
    return before;
  }

  private index(lease: LeaseView): void {
    for (const { node } of lease.status.allocations ?? []) {
      const set = this.leasesOnNode.get(node) ?? new Set<LeaseView>();
      set.add(lease);
      this.leasesOnNode.set(node, set);
    }
  }

  private unindex(lease: LeaseView): void {
    for (const { node } of lease.status.allocations ?? []) this.leasesOnNode.get(node)?.delete(lease);
  }

  private reindex(leases: readonly LeaseView[]): void {
    this.leasesOnNode.clear();
    for (const lease of leases) this.index(lease);
  }

  private rereadNodes(accounts: ReadonlyMap<string, NodeAccount>): void {
    this.readings.clear();
    for (const [name, account] of accounts) this.readings.set(name, readNode(account));
  }

  private leaseChanges(
    { gone, came }: { gone: readonly LeaseView[]; came: readonly LeaseView[] },
    dirty: Set<string>,
  ): void {
    for (const lease of gone) {
      this.unindex(lease);
      this.wakeOf.delete(lease.uid);
    }
    for (const lease of came) {
      this.index(lease);
      dirty.add(lease.uid);
    }
  }

  private podChanges(
    was: readonly PodView[],
    now: readonly PodView[],
    leaseByKey: ReadonlyMap<string, LeaseView>,
    dirty: Set<string>,
  ): void {
    if (was === now) return;
    const { gone, came } = arrayChanges(was, now, (p) => p.uid);
    for (const pod of [...gone, ...came]) {
      const lease = pod.lease === undefined ? undefined : leaseByKey.get(`${pod.namespace}/${pod.lease}`);
      if (lease) dirty.add(lease.uid);
    }
  }

  private nodeChanges(accounts: ReadonlyMap<string, NodeAccount>, dirty: Set<string>): void {
    const changed: string[] = [];
    for (const [name, account] of accounts) {
      const read = this.readings.get(name);
      if (read === undefined || !readsSame(read, account)) {
        changed.push(name);
        this.readings.set(name, readNode(account));
      }
    }
    if (this.readings.size > accounts.size) {
      for (const name of this.readings.keys()) {
        if (accounts.has(name)) continue;
        this.readings.delete(name);
        changed.push(name);
      }
    }
    for (const name of changed) for (const lease of this.leasesOnNode.get(name) ?? []) dirty.add(lease.uid);
  }

  private pushWake(wake: { at: number; uid: string }): void {
    const heap = this.wakes;
    heap.push(wake);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as { at: number }).at <= wake.at) break;
      heap[i] = heap[parent] as { at: number; uid: string };
      i = parent;
    }
    heap[i] = wake;
  }

  private popWake(): { at: number; uid: string } {
    const heap = this.wakes;
    const top = heap[0] as { at: number; uid: string };
    const last = heap.pop() as { at: number; uid: string };
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child =
          right < heap.length && (heap[right] as { at: number }).at < (heap[left] as { at: number }).at
            ? right
            : left;
        if ((heap[child] as { at: number }).at >= last.at) break;
        heap[i] = heap[child] as { at: number; uid: string };
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

/**
 * The items of `was` not in `now` as the same object (`gone`) and those of `now` not in `was`
 * (`came`), walking both in step: an item replaced in place is gone and came; an item out of step
 * is taken as gone and come again, which only marks more.
 */
export function arrayChanges<T>(
  was: readonly T[],
  now: readonly T[],
  id: (item: T) => string,
): { gone: T[]; came: T[] } {
  const gone: T[] = [];
  const came: T[] = [];
  let i = 0;
  let j = 0;
  while (i < was.length && j < now.length) {
    const a = was[i] as T;
    const b = now[j] as T;
    if (a === b) {
      i++;
      j++;
    } else if (id(a) === id(b)) {
      gone.push(a);
      came.push(b);
      i++;
      j++;
    } else {
      gone.push(a);
      i++;
    }
  }
  for (; i < was.length; i++) gone.push(was[i] as T);
  for (; j < now.length; j++) came.push(now[j] as T);
  return { gone, came };
}

function decisionChanges(
  was: Map<LeaseView, AdmissionDecision>,
  now: Map<LeaseView, AdmissionDecision>,
  dirty: Set<string>,
): void {
  if (was === now) return;
  let matched = 0;
  for (const [lease, decision] of now) {
    const before = was.get(lease);
    if (before !== undefined) matched += 1;
    // A decision the lease's plan cannot tell from the last one (a wait for the same reason) leaves it.
    if (!sameDecision(before, decision)) dirty.add(lease.uid);
  }
  if (matched < was.size) for (const lease of was.keys()) if (!now.has(lease)) dirty.add(lease.uid);
}

/** Whether some pod's bind backoff started or ended between the last pass and this one. */
function backoffVerdictsDiffer(was: WalkMemory, snapshot: ClusterSnapshot): boolean {
  const before = was.bindBackoff;
  const after = snapshot.bindBackoff;
  const inBackoff = (map: ClusterSnapshot["bindBackoff"], uid: string, at: number) =>
    (map?.get(uid)?.until ?? 0) > at;
  for (const uid of before?.keys() ?? [])
    if (inBackoff(before, uid, was.now) !== inBackoff(after, uid, snapshot.now)) return true;
  for (const uid of after?.keys() ?? [])
    if (inBackoff(before, uid, was.now) !== inBackoff(after, uid, snapshot.now)) return true;
  return false;
}

/**
 * Decisions a lease's plan cannot tell apart: the same object (admission reused it), or a wait or a
 * rejection for the same reason with the same message (planLease reads nothing else of them).
 */
export function sameDecision(a: AdmissionDecision | undefined, b: AdmissionDecision | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.kind !== b.kind) return false;
  if (a.kind === "admit" || b.kind === "admit") return false;
  return a.refusal.reason === b.refusal.reason && a.refusal.message === b.refusal.message;
}

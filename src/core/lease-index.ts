/**
 * Every lease by `namespace/name`, and the UIDs of the leases and vanished leases: what several stages
 * look leases up in. The reference builds it once per plan; the incremental planner keeps one and
 * applies each pass's lease changes to it, so no pass walks every lease to build it.
 */
import type { ClusterSnapshot, LeaseView } from "./model.ts";

/** What a plan looks leases up in (see PlanContext). */
export interface LeaseLookup {
  byKey: ReadonlyMap<string, LeaseView>;
  /** UIDs of the snapshot's leases and vanished leases: a lease that still exists, for the ledger. */
  liveUids: { has(uid: string): boolean };
  /**
   * Changes whenever the set of lease UIDs does (a kept index only; the vanished leases are not
   * counted): what reads only `liveUids` and the same vanished leases may be kept while it holds.
   */
  uidsVersion?: number;
}

const keyOf = (lease: LeaseView) => `${lease.namespace}/${lease.name}`;

function vanishedUids(snapshot: ClusterSnapshot): Set<string> {
  return new Set((snapshot.vanishedLeases ?? []).map((v) => v.lease.uid));
}

/** The lookup of one snapshot, built from scratch. */
export function leaseLookup(snapshot: ClusterSnapshot): LeaseLookup {
  const byKey = new Map(snapshot.leases.map((l) => [keyOf(l), l]));
  const uids = new Set(snapshot.leases.map((l) => l.uid));
  const vanished = vanishedUids(snapshot);
  return { byKey, liveUids: { has: (uid) => uids.has(uid) || vanished.has(uid) } };
}

/** A lookup kept from pass to pass: `rebuild` from a snapshot, then `apply` each pass's changes. */
export class LeaseIndex {
  private readonly byKey = new Map<string, LeaseView>();
  private readonly uids = new Set<string>();
  private uidsVersion = 0;

  rebuild(leases: readonly LeaseView[]): void {
    this.byKey.clear();
    this.uids.clear();
    for (const lease of leases) this.add(lease);
    this.uidsVersion += 1;
  }

  /**
   * `gone`: leases no longer in the snapshot as these objects; `came`: those new in it. All of gone
   * goes before any of came is added, so a lease changed or created again under its name stays.
   */
  apply(changes: { gone: readonly LeaseView[]; came: readonly LeaseView[] }): void {
    const before = this.uids.size;
    let uidsChanged = false;
    for (const lease of changes.gone) {
      this.byKey.delete(keyOf(lease));
      this.uids.delete(lease.uid);
    }
    for (const lease of changes.came) this.add(lease);
    // An update takes a UID out and puts it back: only a UID gone for good or new is a change.
    if (this.uids.size !== before) uidsChanged = true;
    else {
      const came = new Set(changes.came.map((l) => l.uid));
      uidsChanged = changes.gone.some((l) => !came.has(l.uid));
    }
    if (uidsChanged) this.uidsVersion += 1;
  }

  /** The lookup for a snapshot whose leases this index holds. */
  lookup(snapshot: ClusterSnapshot): LeaseLookup {
    const vanished = vanishedUids(snapshot);
    return {
      byKey: this.byKey,
      liveUids: { has: (uid) => this.uids.has(uid) || vanished.has(uid) },
      uidsVersion: this.uidsVersion,
    };
  }

  private add(lease: LeaseView): void {
    this.byKey.set(keyOf(lease), lease);
    this.uids.add(lease.uid);
  }
}

/**
 * The incremental planner: `planCluster` with memory of its previous pass. It plans again only what an
 * event touched and reuses the rest:
 *
 * - a lease's plan, while the lease, its quota, its pods, its nodes' accounts, its admission decision
 *   (or a wait for the same reason) and its AtRisk mark are the same objects and values, the plan
 *   changed nothing (same status, no Event, eviction or notice) and its `wakeAt` has not come;
 * - admission's decisions, while node accounts, quotas, namespaces and every lease that is not pending
 *   are unchanged, no internal demand waits and the previous admission admitted nothing. New pending
 *   leases are then decided alone; should one of them be admitted, everything is admitted again. This
 *   is exact because, when nothing is admitted, each lease's decision depends only on its own shape,
 *   its tenant's usage and the free capacity (see admission.ts);
 * - a tenant's status, while its quota and its leases' planned statuses are the same objects and the
 *   status changed nothing.
 *
 * "Unchanged" is object identity: the snapshot builder hands the same view for an object whose
 * resourceVersion did not change, so an event dirties exactly the objects it touched. The reference
 * (`planCluster` without memory) stays the definition: a property test drives random event sequences
 * through both and asserts equal plans after every step, and the operator can run the reference beside
 * it in production (`planDivergence`).
 */
import { isDeepStrictEqual } from "node:util";
import type { TenantQuotaStatus } from "../api/index.ts";
import type { NodeAccount } from "./accounting.ts";
import { type AdmissionDecision, type AdmissionResult, isPending } from "./admission.ts";
import type { DemandGroup } from "./demand.ts";
import { sameJson } from "./equality.ts";
import {
  arrayChanges,
  LeaseDirtySet,
  type NodeReading,
  readNode,
  readsSame,
  sameDecision,
} from "./lease-dirty-set.ts";
import { LeaseIndex, type LeaseLookup } from "./lease-index.ts";
import type { LeasePlan } from "./lease-lifecycle.ts";
import type { LeaseRecord } from "./lease-records.ts";
import type { ClusterSnapshot, LeaseView, NamespaceView, NodeView, QuotaView } from "./model.ts";
import type { PlanContext } from "./plan-context.ts";
import type { LeaseInputs, LeaseSources, PlanReuse, TenantInputs } from "./plan-reuse.ts";
import { type ClusterPlan, planCluster } from "./planner.ts";
import { foldedUids } from "./quota-status.ts";
import type { DesiredResourceQuota } from "./resource-quotas.ts";

/** What one pass reused, for metrics and the bench. */
export interface ReuseStats {
  leasePlansReused: number;
  /** Of the reused: kept without a look at their inputs (none of them changed since the last pass). */
  leasePlansUnlooked: number;
  leasePlansComputed: number;
  /** `reused`: previous decisions kept; `delta`: only new pending leases decided; `full`: all decided. */
  admission: "reused" | "delta" | "full";
  tenantStatusesReused: number;
  tenantStatusesComputed: number;
}

interface LeaseEntry {
  /** The last pass that reused or stored it. */
  pass: number;
  /** What the plan was made from, less the pass's node accounts (their marks stand for them). */
  inputs: Omit<LeaseInputs, "accounts">;
  settings: ClusterSnapshot["settings"];
  /** What its plan read of each allocation node's account, in allocation order. */
  marks: NodeReading[];
  plannedAt: number;
  plan: LeasePlan;
}

interface TenantEntry {
  /** Not the pass's set of live UIDs: an entry kept for many passes would hold it alive. */
  inputs: Omit<TenantInputs, "liveUids">;
  namespaces: readonly NamespaceView[];
  plannedAt: number;
  status: TenantQuotaStatus;
}

/** A copy of what admission reads of one node account (accounts are rebuilt every pass). */
interface AccountCopy {
  node: NodeView;
  state: NodeAccount["state"];
  resourceName: string | undefined;
  capacity: number;
  free: number;
  internalUsed: number;
  strayTenantUsed: number;
  internalBusy: boolean;
  leaseHeld: Map<string, number>;
}

/** The leases that went (or changed: their old objects) and came (or changed: their new objects). */
interface LeaseChanges {
  since: readonly LeaseView[];
  gone: LeaseView[];
  came: LeaseView[];
}

interface VanishedRecordsEntry {
  quota: QuotaView;
  uidsVersion: number;
  vanished: ClusterSnapshot["vanishedLeases"];
  unreadable: readonly string[];
  records: LeaseRecord[];
}

interface AdmissionEntry {
  settings: ClusterSnapshot["settings"];
  plannedAt: number;
  namespaces: readonly NamespaceView[];
  quotas: readonly QuotaView[];
  /** The leases of the pass it was made or last reused in (the changes since are read from there). */
  leases: readonly LeaseView[];
  /** The pending leases, by uid, kept up to date from the changes. */
  pending: Map<string, LeaseView>;
  accounts: AccountCopy[];
  result: AdmissionResult;
}

export class IncrementalPlanner implements PlanReuse {
  /** By lease uid; an entry this pass used or stored carries this pass's number, the rest go after it. */
  private readonly leases = new Map<string, LeaseEntry>();
  private pass = 0;
  private leasesTouched = 0;
  private tenants = new Map<string, TenantEntry>();
  private nextTenants = new Map<string, TenantEntry>();
  private admissionEntry: AdmissionEntry | undefined;
  private readonly dirtySet = new LeaseDirtySet();
  private readonly leaseIndex = new LeaseIndex();
  /** Each quota's unwatched vanished records and what they were read from; the next pass's are built anew. */
  private vanishedRecords = new Map<string, VanishedRecordsEntry>();
  private nextVanishedRecords = new Map<string, VanishedRecordsEntry>();
  private quotaEntry:
    | {
        nodes: ClusterSnapshot["nodes"];
        namespaces: ClusterSnapshot["namespaces"];
        settings: ClusterSnapshot["settings"];
        holding: readonly LeasePlan[];
        desired: DesiredResourceQuota[];
      }
    | undefined;
  /** The leases of the last pass, and what changed in them since (undefined: planned from nothing). */
  private lastLeases: readonly LeaseView[] | undefined;
  private leaseChanges: LeaseChanges | undefined;
  /** Plans kept as entries: each is handed back only for the lease object it was made for. */
  private readonly keptPlans = new WeakSet<LeasePlan>();
  /** The last pass's lease plans, in its snapshot's order, and whether it looked at every lease. */
  private lastPlans: LeasePlan[] = [];
  private walkedAll = true;
  /** How this pass's admission decisions differ from the last pass's (undefined: not known). */
  private decisionDelta: { made: AdmissionDecision[]; goneLeases: LeaseView[] } | undefined;
  private stats: ReuseStats = IncrementalPlanner.emptyStats();

  private static emptyStats(): ReuseStats {
    return {
      leasePlansReused: 0,
      leasePlansUnlooked: 0,
      leasePlansComputed: 0,
      admission: "full",
      tenantStatusesReused: 0,
      tenantStatusesComputed: 0,
    };
  }

  /** The plan `planCluster(snapshot)` gives, reusing what the snapshot's changes did not touch. */
  plan(snapshot: ClusterSnapshot): ClusterPlan {
    this.stats = IncrementalPlanner.emptyStats();
    this.pass += 1;
    this.leasesTouched = 0;
    this.nextTenants = new Map();
    this.nextVanishedRecords = new Map();
    this.leaseChanges =
      this.lastLeases === undefined
        ? undefined
        : { since: this.lastLeases, ...arrayChanges(this.lastLeases, snapshot.leases, (l) => l.uid) };
    this.lastLeases = snapshot.leases;
    if (this.leaseChanges) this.leaseIndex.apply(this.leaseChanges);
    else this.leaseIndex.rebuild(snapshot.leases);
    const plan = planCluster(snapshot, this);
    if (this.walkedAll) {
      // Every lease was looked at: an entry not used this pass is of a lease gone or planned anew.
      if (this.leases.size > this.leasesTouched)
        for (const [uid, entry] of this.leases) if (entry.pass !== this.pass) this.leases.delete(uid);
    } else if (this.leaseChanges) {
      const stayed = new Set(this.leaseChanges.came.map((l) => l.uid));
      for (const lease of this.leaseChanges.gone) if (!stayed.has(lease.uid)) this.leases.delete(lease.uid);
    }
    this.tenants = this.nextTenants;
    this.vanishedRecords = this.nextVanishedRecords;
    return plan;
  }

  /** What the last pass reused. */
  lastStats(): ReuseStats {
    return this.stats;
  }

  /** Forgets everything: the next pass plans from scratch. */
  reset(): void {
    this.leases.clear();
    this.tenants.clear();
    this.admissionEntry = undefined;
    this.dirtySet.reset();
    this.lastLeases = undefined;
    this.leaseChanges = undefined;
    this.lastPlans = [];
    this.quotaEntry = undefined;
    this.vanishedRecords.clear();
  }

  resourceQuotas(
    snapshot: ClusterSnapshot,
    holding: readonly LeasePlan[],
    compute: (only?: ReadonlySet<string>) => DesiredResourceQuota[],
  ): DesiredResourceQuota[] {
    const was = this.quotaEntry;
    // The limits are sums over the holding leases' plans and the nodes they are allocated on: with the
    // same nodes, only the namespaces of plans that came or went are summed again.
    let desired: DesiredResourceQuota[];
    if (
      was !== undefined &&
      was.nodes === snapshot.nodes &&
      was.namespaces === snapshot.namespaces &&
      was.settings === snapshot.settings
    ) {
      if (sameItems(was.holding, holding)) return was.desired;
      // By identity, not in step: a lease admitted mid-array would shift every plan after it.
      const before = new Set(was.holding);
      const after = new Set(holding);
      const touched = new Set<string>();
      for (const plan of holding) if (!before.has(plan)) touched.add(plan.lease.namespace);
      for (const plan of was.holding) if (!after.has(plan)) touched.add(plan.lease.namespace);
      const fresh = new Map(compute(touched).map((q) => [q.namespace, q]));
      desired = was.desired.map((q) => fresh.get(q.namespace) ?? q);
    } else {
      desired = compute();
    }
    this.quotaEntry = {
      nodes: snapshot.nodes,
      namespaces: snapshot.namespaces,
      settings: snapshot.settings,
      holding,
      desired,
    };
    return desired;
  }

  unwatchedVanished(ctx: PlanContext, quota: QuotaView, compute: () => LeaseRecord[]): LeaseRecord[] {
    const { snapshot } = ctx;
    const version = ctx.leases.uidsVersion;
    const unreadable = snapshot.unreadableLeases ?? [];
    const was = this.vanishedRecords.get(quota.name);
    if (
      was !== undefined &&
      version !== undefined &&
      was.quota === quota &&
      was.uidsVersion === version &&
      was.vanished === snapshot.vanishedLeases &&
      sameItems(was.unreadable, unreadable)
    ) {
      this.nextVanishedRecords.set(quota.name, was);
      return was.records;
    }
    const records = compute();
    if (version !== undefined) {
      this.nextVanishedRecords.set(quota.name, {
        quota,
        uidsVersion: version,
        vanished: snapshot.vanishedLeases,
        unreadable,
        records,
      });
    }
    return records;
  }

  leaseLookup(snapshot: ClusterSnapshot): LeaseLookup {
    return this.leaseIndex.lookup(snapshot);
  }

  leasePlans(
    ctx: PlanContext,
    sources: LeaseSources,
    planOne: (lease: LeaseView, decision: AdmissionDecision | undefined) => LeasePlan,
  ): LeasePlan[] {
    const walk = {
      snapshot: ctx.snapshot,
      leaseByKey: ctx.leases.byKey,
      accounts: ctx.accounts,
      decisions: sources.admission.decisions,
      ...(this.decisionDelta ? { decisionDelta: this.decisionDelta } : {}),
      ...(this.leaseChanges ? { leaseChanges: this.leaseChanges } : {}),
      hits: new Set(sources.hits.keys()),
      atRisk: sources.atRisk,
    };
    const dirty = this.dirtySet.dirty(walk);
    this.walkedAll = dirty === undefined;
    const looked: { uid: string; kept: boolean; wakeAt: number | undefined }[] = [];
    // A clean lease is the very object of the last pass, in the same relative order: its plan is
    // found by walking the last pass's leases in step (a Map lookup per lease costs more).
    const before = this.lastPlans;
    let at = 0;
    const plans = ctx.snapshot.leases.map((lease) => {
      if (dirty && !dirty.has(lease.uid)) {
        while (at < before.length && (before[at] as LeasePlan).lease !== lease) at++;
        const plan = before[at];
        if (plan !== undefined && this.keptPlans.has(plan)) {
          at++;
          this.stats.leasePlansReused += 1;
          this.stats.leasePlansUnlooked += 1;
          return plan;
        }
        at = 0;
      }
      const plan = planOne(lease, this.dirtySet.decisionFor(lease));
      const kept = this.leases.get(lease.uid)?.plan === plan;
      looked.push({ uid: lease.uid, kept, wakeAt: plan.wakeAt });
      return plan;
    });
    this.dirtySet.remember(walk, looked);
    this.lastPlans = plans;
    return plans;
  }

  leasePlan(ctx: PlanContext, inputs: LeaseInputs, compute: (inputs: LeaseInputs) => LeasePlan): LeasePlan {
    const { snapshot } = ctx;
    const previous = this.leases.get(inputs.lease.uid);
    if (previous && this.leaseStillHolds(previous, inputs, ctx)) {
      this.stats.leasePlansReused += 1;
      this.leasesTouched += 1;
      previous.pass = this.pass;
      return previous.plan;
    }
    this.stats.leasePlansComputed += 1;
    const plan = compute(inputs);
    // Only a plan that changes nothing is kept: one that writes or tells is planned again next pass,
    // as its writes (or their failure) change its inputs anyway.
    if (
      plan.events.length === 0 &&
      plan.evict.length === 0 &&
      plan.notify.length === 0 &&
      !plan.noticeGiven &&
      !plan.retire &&
      sameJson(plan.status, inputs.lease.status)
    ) {
      this.leasesTouched += 1;
      this.keptPlans.add(plan);
      this.leases.set(inputs.lease.uid, {
        pass: this.pass,
        // Not the accounts: an entry kept for many passes would hold that pass's accounts alive.
        inputs: {
          lease: inputs.lease,
          quota: inputs.quota,
          pods: inputs.pods,
          decision: inputs.decision,
          reclaimHit: inputs.reclaimHit,
          atRisk: inputs.atRisk,
        },
        settings: snapshot.settings,
        marks: nodeMarks(inputs.lease, ctx.accounts),
        plannedAt: snapshot.now,
        plan,
      });
    }
    return plan;
  }

  statusUnchanged(plan: LeasePlan): boolean | undefined {
    // A kept plan is handed back only for the very lease object it was made for, whose status it equals.
    return this.keptPlans.has(plan) ? true : undefined;
  }

  private leaseStillHolds(entry: LeaseEntry, inputs: LeaseInputs, ctx: PlanContext): boolean {
    const was = entry.inputs;
    const { now, settings } = ctx.snapshot;
    return (
      was.lease === inputs.lease &&
      was.quota === inputs.quota &&
      entry.settings === settings &&
      sameDecision(was.decision, inputs.decision) &&
      was.reclaimHit === undefined &&
      inputs.reclaimHit === undefined &&
      was.atRisk === inputs.atRisk &&
      now >= entry.plannedAt &&
      (entry.plan.wakeAt === undefined || now < entry.plan.wakeAt) &&
      // Without a metering interval, usage is metered up to the instant itself: it changes with time.
      (settings.meteringIntervalMs > 0 || now === entry.plannedAt) &&
      sameItems(was.pods, inputs.pods) &&
      marksHold(entry.marks, inputs.lease, ctx.accounts)
    );
  }

  tenantStatus(
    ctx: PlanContext,
    inputs: TenantInputs,
    compute: () => TenantQuotaStatus,
  ): { status: TenantQuotaStatus; changed: boolean } {
    const { snapshot } = ctx;
    const previous = this.tenants.get(inputs.quota.name);
    if (
      previous &&
      previous.inputs.quota === inputs.quota &&
      sameItems(previous.namespaces, snapshot.namespaces) &&
      snapshot.now >= previous.plannedAt &&
      inputs.retiring.length === 0 &&
      previous.inputs.retiring.length === 0 &&
      sameItems(previous.inputs.carried, inputs.carried) &&
      sameLeaseStatuses(previous.inputs.leases, inputs.leases) &&
      // The kept status left every folded UID in the ledger: it holds while their leases all exist.
      // (Redundant so far: a folded lease that goes also leaves the tenant's lease list above.)
      [...foldedUids(inputs.quota)].every((uid) => inputs.liveUids.has(uid))
    ) {
      this.stats.tenantStatusesReused += 1;
      this.nextTenants.set(inputs.quota.name, previous);
      return { status: previous.status, changed: false };
    }
    this.stats.tenantStatusesComputed += 1;
    const status = compute();
    const changed = !sameJson(status, inputs.quota.status);
    if (!changed) {
      this.nextTenants.set(inputs.quota.name, {
        inputs: {
          quota: inputs.quota,
          leases: inputs.leases,
          retiring: inputs.retiring,
          carried: inputs.carried,
        },
        namespaces: snapshot.namespaces,
        plannedAt: snapshot.now,
        status,
      });
    }
    return { status, changed };
  }

  admission(
    ctx: PlanContext,
    waitingDemand: readonly DemandGroup[],
    run: (snapshot: ClusterSnapshot, accounts: Map<string, NodeAccount>) => AdmissionResult,
  ): AdmissionResult {
    const { snapshot } = ctx;
    // Only a pass without waiting demand is kept or compared (waiting demand changes what may be lent).
    const accounts = waitingDemand.length === 0 ? copyAccounts(ctx.accounts) : [];
    this.decisionDelta = undefined;
    const full = (): AdmissionResult => {
      this.stats.admission = "full";
      this.decisionDelta = undefined;
      const result = run(snapshot, ctx.accounts);
      this.admissionEntry =
        waitingDemand.length === 0 &&
        result.lend.length === 0 &&
        result.decisions.every((d) => d.kind !== "admit")
          ? {
              settings: snapshot.settings,
              plannedAt: snapshot.now,
              namespaces: snapshot.namespaces,
              quotas: snapshot.quotas,
              leases: snapshot.leases,
              pending: new Map(snapshot.leases.filter(isPending).map((l) => [l.uid, l])),
              accounts,
              result,
            }
          : undefined;
      return result;
    };
    const previous = this.admissionEntry;
    const changes = this.leaseChanges;
    if (
      !previous ||
      changes === undefined ||
      previous.leases !== changes.since ||
      waitingDemand.length > 0 ||
      previous.settings !== snapshot.settings ||
      snapshot.now < previous.plannedAt ||
      (previous.result.wakeAt !== undefined && snapshot.now >= previous.result.wakeAt) ||
      !sameItems(previous.namespaces, snapshot.namespaces) ||
      !sameItems(previous.quotas, snapshot.quotas) ||
      // Implied by the accounts in all but odd cases (a lease's usage moved between limits); cheap.
      heldLeasesChanged(changes) ||
      !sameAccounts(previous.accounts, accounts)
    ) {
      return full();
    }
    // The pending leases, kept up to date from the changes.
    const pending = previous.pending;
    const goneLeases: LeaseView[] = [];
    for (const lease of changes.gone) {
      if (isPending(lease) && pending.get(lease.uid) === lease) {
        pending.delete(lease.uid);
        goneLeases.push(lease);
      }
    }
    const pendingGone = goneLeases.length > 0;
    const added = changes.came.filter(isPending);
    for (const lease of added) pending.set(lease.uid, lease);
    // The same array while no pending lease went: the lease walk then reads no decision again.
    const kept = pendingGone
      ? previous.result.decisions.filter((d) => pending.get(d.lease.uid) === d.lease)
      : previous.result.decisions;
    let decisions = kept;
    let made: AdmissionDecision[] = [];
    if (added.length > 0) {
      // Decided alone, on a copy of the accounts: an admission would change the others' decisions.
      const held = snapshot.leases.filter((lease) => !isPending(lease));
      const alone = run({ ...snapshot, leases: [...held, ...added] }, cloneAccounts(ctx.accounts));
      if (alone.lend.length > 0 || alone.decisions.some((d) => d.kind === "admit")) return full();
      decisions = [...kept, ...alone.decisions];
      made = alone.decisions;
      this.stats.admission = "delta";
    } else {
      this.stats.admission = "reused";
    }
    this.decisionDelta = { made, goneLeases };
    const result: AdmissionResult = { decisions, lend: [], wakeAt: previous.result.wakeAt };
    this.admissionEntry = { ...previous, leases: snapshot.leases, plannedAt: snapshot.now, result };
    return result;
  }
}

/**
 * Whether a lease admission counts as usage (one not pending) came, went or changed in what admission
 * reads of it: its phase, allocations and spec. A status write that only meters usage changes nothing.
 */
function heldLeasesChanged(changes: LeaseChanges): boolean {
  const before = new Map<string, LeaseView>();
  for (const lease of changes.gone) if (!isPending(lease)) before.set(lease.uid, lease);
  let matched = 0;
  for (const lease of changes.came) {
    if (isPending(lease)) continue;
    const was = before.get(lease.uid);
    if (
      was === undefined ||
      was.namespace !== lease.namespace ||
      was.deleting !== lease.deleting ||
      was.status.phase !== lease.status.phase ||
      !sameJson(was.spec, lease.spec) ||
      !sameJson(was.status.allocations, lease.status.allocations)
    )
      return true;
    matched += 1;
  }
  return matched < before.size;
}

/**
 * The first part of the plans that differs (undefined: they are the same plan). Admission decisions
 * are compared as a set: their order is only the order admission happened to meet the leases in,
 * and nothing the operator writes depends on it.
 */
export function planDivergence(
  incremental: ClusterPlan,
  reference: ClusterPlan,
): keyof ClusterPlan | undefined {
  const keys = new Set([...Object.keys(incremental), ...Object.keys(reference)] as (keyof ClusterPlan)[]);
  for (const key of keys) {
    const same =
      key === "decisions"
        ? isDeepStrictEqual(byLease(incremental.decisions), byLease(reference.decisions))
        : isDeepStrictEqual(incremental[key], reference[key]);
    if (!same) return key;
  }
  return undefined;
}

function byLease(decisions: ClusterPlan["decisions"]): ClusterPlan["decisions"] {
  return [...decisions].sort((a, b) => (a.lease.uid < b.lease.uid ? -1 : a.lease.uid > b.lease.uid ? 1 : 0));
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameLeaseStatuses(a: TenantInputs["leases"], b: TenantInputs["leases"]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as TenantInputs["leases"][number];
    const y = b[i] as TenantInputs["leases"][number];
    if (x.lease !== y.lease || x.status !== y.status) return false;
  }
  return true;
}

function nodeMarks(lease: LeaseView, accounts: Map<string, NodeAccount>): NodeReading[] {
  return (lease.status.allocations ?? []).map(({ node }) => readNode(accounts.get(node)));
}

/** Whether the lease's allocation nodes' accounts still read as `marks` recorded. */
function marksHold(marks: NodeReading[], lease: LeaseView, accounts: Map<string, NodeAccount>): boolean {
  const allocations = lease.status.allocations ?? [];
  if (allocations.length !== marks.length) return false;
  return marks.every((mark, i) => readsSame(mark, accounts.get((allocations[i] as { node: string }).node)));
}

function copyAccounts(accounts: Map<string, NodeAccount>): AccountCopy[] {
  const out: AccountCopy[] = [];
  for (const a of accounts.values()) {
    out.push({
      node: a.node,
      state: a.state,
      resourceName: a.resourceName,
      capacity: a.capacity,
      free: a.free,
      internalUsed: a.internalUsed,
      strayTenantUsed: a.strayTenantUsed,
      internalBusy: a.internalBusy,
      leaseHeld: a.leaseHeld,
    });
  }
  return out;
}

function cloneAccounts(accounts: Map<string, NodeAccount>): Map<string, NodeAccount> {
  const out = new Map<string, NodeAccount>();
  for (const [name, a] of accounts) out.set(name, { ...a, leaseHeld: new Map(a.leaseHeld) });
  return out;
}

function sameAccounts(a: AccountCopy[], b: AccountCopy[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as AccountCopy;
    const y = b[i] as AccountCopy;
    if (
      x.node !== y.node ||
      x.state !== y.state ||
      x.resourceName !== y.resourceName ||
      x.capacity !== y.capacity ||
      x.free !== y.free ||
      x.internalUsed !== y.internalUsed ||
      x.strayTenantUsed !== y.strayTenantUsed ||
      x.internalBusy !== y.internalBusy ||
      !sameCounts(x.leaseHeld, y.leaseHeld)
    )
      return false;
  }
  return true;
}

function sameCounts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

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
import type { LeasePlan } from "./lease-lifecycle.ts";
import type { ClusterSnapshot, LeaseView, NamespaceView, NodeView, QuotaView } from "./model.ts";
import type { PlanContext } from "./plan-context.ts";
import type { LeaseInputs, PlanReuse, TenantInputs } from "./plan-reuse.ts";
import { type ClusterPlan, planCluster } from "./planner.ts";
import { foldedUids } from "./quota-status.ts";

/** What one pass reused, for metrics and the bench. */
export interface ReuseStats {
  leasePlansReused: number;
  leasePlansComputed: number;
  /** `reused`: previous decisions kept; `delta`: only new pending leases decided; `full`: all decided. */
  admission: "reused" | "delta" | "full";
  tenantStatusesReused: number;
  tenantStatusesComputed: number;
}

/** What a lease's plan read of one allocation node's account. */
interface NodeMark {
  node: NodeView | undefined;
  state: NodeAccount["state"] | undefined;
  capacity: number;
  internalUsed: number;
}

interface LeaseEntry {
  /** The last pass that reused or stored it. */
  pass: number;
  /** What the plan was made from, less the pass's node accounts (their marks stand for them). */
  inputs: Omit<LeaseInputs, "accounts">;
  settings: ClusterSnapshot["settings"];
  marks: NodeMark[];
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

interface AdmissionEntry {
  settings: ClusterSnapshot["settings"];
  plannedAt: number;
  namespaces: readonly NamespaceView[];
  quotas: readonly QuotaView[];
  /** Leases that are not pending, in snapshot order: their allocations are the tenants' usage. */
  held: LeaseView[];
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
  private stats: ReuseStats = IncrementalPlanner.emptyStats();

  private static emptyStats(): ReuseStats {
    return {
      leasePlansReused: 0,
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
    const plan = planCluster(snapshot, this);
    if (this.leases.size > this.leasesTouched)
      for (const [uid, entry] of this.leases) if (entry.pass !== this.pass) this.leases.delete(uid);
    this.tenants = this.nextTenants;
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
    const entry = this.leases.get(plan.lease.uid);
    return entry !== undefined && entry.pass === this.pass && entry.plan === plan ? true : undefined;
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
    const held: LeaseView[] = [];
    const pending = new Map<string, LeaseView>();
    for (const lease of snapshot.leases) {
      if (isPending(lease)) pending.set(lease.uid, lease);
      else held.push(lease);
    }
    // Only a pass without waiting demand is kept or compared (waiting demand changes what may be lent).
    const accounts = waitingDemand.length === 0 ? copyAccounts(ctx.accounts) : [];
    const full = (): AdmissionResult => {
      this.stats.admission = "full";
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
              held,
              pending,
              accounts,
              result,
            }
          : undefined;
      return result;
    };
    const previous = this.admissionEntry;
    if (
      !previous ||
      waitingDemand.length > 0 ||
      previous.settings !== snapshot.settings ||
      snapshot.now < previous.plannedAt ||
      (previous.result.wakeAt !== undefined && snapshot.now >= previous.result.wakeAt) ||
      !sameItems(previous.namespaces, snapshot.namespaces) ||
      !sameItems(previous.quotas, snapshot.quotas) ||
      // Implied by the accounts in all but odd cases (a lease's usage moved between limits); cheap.
      !sameItems(previous.held, held) ||
      !sameAccounts(previous.accounts, accounts)
    ) {
      return full();
    }
    const added = [...pending.values()].filter((lease) => previous.pending.get(lease.uid) !== lease);
    const kept = previous.result.decisions.filter((d) => pending.get(d.lease.uid) === d.lease);
    let decisions = kept;
    if (added.length > 0) {
      // Decided alone, on a copy of the accounts: an admission would change the others' decisions.
      const alone = run({ ...snapshot, leases: [...held, ...added] }, cloneAccounts(ctx.accounts));
      if (alone.lend.length > 0 || alone.decisions.some((d) => d.kind === "admit")) return full();
      decisions = [...kept, ...alone.decisions];
      this.stats.admission = "delta";
    } else {
      this.stats.admission = "reused";
    }
    const result: AdmissionResult = { decisions, lend: [], wakeAt: previous.result.wakeAt };
    this.admissionEntry = { ...previous, pending, held, plannedAt: snapshot.now, result };
    return result;
  }
}

/**
 * Decisions a lease's plan cannot tell apart: the same object (admission reused it), or a wait or a
 * rejection for the same reason with the same message (planLease reads nothing else of them).
 */
function sameDecision(a: AdmissionDecision | undefined, b: AdmissionDecision | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.kind !== b.kind) return false;
  if (a.kind === "admit" || b.kind === "admit") return false;
  return a.refusal.reason === b.refusal.reason && a.refusal.message === b.refusal.message;
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

function nodeMarks(lease: LeaseView, accounts: Map<string, NodeAccount>): NodeMark[] {
  return (lease.status.allocations ?? []).map(({ node }) => {
    const account = accounts.get(node);
    return {
      node: account?.node,
      state: account?.state,
      capacity: account?.capacity ?? 0,
      internalUsed: account?.internalUsed ?? 0,
    };
  });
}

/** Whether the lease's allocation nodes' accounts still read as `marks` recorded. */
function marksHold(marks: NodeMark[], lease: LeaseView, accounts: Map<string, NodeAccount>): boolean {
  const allocations = lease.status.allocations ?? [];
  if (allocations.length !== marks.length) return false;
  for (let i = 0; i < marks.length; i++) {
    const mark = marks[i] as NodeMark;
    const account = accounts.get((allocations[i] as { node: string }).node);
    if (
      mark.node !== account?.node ||
      mark.state !== account?.state ||
      mark.capacity !== (account?.capacity ?? 0) ||
      mark.internalUsed !== (account?.internalUsed ?? 0)
    )
      return false;
  }
  return true;
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

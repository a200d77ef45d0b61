/**
 * The seam through which a caller with memory (the incremental planner) lets `planCluster` reuse the
 * parts of its previous plans whose inputs have not changed. Without it, `planCluster` plans every
 * part from scratch: that is the reference every reuse is checked against.
 */
import type { TenantQuotaStatus } from "../api/index.ts";
import type { NodeAccount } from "./accounting.ts";
import type { AdmissionDecision, AdmissionResult } from "./admission.ts";
import type { DemandGroup } from "./demand.ts";
import type { LeaseLookup } from "./lease-index.ts";
import type { LeaseContext, LeasePlan, ReclaimHit } from "./lease-lifecycle.ts";
import type { LeaseRecord } from "./lease-records.ts";
import type { ClusterSnapshot, LeaseView, PodView, QuotaView } from "./model.ts";
import type { PlanContext } from "./plan-context.ts";
import type { RetiringLease } from "./quota-status.ts";
import type { DesiredResourceQuota } from "./resource-quotas.ts";

/** Everything one lease's plan is a function of (besides the snapshot's time and settings). */
export interface LeaseInputs extends Omit<LeaseContext, "snapshot"> {
  lease: LeaseView;
  atRisk: boolean;
}

/** Everything one tenant's status is a function of (besides the snapshot's time and namespaces). */
export interface TenantInputs {
  quota: QuotaView;
  leases: { lease: LeaseView; status: LeasePlan["status"] }[];
  retiring: RetiringLease[];
  /** UIDs of every lease that still exists (the ledger keeps only those of its folded UIDs). */
  liveUids: LeaseLookup["liveUids"];
  carried: NonNullable<NonNullable<TenantQuotaStatus["ledger"]>["liveLeases"]>;
}

/** What the lease plans of a pass are made from, besides the snapshot and the node accounts. */
export interface LeaseSources {
  podsByLease: Map<string, PodView[]>;
  admission: AdmissionResult;
  hits: Map<string, ReclaimHit>;
  atRisk: Set<string>;
}

export interface PlanReuse {
  /** Leases by key and the UIDs that still exist, kept from pass to pass. */
  leaseLookup(snapshot: ClusterSnapshot): LeaseLookup;
  /**
   * Admission's decisions. `run` admits the pending leases of a snapshot against node accounts (it
   * books what it admits on them); the reuser may run it on part of the pending leases only.
   */
  admission(
    ctx: PlanContext,
    waitingDemand: readonly DemandGroup[],
    run: (snapshot: ClusterSnapshot, accounts: Map<string, NodeAccount>) => AdmissionResult,
  ): AdmissionResult;
  /**
   * Every lease's plan, in the snapshot's order. `planOne` plans one lease (through `leasePlan`); the
   * reuser hands back, without looking at them, the kept plans of leases none of whose inputs changed.
   */
  leasePlans(
    ctx: PlanContext,
    sources: LeaseSources,
    planOne: (lease: LeaseView, decision: AdmissionDecision | undefined) => LeasePlan,
  ): LeasePlan[];
  /** One lease's plan, its AtRisk mark included. */
  leasePlan(ctx: PlanContext, inputs: LeaseInputs, compute: (inputs: LeaseInputs) => LeasePlan): LeasePlan;
  /** Whether the plan's status is known to equal the lease's (undefined: compare them). */
  statusUnchanged(plan: LeasePlan): boolean | undefined;
  /**
   * The ResourceQuotas every tenant namespace should have, from the plans of the leases holding
   * allocations (in the snapshot's order).
   */
  resourceQuotas(
    snapshot: ClusterSnapshot,
    holding: readonly LeasePlan[],
    compute: (only?: ReadonlySet<string>) => DesiredResourceQuota[],
  ): DesiredResourceQuota[];
  /**
   * The records in a quota's ledger of leases gone while no operator watched (lease-records.ts). They
   * read only the quota, the live UIDs (leases and vanished leases) and the unreadable leases.
   */
  unwatchedVanished(ctx: PlanContext, quota: QuotaView, compute: () => LeaseRecord[]): LeaseRecord[];
  /** One tenant's next status and whether it differs from the one it has. */
  tenantStatus(
    ctx: PlanContext,
    inputs: TenantInputs,
    compute: () => TenantQuotaStatus,
  ): { status: TenantQuotaStatus; changed: boolean };
}

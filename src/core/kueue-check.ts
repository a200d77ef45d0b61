/**
 * Kueue's AdmissionCheck `gpulease.io/capacity`: for each Workload whose quota Kueue reserved and
 * that waits on a check of this controller, whether its pods fit internal capacity now (Ready), once
 * lent GPUs come back (Pending, with the reclaim and its deadline in the message), or never (Rejected:
 * not even the whole cluster holds it; Retry: internal work holds what it needs and no reclaim helps).
 *
 * A waiting Workload is internal demand like a Pending Job: its pods (one view per pod it would run,
 * with its ResourceFlavor's node labels and tolerations) go to the same reclaim planner, all pod sets as
 * one group, all-or-nothing. Pure.
 */

import type { GpuLeaseStatus } from "../api/index.ts";
import { type NodeAccount, podHoldsGpus } from "./accounting.ts";
import type { DemandGroup } from "./demand.ts";
import { type ClusterSnapshot, type LeaseView, leaseKey, type PodView } from "./model.ts";
import type { ReclaimDecision } from "./reclaim-planner.ts";
import { type NodeRoom, placeGroup, staticFit } from "./scheduling-fit.ts";

export const KUEUE_CHECK_CONTROLLER = "gpulease.io/capacity";

export type CheckState = "Pending" | "Ready" | "Retry" | "Rejected";

export interface KueueWorkloadView {
  namespace: string;
  name: string;
  uid: string;
  createdAt: number;
  /** The AdmissionCheck of this controller the Workload waits on (its entry in status.admissionChecks). */
  check: string;
  state: CheckState;
  message: string;
  /** One view per pod the Workload would run, with its flavor's node labels and tolerations. */
  pods: PodView[];
  /** When Kueue admitted it (its check Ready): its pods are on their way. */
  admittedAt?: number;
  /** The demand group its real pods will have (`job/<name>` for a Job). */
  jobGroup?: string;
}

export interface KueueSnapshot {
  /**
   * Workloads with quota reserved that carry a check of this controller: not yet admitted, or admitted
   * (with `admittedAt`) and not finished.
   */
  workloads: KueueWorkloadView[];
  /** The AdmissionChecks of this controller, and whether their Active condition is True already. */
  admissionChecks: { name: string; active: boolean }[];
}

/** A check state to write on a Workload (only where it differs from what the Workload shows). */
export interface KueueCheckWrite {
  namespace: string;
  name: string;
  check: string;
  state: CheckState;
  message: string;
  /** Leases whose reclaim notice the message announces: written after their statuses. */
  announces: { namespace: string; name: string }[];
}

export interface KueueCheckPlan {
  checks: KueueCheckWrite[];
  /** AdmissionChecks of this controller whose Active condition is to be set True. */
  activate: string[];
}

/** The demand key of a Workload's pods: one group, so the reclaim serves all of it or none. */
export const workloadGroup = (name: string) => `kueue/${name}`;

/**
 * How long after admission a Workload's pods that do not exist yet still hold their room: Kueue
 * unsuspends the Job and its controller creates them within moments; past this, whatever is missing is
 * left to the pods themselves.
 */
export const ADMITTED_PODS_GRACE_MS = 60_000;

/**
 * The pods of Workloads still waiting on the check, and those of Workloads just admitted that have not
 * appeared yet (placed or tried by the scheduler), as Unschedulable internal demand: the room a Ready
 * check promised is neither promised again nor lent while the Job's pods are being created.
 */
export function kueueDemandPods(snapshot: ClusterSnapshot): PodView[] {
  const out: PodView[] = [];
  for (const w of snapshot.kueue?.workloads ?? []) {
    if (w.admittedAt === undefined) {
      if (w.state === "Pending") out.push(...w.pods);
      continue;
    }
    if (w.jobGroup === undefined || snapshot.now - w.admittedAt > ADMITTED_PODS_GRACE_MS) continue;
    const present = snapshot.pods.filter(
      (p) =>
        p.namespace === w.namespace &&
        p.group === w.jobGroup &&
        (p.nodeName !== undefined || p.unschedulable) &&
        p.phase !== "Failed",
    ).length;
    out.push(...w.pods.slice(0, Math.max(0, w.pods.length - present)));
  }
  return out;
}

export interface KueueCheckInputs {
  snapshot: ClusterSnapshot;
  /** Node accounting after this plan's reclaims (nodes taken back are Returning). */
  accounts: Map<string, NodeAccount>;
  decisions: ReclaimDecision[];
  hopeless: { demand: DemandGroup; reason: string }[];
  blocked: DemandGroup[];
  /** Every lease's status after this plan (a reclaim's deadline and nodes are there). */
  leases: { lease: LeaseView; status: GpuLeaseStatus }[];
}

export function planKueueChecks(inputs: KueueCheckInputs): KueueCheckPlan {
  const { snapshot } = inputs;
  const kueue = snapshot.kueue;
  if (!kueue) return { checks: [], activate: [] };
  const resourceFor = resourceChooser(snapshot.settings.resourceNames);
  const decisionOf = new Map(inputs.decisions.map((d) => [d.demand.key, d]));
  const hopelessOf = new Map(inputs.hopeless.map((h) => [h.demand.key, h.reason]));
  const blocked = new Set(inputs.blocked.map((g) => g.key));
  let rooms = internalRooms(snapshot, inputs.accounts);
  const reclaims = inputs.leases.flatMap(({ lease, status }) =>
    status.phase === "Reclaiming" && status.reclaim?.deadline
      ? [{ lease: leaseKey(lease), nodes: status.reclaim.nodes ?? [], deadline: status.reclaim.deadline }]
      : [],
  );
  const deadlineOf = new Map(reclaims.map((r) => [r.lease, r.deadline]));
  const checks: KueueCheckWrite[] = [];
  // Pods of Workloads just admitted take their room first (see kueueDemandPods).
  const arriving = kueueDemandPods(snapshot).filter((p) =>
    kueue.workloads.some(
      (w) => w.admittedAt !== undefined && w.namespace === p.namespace && p.group === workloadGroup(w.name),
    ),
  );
  rooms = placeGroup(arriving, rooms, resourceFor) ?? rooms;
  const waiting = kueue.workloads
    .filter((w) => w.state === "Pending" && w.admittedAt === undefined)
    .sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : 1));
  for (const workload of waiting) {
    const key = `${workload.namespace}/${workloadGroup(workload.name)}`;
    const gpus = workload.pods.reduce((sum, p) => sum + (p.gpus[resourceFor(p)] ?? 0), 0);
    let next: Omit<KueueCheckWrite, "namespace" | "name" | "check"> | undefined;
    const decision = decisionOf.get(key);
    const hopeless = hopelessOf.get(key);
    const left = decision || hopeless ? undefined : placeGroup(workload.pods, rooms, resourceFor);
    if (left) {
      rooms = left;
      next = {
        state: "Ready",
        message: `${gpus} GPUs are free on internal nodes`,
        announces: [],
      };
    } else if (decision) {
      const deadlines = decision.hits
        .map((h) => deadlineOf.get(leaseKey(h.lease)))
        .filter((d): d is string => d !== undefined);
      const back = deadlines.sort().at(-1);
      next = {
        state: "Pending",
        message:
          `reclaiming ${decision.gpusEvicted} GPUs from ${decision.hits.length} lease(s)` +
          (back ? `; capacity back at ${back}` : ""),
        announces: decision.hits.map((h) => ({ namespace: h.lease.namespace, name: h.lease.name })),
      };
    } else if (hopeless !== undefined) {
      next = fitsEmptyCluster(snapshot, workload.pods, resourceFor)
        ? {
            state: "Retry",
            message: `no reclaim can help now: ${gpus} GPUs needed, and ${hopeless}; internal workloads hold the rest`,
            announces: [],
          }
        : {
            state: "Rejected",
            message: `no reclaim can help: ${gpus} GPUs needed, and the pods would not fit even on an empty cluster (GPUs, CPU, memory, node labels or taints of its flavor)`,
            announces: [],
          };
    } else if (blocked.has(key)) {
      next = {
        state: "Pending",
        message: `waiting: the lent GPUs it needs are inside their tenants' minimum runtime; reclaim starts when that ends`,
        announces: [],
      };
    } else if (!workload.message.startsWith("reclaiming ")) {
      // Served by nodes already on their way back (a reclaim of an earlier pass, or of other demand).
      const back = returningDeadline(inputs.accounts, reclaims, workload.pods);
      next = {
        state: "Pending",
        message: back
          ? `waiting for lent GPUs already being reclaimed; capacity back at ${back}`
          : "waiting for GPUs to free up",
        announces: [],
      };
    }
    if (!next || (next.state === workload.state && next.message === workload.message)) continue;
    checks.push({ namespace: workload.namespace, name: workload.name, check: workload.check, ...next });
  }
  const activate = kueue.admissionChecks.filter((c) => !c.active).map((c) => c.name);
  return { checks, activate };
}

function resourceChooser(resourceNames: string[]) {
  return (pod: { gpus: Record<string, number> }) =>
    resourceNames.find((r) => (pod.gpus[r] ?? 0) > 0) ?? (resourceNames[0] as string);
}

/** Free room on internal nodes now: GPUs not held, CPU and memory less what bound pods request. */
function internalRooms(snapshot: ClusterSnapshot, accounts: Map<string, NodeAccount>): NodeRoom[] {
  const used = new Map<string, { cpu: number; memory: number }>();
  for (const pod of snapshot.pods) {
    if (!podHoldsGpus(pod) || pod.nodeName === undefined) continue;
    const u = used.get(pod.nodeName) ?? { cpu: 0, memory: 0 };
    u.cpu += pod.cpuMillis;
    u.memory += pod.memoryBytes;
    used.set(pod.nodeName, u);
  }
  return [...accounts.values()]
    .filter((a) => a.state === "Internal" && a.free > 0)
    .map((a) => ({
      node: a.node,
      gpus: a.free,
      cpuMillis: a.node.cpuMillis - (used.get(a.node.name)?.cpu ?? 0),
      memoryBytes: a.node.memoryBytes - (used.get(a.node.name)?.memory ?? 0),
    }));
}

/** Whether the pods would fit if every usable node of the cluster were empty. */
function fitsEmptyCluster(
  snapshot: ClusterSnapshot,
  pods: PodView[],
  resourceFor: (pod: { gpus: Record<string, number> }) => string,
): boolean {
  const rooms = snapshot.nodes
    .filter((n) => n.ready && !n.unschedulable)
    .map((node) => ({
      node,
      gpus: Math.max(0, ...Object.values(node.gpus)),
      cpuMillis: node.cpuMillis,
      memoryBytes: node.memoryBytes,
    }));
  return placeGroup(pods, rooms, resourceFor) !== undefined;
}

/** The latest deadline of reclaims returning nodes these pods could use. */
function returningDeadline(
  accounts: Map<string, NodeAccount>,
  reclaims: { nodes: string[]; deadline: string }[],
  pods: PodView[],
): string | undefined {
  const usable = new Set(
    [...accounts.values()]
      .filter((a) => a.state === "Returning" && pods.some((p) => staticFit(p, a.node)))
      .map((a) => a.node.name),
  );
  return reclaims
    .filter((r) => r.nodes.some((n) => usable.has(n)))
    .map((r) => r.deadline)
    .sort()
    .at(-1);
}

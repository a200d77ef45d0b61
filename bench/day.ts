/**
 * A day in the life, in accelerated time: the pure planner drives a simulated cluster for 24 hours in
 * 5-second steps. Internal training rises and falls; tenant leases arrive at about the rate the idle
 * GPUs can take; a scheduler stand-in and kubelet play their parts (pods start and stop at once).
 *
 * The fleet has three GPU models and 4- and 8-GPU nodes. Internal pods ask for 1, 2, 4 or 8 GPUs,
 * most of them for one model, and are placed by the scheduler's rules as the planner models them
 * (node selection, taints of lent nodes, free GPUs), packed onto the fullest node that fits (the
 * MostAllocated scoring GPU clusters configure; the default LeastAllocated spreads pods over every
 * node and leaves none idle to lend). The share of idle GPU-hours lent counts the GPUs leases hold,
 * not whole lent nodes, against every GPU no internal pod uses less the configured headroom.
 *
 *   tsx bench/day.ts [--smoke]
 */
import { writeFileSync } from "node:fs";
import { tenantQuotaSpecView } from "../src/api/index.ts";
import type { ClusterSnapshot, LeaseView, NodeView, PodView } from "../src/core/model.ts";
import { planCluster } from "../src/core/planner.ts";
import { staticFit } from "../src/core/scheduling-fit.ts";
import { makeLease, makeNode, makePod, makeQuota, rng } from "./generate.ts";
import { machine, percentile, printTable } from "./machine.ts";

const smoke = process.argv.includes("--smoke");
const HOURS = smoke ? 2 : 24;
/** Simulated before the day is measured, so it starts with leases running, not an empty market. */
const WARMUP_HOURS = smoke ? 1 : 6;
const STEP = 5_000;
const NOTICE_MS = 2 * 60_000;
/** The tenants' minRuntime: a lease younger than this is not reclaimed, so a reclaim may wait for it. */
const MIN_RUNTIME_MS = 5 * 60_000;
const HEADROOM_GPUS = 8;
/** A Pending lease the tenant gives up on after this long (it deletes it). */
const PATIENCE_MS = 2 * 3_600_000;
const PRODUCT_LABEL = "nvidia.com/gpu.product";
const FLEET = [
  { model: "NVIDIA-H100-80GB-HBM3", gpus: 8, count: 24 },
  { model: "NVIDIA-A100-SXM4-80GB", gpus: 8, count: 16 },
  { model: "NVIDIA-L40S", gpus: 4, count: 24 },
];
const start = Date.parse("2026-11-28T00:00:00Z");
const simulationStart = start - WARMUP_HOURS * 3_600_000;
const measuring = (now: number) => now >= start;
const iso = (ms: number) => new Date(ms).toISOString();
const random = rng(2026);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

let nodes: NodeView[] = FLEET.flatMap((kind, k) =>
  Array.from({ length: kind.count }, (_, i) =>
    makeNode(`n${k}-${String(i).padStart(2, "0")}`, kind.model, { gpus: { "nvidia.com/gpu": kind.gpus } }),
  ),
);
const NODES = nodes.length;
const TOTAL_GPUS = FLEET.reduce((sum, kind) => sum + kind.gpus * kind.count, 0);
const capacityOf = (n: NodeView) => n.gpus["nvidia.com/gpu"] ?? 0;

type InternalPod = PodView & { wantedAt: number; runFor: number; scheduledAt?: number; needed: boolean };
let leases: LeaseView[] = [];
const internal = new Map<string, InternalPod>();
const tenantPods = new Map<string, PodView>();
const quotas = [makeQuota("acme", 10, 256), makeQuota("globex", 1, 192)].map((q) => ({
  ...q,
  spec: tenantQuotaSpecView({
    ...q.spec,
    reclaimNotice: `${NOTICE_MS / 60_000}m`,
    minRuntime: `${MIN_RUNTIME_MS / 60_000}m`,
    pricing: { interruptiblePerGpuHour: "1.20", reservedPerGpuHour: "2.50", currency: "USD" },
  }),
}));
const namespaces = [
  { name: "acme", tenant: "acme" },
  { name: "globex", tenant: "globex" },
];

// Tenant demand near the idle capacity: leases arrive at a rate that offers DEMAND_FACTOR times the
// idle GPUs of the hour (internal use is known in advance, as a spot price would steer tenants), so
// the share lent is decided by the planner, not by a shortage or a flood of demand.
const LEASE_SIZES = [1, 2, 4, 8, 16];
const MEAN_LEASE_GPUS = LEASE_SIZES.reduce((s, g) => s + g, 0) / LEASE_SIZES.length;
const MEAN_LEASE_HOURS = 3;
const DEMAND_FACTOR = 1.1;
/** Share of the fleet's GPUs internal training asks for at this hour of the day. */
const internalShare = (hour: number) => 0.45 + 0.35 * Math.sin(((hour - 8) / 24) * 2 * Math.PI);
const leasesPerHour = (hour: number) =>
  (DEMAND_FACTOR * Math.max(0, TOTAL_GPUS * (1 - internalShare(hour)) - HEADROOM_GPUS)) /
  (MEAN_LEASE_GPUS * MEAN_LEASE_HOURS);

let internalId = 0;
let leaseId = 0;
let idleGpuMs = 0;
let idleNodeGpuMs = 0;
let heldGpuMs = 0;
let boundGpuMs = 0;
let lentNodeGpuMs = 0;
let reclaimedLostGpuMs = 0;
let revenue = 0;
let gaveUp = 0;
let leasesCreated = 0;
const hourly: { hour: number; idleGpus: number; lentGpus: number; internalGpus: number }[] = [];
let reclaimedLeases = 0;
const extraWaits: number[] = [];
/** Wait beyond what the tenant contract allows at most: the notice after the victims' minRuntime. */
const beyondContract: number[] = [];
const waits: number[] = [];

function applyPlan(now: number, snapshot: ClusterSnapshot): void {
  const plan = planCluster(snapshot);
  const lent = new Set(plan.lendNodes.map((c) => c.node));
  const changes = new Map(plan.nodeChanges.map((c) => [c.node, c]));
  nodes = nodes.map((n) => {
    const c = changes.get(n.name);
    let next = lent.has(n.name) ? { ...n, lent: true, annotations: { ...n.annotations } } : n;
    if (c) {
      const annotations = { ...next.annotations };
      if (c.idleSince === null) delete annotations["gpulease.io/idle-since"];
      else if (c.idleSince) annotations["gpulease.io/idle-since"] = c.idleSince;
      const returning = c.returning === undefined ? next.returning : c.returning !== null;
      next = { ...next, lent: c.lent ?? next.lent, returning, annotations };
    }
    return next;
  });
  const statuses = new Map(plan.leaseStatuses.map((s) => [s.lease.uid, s.status]));
  leases = leases.map((l) => {
    const status = statuses.get(l.uid);
    if (!measuring(now)) return status ? { ...l, status, hasFinalizer: true } : { ...l, hasFinalizer: true };
    if (status && status.phase === "Ended" && l.status.phase !== "Ended")
      revenue += Number(status.usage?.charges ?? 0);
    if (status && status.endReason === "Reclaimed" && l.status.phase !== "Ended") {
      reclaimedLeases++;
      // Work lost: everything since admission (no checkpoints in this trace).
      reclaimedLostGpuMs +=
        l.spec.gpus * (Date.parse(status.endedAt ?? iso(now)) - Date.parse(l.status.admittedAt ?? iso(now)));
    }
    return status ? { ...l, status, hasFinalizer: true } : { ...l, hasFinalizer: true };
  });
  for (const e of plan.evictions) tenantPods.delete(`${e.pod.namespace}/${e.pod.name}`);
  for (const b of plan.bindings)
    tenantPods.set(`${b.pod.namespace}/${b.pod.name}`, {
      ...b.pod,
      gated: false,
      nodeName: b.node,
      phase: "Running",
    });
  for (const n of plan.notices) {
    const p = tenantPods.get(`${n.pod.namespace}/${n.pod.name}`);
    if (p)
      tenantPods.set(`${n.pod.namespace}/${n.pod.name}`, {
        ...p,
        annotations: { ...p.annotations, "gpulease.io/reclaim-deadline": n.deadline },
      });
  }
}

/** GPUs used on each node by running pods, internal and tenant. */
function usedGpus(): Map<string, number> {
  const used = new Map<string, number>();
  for (const p of [...internal.values(), ...tenantPods.values()])
    if (p.nodeName) used.set(p.nodeName, (used.get(p.nodeName) ?? 0) + (p.gpus["nvidia.com/gpu"] ?? 0));
  return used;
}

/** GPUs held by Reserved leases on each node. */
function reservedGpusByNode(): Map<string, number> {
  const held = new Map<string, number>();
  for (const l of leases)
    if (l.spec.class === "Reserved" && (l.status.phase === "Active" || l.status.phase === "Reclaiming"))
      for (const a of l.status.allocations ?? []) held.set(a.node, (held.get(a.node) ?? 0) + a.gpus);
  return held;
}

/** The scheduler stand-in: pending internal pods in arrival order, each on the fullest node it fits. */
function schedule(now: number): void {
  const used = usedGpus();
  const pending = [...internal.values()].filter((p) => !p.nodeName).sort((a, b) => a.wantedAt - b.wantedAt);
  for (const pod of pending) {
    const gpus = pod.gpus["nvidia.com/gpu"] ?? 0;
    // Lent nodes carry the lent taint, which internal pods do not tolerate.
    const fits = (n: NodeView) =>
      !n.lent && staticFit(pod, n) && capacityOf(n) - (used.get(n.name) ?? 0) >= gpus;
    let best: NodeView | undefined;
    for (const n of nodes) {
      if (!fits(n)) continue;
      const left = capacityOf(n) - (used.get(n.name) ?? 0) - gpus;
      const bestLeft = best ? capacityOf(best) - (used.get(best.name) ?? 0) - gpus : Number.POSITIVE_INFINITY;
      if (left < bestLeft) best = n;
    }
    if (best) {
      pod.nodeName = best.name;
      pod.unschedulable = false;
      pod.scheduledAt = now;
      used.set(best.name, (used.get(best.name) ?? 0) + gpus);
      const wait = now - pod.wantedAt;
      if (measuring(now)) {
        waits.push(wait);
        if (pod.needed) {
          extraWaits.push(Math.max(0, wait - NOTICE_MS));
          beyondContract.push(Math.max(0, wait - NOTICE_MS - MIN_RUNTIME_MS));
        }
      }
    } else if (!pod.unschedulable) {
      pod.unschedulable = true;
      pod.unschedulableSince = now;
      // It waits on a reclaim when some lent node could take it once its Interruptible leases are
      // reclaimed (Reserved leases are never reclaimed before they end).
      const reserved = reservedGpusByNode();
      pod.needed = nodes.some(
        (n) => n.lent && staticFit(pod, n) && capacityOf(n) - (reserved.get(n.name) ?? 0) >= gpus,
      );
    }
  }
}

/** An internal pod: 1, 2, 4 or 8 GPUs, for one model most of the time, 20 min to 2 h. */
function internalPod(now: number): InternalPod {
  const gpus = pick([1, 2, 2, 4, 4, 4, 8, 8, 8, 8]);
  const models = FLEET.filter((f) => f.gpus >= gpus).map((f) => f.model);
  const nodeSelector: Record<string, string> = random() < 0.7 ? { [PRODUCT_LABEL]: pick(models) } : {};
  // Without a model, an 8-GPU pod still needs an 8-GPU node: the scheduler finds it by free GPUs.
  const name = `train-${internalId++}`;
  return {
    ...makePod("training", name, { phase: "Pending", gpus: { "nvidia.com/gpu": gpus }, nodeSelector }),
    wantedAt: now,
    runFor: (20 + random() * 100) * 60_000,
    needed: false,
  };
}

/** A tenant lease: 1-16 GPUs, gangs of whole nodes from 8, half of them for one model, 1-5 h. */
function tenantLease(now: number): LeaseView {
  const tenant = random() < 0.6 ? "acme" : "globex";
  const gpus = pick(LEASE_SIZES);
  const gpuModel = random() < 0.5 ? pick(FLEET.filter((f) => gpus < 8 || f.gpus === 8)).model : undefined;
  const onL40S = gpuModel === "NVIDIA-L40S";
  const block = gpus >= 8 ? (onL40S ? 4 : 8) : gpus === 4 && random() < 0.5 ? 4 : 1;
  const hours = 1 + Math.floor(random() * 5);
  return makeLease(
    tenant,
    `l${leaseId++}`,
    {
      gpus,
      ...(block > 1 ? { gpusPerNode: block } : {}),
      ...(gpuModel ? { gpuModel } : {}),
      duration: `${hours}h`,
      ...(random() < 0.15 ? { class: "Reserved" } : {}),
    },
    now,
  );
}

for (let now = simulationStart; now < start + HOURS * 3_600_000; now += STEP) {
  const hour = (now - start) / 3_600_000;
  // Internal demand in GPUs: peaks in the day, troughs at night, 45 % of the fleet on average.
  const target = Math.round(TOTAL_GPUS * internalShare(hour));
  for (const [key, pod] of internal)
    if (pod.scheduledAt !== undefined && now >= pod.scheduledAt + pod.runFor) internal.delete(key);
  let internalWanted = [...internal.values()].reduce((s, p) => s + (p.gpus["nvidia.com/gpu"] ?? 0), 0);
  while (internalWanted < target) {
    const pod = internalPod(now);
    internal.set(pod.name, pod);
    internalWanted += pod.gpus["nvidia.com/gpu"] ?? 0;
  }
  if (random() < (leasesPerHour(hour) * STEP) / 3_600_000) {
    leases.push(tenantLease(now));
    if (measuring(now)) leasesCreated++;
  }
  // Tenants give up on leases that waited too long.
  leases = leases.filter((l) => {
    const waiting = (l.status.phase ?? "Pending") === "Pending" && now - l.createdAt > PATIENCE_MS;
    if (waiting && measuring(now)) gaveUp++;
    return !waiting;
  });
  // Tenant pods for every Active lease, one per allocation (gated until bound).
  for (const l of leases) {
    if (l.status.phase !== "Active") continue;
    for (const a of l.status.allocations ?? []) {
      const key = `${l.namespace}/${l.name}-${a.node}`;
      if (!tenantPods.has(key)) {
        tenantPods.set(
          key,
          makePod(l.namespace, `${l.name}-${a.node}`, {
            phase: "Pending",
            gated: true,
            lease: l.name,
            gpus: { "nvidia.com/gpu": a.gpus },
          }),
        );
      }
    }
  }
  schedule(now);
  // Copies: the simulation changes its pods after the plan has read them.
  const pods = [...internal.values(), ...tenantPods.values()].map((p) => ({ ...p }));
  applyPlan(now, {
    now,
    settings: {
      idlePeriodMs: 60_000,
      headroomGpus: HEADROOM_GPUS,
      resourceNames: ["nvidia.com/gpu"],
      expiryWarningMs: 300_000,
      meteringIntervalMs: 0,
      evictionGraceMs: 30_000,
    },
    nodes,
    pods,
    namespaces,
    leases,
    quotas,
  });
  // This step's GPUs: used by internal pods, held by leases, on lent nodes.
  const internalByNode = new Map<string, number>();
  for (const p of internal.values())
    if (p.nodeName)
      internalByNode.set(p.nodeName, (internalByNode.get(p.nodeName) ?? 0) + (p.gpus["nvidia.com/gpu"] ?? 0));
  const internalGpus = [...internalByNode.values()].reduce((s, g) => s + g, 0);
  const idleGpus = TOTAL_GPUS - internalGpus;
  const idleNodeGpus = nodes
    .filter((n) => !internalByNode.has(n.name))
    .reduce((s, n) => s + capacityOf(n), 0);
  const held = leases
    .filter((l) => l.status.phase === "Active" || l.status.phase === "Reclaiming")
    .reduce((s, l) => s + (l.status.allocations ?? []).reduce((t, a) => t + a.gpus, 0), 0);
  // What could be lent at most this step: the idle GPUs, or what the leases ask for if less.
  const wanted = leases
    .filter((l) => ["Pending", "Active", "Reclaiming", undefined].includes(l.status.phase))
    .reduce((s, l) => s + l.spec.gpus, 0);
  const lentNodes = nodes.filter((n) => n.lent).reduce((s, n) => s + capacityOf(n), 0);
  if (measuring(now)) {
    if ((now - start) % 600_000 === 0) hourly.push({ hour, idleGpus, lentGpus: held, internalGpus });
    idleGpuMs += Math.max(0, idleGpus - HEADROOM_GPUS) * STEP;
    idleNodeGpuMs += Math.max(0, idleNodeGpus - HEADROOM_GPUS) * STEP;
    heldGpuMs += held * STEP;
    boundGpuMs += Math.min(Math.max(0, idleGpus - HEADROOM_GPUS), wanted) * STEP;
    lentNodeGpuMs += lentNodes * STEP;
  }
  leases = leases.filter(
    (l) => !(l.status.phase === "Ended" && now - Date.parse(l.status.endedAt ?? iso(now)) > 3_600_000),
  );
}

const revenueTotal =
  revenue +
  leases
    .filter((l) => l.status.phase === "Active" || l.status.phase === "Reclaiming")
    .reduce((s, l) => s + Number(l.status.usage?.charges ?? 0), 0);
const result = {
  benchmark: "day",
  smoke,
  machine: machine(),
  hours: HOURS,
  warmupHours: WARMUP_HOURS,
  nodes: NODES,
  fleet: FLEET,
  totalGpus: TOTAL_GPUS,
  headroomGpus: HEADROOM_GPUS,
  demandFactor: DEMAND_FACTOR,
  /** GPU-hours no internal pod used, less the headroom. */
  idleGpuHours: idleGpuMs / 3_600_000,
  /** The same on nodes without any internal pod (what can be lent at all), less the headroom. */
  idleNodeGpuHours: idleNodeGpuMs / 3_600_000,
  /** GPU-hours held by leases (their allocations). */
  lentGpuHours: heldGpuMs / 3_600_000,
  /** GPU-hours of whole lent nodes, for reference (a lent node may be partly used). */
  lentNodeGpuHours: lentNodeGpuMs / 3_600_000,
  lentShareOfIdle: heldGpuMs / Math.max(1, idleGpuMs),
  lentShareOfIdleNodes: heldGpuMs / Math.max(1, idleNodeGpuMs),
  /** GPU-hours that could be lent at most: idle less the headroom, or what leases asked for if less. */
  boundGpuHours: boundGpuMs / 3_600_000,
  lentShareOfBound: heldGpuMs / Math.max(1, boundGpuMs),
  internalPods: internalId,
  internalWaitMs: { p50: percentile(waits, 50), p99: percentile(waits, 99) },
  internalExtraWaitBeyondNoticeMs: {
    p50: percentile(extraWaits, 50),
    p99: percentile(extraWaits, 99),
    max: extraWaits.length ? Math.max(...extraWaits) : 0,
    count: extraWaits.length,
  },
  internalWaitBeyondNoticeAndMinRuntimeMs: {
    p50: percentile(beyondContract, 50),
    p99: percentile(beyondContract, 99),
    max: beyondContract.length ? Math.max(...beyondContract) : 0,
  },
  leases: leasesCreated,
  leasesGivenUp: gaveUp,
  tenantGpuHoursLostToReclaim: reclaimedLostGpuMs / 3_600_000,
  reclaimedLeases,
  revenue: revenueTotal,
  goals: { lentShareOfIdle: 0.9, extraWaitMs: 5000 },
  series: hourly,
};
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
printTable(`A day in the life: ${NODES} nodes (${TOTAL_GPUS} GPUs), ${HOURS} h in ${STEP / 1000} s steps`, [
  ["idle GPU-hours (no internal pod), less the headroom", result.idleGpuHours.toFixed(0)],
  ["of which on nodes without internal pods", result.idleNodeGpuHours.toFixed(0)],
  ["GPU-hours held by leases", result.lentGpuHours.toFixed(0)],
  ["share of idle GPU-hours lent", pct(result.lentShareOfIdle)],
  ["share of idle GPU-hours on nodes without internal pods lent", pct(result.lentShareOfIdleNodes)],
  ["share of min(idle, asked for by leases) lent", pct(result.lentShareOfBound)],
  [
    "internal pods / waits p50, p99 (s)",
    `${result.internalPods} / ${(result.internalWaitMs.p50 / 1000).toFixed(0)}, ${(result.internalWaitMs.p99 / 1000).toFixed(0)}`,
  ],
  [
    "internal extra wait beyond the notice p50 / p99 / max (s)",
    `${(result.internalExtraWaitBeyondNoticeMs.p50 / 1000).toFixed(0)} / ${(result.internalExtraWaitBeyondNoticeMs.p99 / 1000).toFixed(0)} / ${(result.internalExtraWaitBeyondNoticeMs.max / 1000).toFixed(0)} (${result.internalExtraWaitBeyondNoticeMs.count} pods waited on a reclaim)`,
  ],
  [
    "internal wait beyond notice + minRuntime p50 / p99 / max (s)",
    `${(result.internalWaitBeyondNoticeAndMinRuntimeMs.p50 / 1000).toFixed(0)} / ${(result.internalWaitBeyondNoticeAndMinRuntimeMs.p99 / 1000).toFixed(0)} / ${(result.internalWaitBeyondNoticeAndMinRuntimeMs.max / 1000).toFixed(0)}`,
  ],
  [
    "tenant leases / given up waiting / reclaimed / GPU-hours lost to reclaim",
    `${result.leases} / ${result.leasesGivenUp} / ${result.reclaimedLeases} / ${result.tenantGpuHoursLostToReclaim.toFixed(1)}`,
  ],
  ["revenue (USD)", result.revenue.toFixed(2)],
]);
writeFileSync(
  new URL(`results/day${smoke ? "-smoke" : ""}.json`, import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);

/**
 * A day in the life, in accelerated time: the pure planner drives a simulated cluster for 24 hours in
 * 5-second steps. Internal training rises and falls; tenant leases arrive with a mix of sizes, classes
 * and durations; a toy scheduler and kubelet play their parts (pods start and stop at once).
 *
 *   tsx bench/day.ts [--smoke]
 */
import { writeFileSync } from "node:fs";
import { tenantQuotaSpecView } from "../src/api/index.ts";
import type { ClusterSnapshot, LeaseView, NodeView, PodView } from "../src/core/model.ts";
import { planCluster } from "../src/core/planner.ts";
import { makeLease, makeNode, makePod, makeQuota, rng } from "./generate.ts";
import { machine, percentile, printTable } from "./machine.ts";

const smoke = process.argv.includes("--smoke");
const HOURS = smoke ? 2 : 24;
const STEP = 5_000;
const NODES = 64;
const NOTICE_MS = 2 * 60_000;
const MODEL = "NVIDIA-H100-80GB-HBM3";
const start = Date.parse("2026-11-28T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const random = rng(2026);

let nodes: NodeView[] = Array.from({ length: NODES }, (_, i) => makeNode(`n${i}`, MODEL));
let leases: LeaseView[] = [];
const internal = new Map<
  string,
  PodView & { wantedAt: number; runUntil: number; scheduledAt?: number; needed: boolean }
>();
const tenantPods = new Map<string, PodView>();
const quotas = [makeQuota("acme", 10, 256), makeQuota("globex", 1, 128)].map((q) => ({
  ...q,
  spec: tenantQuotaSpecView({
    ...q.spec,
    reclaimNotice: "2m",
    minRuntime: "5m",
    pricing: { interruptiblePerGpuHour: "1.20", reservedPerGpuHour: "2.50", currency: "USD" },
  }),
}));
const namespaces = [
  { name: "acme", tenant: "acme" },
  { name: "globex", tenant: "globex" },
];

let internalId = 0;
let leaseId = 0;
let idleGpuMs = 0;
let lentGpuMs = 0;
let reclaimedLostGpuMs = 0;
let revenue = 0;
const hourly: { hour: number; idleGpus: number; lentGpus: number; internalGpus: number }[] = [];
let reclaimedLeases = 0;
const extraWaits: number[] = [];
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

function schedule(now: number): void {
  const used = new Map<string, number>();
  for (const p of [...internal.values(), ...tenantPods.values()])
    if (p.nodeName) used.set(p.nodeName, (used.get(p.nodeName) ?? 0) + (p.gpus["nvidia.com/gpu"] ?? 0));
  for (const pod of internal.values()) {
    if (pod.nodeName) continue;
    const node = nodes.find((n) => !n.lent && 8 - (used.get(n.name) ?? 0) >= 8);
    if (node) {
      pod.nodeName = node.name;
      pod.unschedulable = false;
      pod.scheduledAt = now;
      used.set(node.name, 8);
      const wait = now - pod.wantedAt;
      waits.push(wait);
      if (pod.needed) extraWaits.push(Math.max(0, wait - NOTICE_MS));
    } else if (!pod.unschedulable) {
      pod.unschedulable = true;
      pod.unschedulableSince = now;
      pod.needed = nodes.some((n) => n.lent);
    }
  }
}

for (let now = start; now < start + HOURS * 3_600_000; now += STEP) {
  const hour = (now - start) / 3_600_000;
  // Internal demand: peaks in the day, troughs at night (8-GPU pods, 20 min to 2 h each).
  const target = Math.round(NODES * (0.45 + 0.35 * Math.sin(((hour - 8) / 24) * 2 * Math.PI)));
  for (const [key, pod] of internal)
    if (pod.scheduledAt !== undefined && now >= pod.runUntil) internal.delete(key);
  while (internal.size < target) {
    const name = `train-${internalId++}`;
    const runFor = (20 + random() * 100) * 60_000;
    internal.set(name, {
      ...makePod("training", name, { phase: "Pending", gpus: { "nvidia.com/gpu": 8 } }),
      wantedAt: now,
      runUntil: now + runFor,
      needed: false,
    });
  }
  // Tenant leases: about one every 30 seconds, more than the idle GPUs can take (a spot market).
  if (random() < STEP / 30_000) {
    const tenant = random() < 0.6 ? "acme" : "globex";
    const gpus = [1, 2, 4, 8, 16][Math.floor(random() * 5)] as number;
    const reserved = random() < 0.15;
    const hours = 1 + Math.floor(random() * 5);
    leases.push(
      makeLease(
        tenant,
        `l${leaseId++}`,
        {
          gpus,
          ...(gpus >= 8 ? { gpusPerNode: 8 } : {}),
          duration: `${hours}h`,
          ...(reserved ? { class: "Reserved" } : {}),
        },
        now,
      ),
    );
  }
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
      headroomGpus: 8,
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
  // Utilization of this step.
  const internalUsed = new Set([...internal.values()].filter((p) => p.nodeName).map((p) => p.nodeName));
  if ((now - start) % 600_000 === 0) {
    hourly.push({
      hour,
      idleGpus: (NODES - internalUsed.size) * 8,
      lentGpus: nodes.filter((n) => n.lent).length * 8,
      internalGpus: internalUsed.size * 8,
    });
  }
  for (const n of nodes) {
    if (!internalUsed.has(n.name)) idleGpuMs += 8 * STEP;
    if (n.lent) lentGpuMs += 8 * STEP;
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
  nodes: NODES,
  idleGpuHours: idleGpuMs / 3_600_000,
  lentGpuHours: lentGpuMs / 3_600_000,
  lentShareOfIdle: lentGpuMs / Math.max(1, idleGpuMs),
  internalPods: internalId,
  internalWaitMs: { p50: percentile(waits, 50), p99: percentile(waits, 99) },
  internalExtraWaitBeyondNoticeMs: {
    p50: percentile(extraWaits, 50),
    p99: percentile(extraWaits, 99),
    max: extraWaits.length ? Math.max(...extraWaits) : 0,
    count: extraWaits.length,
  },
  leases: leaseId,
  tenantGpuHoursLostToReclaim: reclaimedLostGpuMs / 3_600_000,
  reclaimedLeases,
  revenue: revenueTotal,
  goals: { lentShareOfIdle: 0.9, extraWaitMs: 5000 },
  series: hourly,
};
printTable(`A day in the life: ${NODES} nodes × 8 GPUs, ${HOURS} h in ${STEP / 1000} s steps`, [
  ["idle GPU-hours (not used by internal pods)", result.idleGpuHours.toFixed(0)],
  ["lent GPU-hours", result.lentGpuHours.toFixed(0)],
  ["share of idle GPU-hours lent", `${(result.lentShareOfIdle * 100).toFixed(1)} %`],
  [
    "internal pods / waits p50, p99 (s)",
    `${result.internalPods} / ${(result.internalWaitMs.p50 / 1000).toFixed(0)}, ${(result.internalWaitMs.p99 / 1000).toFixed(0)}`,
  ],
  [
    "internal extra wait beyond the notice p50 / p99 / max (s)",
    `${(result.internalExtraWaitBeyondNoticeMs.p50 / 1000).toFixed(0)} / ${(result.internalExtraWaitBeyondNoticeMs.p99 / 1000).toFixed(0)} / ${(result.internalExtraWaitBeyondNoticeMs.max / 1000).toFixed(0)} (${result.internalExtraWaitBeyondNoticeMs.count} pods waited on a reclaim)`,
  ],
  [
    "tenant leases / reclaimed / GPU-hours lost to reclaim",
    `${result.leases} / ${result.reclaimedLeases} / ${result.tenantGpuHoursLostToReclaim.toFixed(1)}`,
  ],
  ["revenue (USD)", result.revenue.toFixed(2)],
]);
writeFileSync(
  new URL(`results/day${smoke ? "-smoke" : ""}.json`, import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);

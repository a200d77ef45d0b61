import { describe, expect, it } from "vitest";
import { selectBatch } from "../../../src/core/batch-selector.ts";
import { afterBindRefusal } from "../../../src/core/bind-order.ts";
import type { LeaseView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const iso = (ms: number) => new Date(ms).toISOString();

function active(ns: string, name: string, nodeName: string): LeaseView {
  return lease(
    ns,
    name,
    { gpus: 8 },
    {
      status: {
        phase: "Active",
        admittedAt: iso(T0 - 60_000),
        allocations: [{ node: nodeName, gpus: 8, since: iso(T0 - 60_000) }],
        pricing: { perGpuHour: "1", currency: "USD" },
      },
    },
  );
}

/** A gated GPU-less helper pod of a lease (any number fit on its node). */
const gatedPod = (ns: string, name: string, leaseName: string, createdAt = T0 - 1000) =>
  pod(ns, name, { gated: true, lease: leaseName, gpus: {}, cpuMillis: 1, memoryBytes: 1, createdAt });

const world = (pods: ReturnType<typeof gatedPod>[], extra: Parameters<typeof snapshot>[0] = {}) =>
  snapshot({
    namespaces: [tenantNs("a-ns", "a"), tenantNs("b-ns", "b")],
    quotas: [quota("a"), quota("b")],
    nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
    leases: [active("a-ns", "noisy", "n1"), active("b-ns", "quiet", "n2")],
    pods,
    ...extra,
  });

describe("binding order and backoff", () => {
  it("binds another tenant's new pod in the first pass, however many pods one tenant has waiting", () => {
    const noisy = Array.from({ length: 70 }, (_, i) => gatedPod("a-ns", `noisy-${i}`, "noisy", T0 - 100_000));
    const plan = planCluster(world([...noisy, gatedPod("b-ns", "newcomer", "quiet", T0 - 1)]));
    expect(plan.bindings).toHaveLength(71);
    expect(plan.bindings.slice(0, 2).map((b) => b.pod.name)).toEqual(["noisy-0", "newcomer"]);
    const batch = selectBatch(plan.actions, { urgent: 256, other: 64 });
    const ids = batch.waves.flat().map((a) => a.id);
    expect(ids).toContain("bind/b-ns/newcomer");
  });

  it("leaves a pod whose bind was refused out until its backoff ends, and wakes then", () => {
    const refused = gatedPod("a-ns", "refused", "noisy");
    const other = gatedPod("a-ns", "other", "noisy");
    const backoff = new Map([[refused.uid, { until: T0 + 5000 }]]);
    const plan = planCluster(world([refused, other], { bindBackoff: backoff }));
    expect(plan.bindings.map((b) => b.pod.name)).toEqual(["other"]);
    expect(plan.events.filter((e) => e.name === "refused")).toEqual([]); // not told again each pass
    expect(plan.wakeAt).toBe(T0 + 5000);
    const later = planCluster({ ...world([refused, other], { bindBackoff: backoff }), now: T0 + 5000 });
    expect(later.bindings.map((b) => b.pod.name).sort()).toEqual(["other", "refused"]);
  });
});

describe("a refused bind's backoff", () => {
  it("waits 5 s, doubling to 5 min, and tells the pod once per reason", () => {
    let state = afterBindRefusal(undefined, "affinity may only be narrowed", T0);
    expect(state).toEqual({
      backoff: { failures: 1, until: T0 + 5000, message: "affinity may only be narrowed" },
      tell: true,
    });
    const waits: number[] = [];
    const told: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      state = afterBindRefusal(state.backoff, "affinity may only be narrowed", T0);
      waits.push(state.backoff.until - T0);
      told.push(state.tell);
    }
    expect(waits).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
    expect(told.every((t) => !t)).toBe(true);
    expect(afterBindRefusal(state.backoff, "another reason", T0).tell).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { type PlanAction, quotaLimitsFor } from "../../../src/core/plan-actions.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { DEFAULT_CONTAINER_REQUESTS, planResourceQuotas } from "../../../src/core/resource-quotas.ts";
import { lease, node, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const GPU = "requests.nvidia.com/gpu";
const activeOn = (name: string, allocations: { node: string; gpus: number }[], over = {}) =>
  lease(
    "acme",
    name,
    { gpus: allocations.reduce((sum, a) => sum + a.gpus, 0) },
    {
      status: { phase: "Active", admittedAt: new Date(T0).toISOString(), allocations },
      ...over,
    },
  );
const world = (leases: ReturnType<typeof lease>[], extra = {}) =>
  snapshot({
    // 8 GPUs, 96 CPUs, 1 TiB; "small" also says it takes only 4 pods, "big" says nothing (110).
    nodes: [node("big", { lent: true }), node("small", { lent: true, pods: 4 })],
    namespaces: [tenantNs("acme", "acme")],
    quotas: [quota("acme")],
    leases,
    ...extra,
  });
const hardOf = (leases: ReturnType<typeof lease>[]) => planResourceQuotas(world(leases))[0]?.hard;

describe("the namespace ResourceQuota: CPU, memory and pods of the Active leases' shares", () => {
  it("caps everything at 0 while no lease is Active, GPU-less pods included", () => {
    const pending = lease("acme", "waiting", { gpus: 4 });
    expect(hardOf([pending])).toEqual({
      [GPU]: "0",
      "requests.cpu": "0m",
      "requests.memory": "0",
      pods: "0",
    });
  });

  it("gives an Active lease its share of each node: CPU, memory and pods in proportion to its GPUs", () => {
    const half = activeOn("half", [{ node: "big", gpus: 4 }]);
    expect(hardOf([half])).toEqual({
      [GPU]: "4",
      "requests.cpu": "48000m",
      "requests.memory": String(2 ** 39),
      pods: "55", // half of the kubelet's default 110
    });
  });

  it("adds up a lease's nodes and the namespace's leases, and gives at least one pod per node", () => {
    const wide = activeOn("wide", [
      { node: "big", gpus: 2 },
      { node: "small", gpus: 1 }, // half a pod slot by proportion: one, or its GPU is unusable
    ]);
    const other = activeOn("other", [{ node: "small", gpus: 4 }]);
    expect(hardOf([wide, other])).toEqual({
      [GPU]: "7",
      "requests.cpu": `${24_000 + 12_000 + 48_000}m`,
      "requests.memory": String(2 ** 38 + 2 ** 37 + 2 ** 39),
      pods: String(27 + 1 + 2),
    });
  });

  it("stops counting a lease once it is being deleted or has ended", () => {
    const deleting = activeOn("deleting", [{ node: "big", gpus: 8 }], { deleting: true });
    const ended = lease("acme", "ended", { gpus: 8 }, { status: { phase: "Ended", allocations: [] } });
    expect(hardOf([deleting, ended])).toMatchObject({ [GPU]: "0", "requests.cpu": "0m", pods: "0" });
  });
});

describe("the LimitRange that lets the quota count a pod without requests", () => {
  const actionsOf = (limitRanges?: { namespace: string; defaultRequest: Record<string, string> }[]) =>
    planCluster(world([], limitRanges ? { limitRanges } : {})).actions;

  it("is written in every tenant namespace that lacks it, before the namespace's quota", () => {
    const actions = actionsOf([]);
    const limitRange = actions.find((a) => a.kind === "limitRange");
    expect(limitRange).toMatchObject({
      id: "lr/acme",
      limitRange: { namespace: "acme", defaultRequest: { cpu: "100m", memory: "128Mi" } },
    });
    expect(actions.find((a) => a.kind === "resourceQuota")?.requires).toContain("lr/acme");
  });

  it("is left alone when it has the defaults, and written again after a hand edit", () => {
    expect(
      actionsOf([{ namespace: "acme", defaultRequest: { ...DEFAULT_CONTAINER_REQUESTS } }]),
    ).not.toContainEqual(expect.objectContaining({ kind: "limitRange" }));
    const edited = actionsOf([{ namespace: "acme", defaultRequest: { cpu: "0" } }]);
    expect(edited.filter((a) => a.kind === "limitRange")).toHaveLength(1);
    // Not watched (no informer): nothing is planned.
    expect(actionsOf(undefined).filter((a) => a.kind === "limitRange")).toEqual([]);
  });
});

describe("the quota and the status that admits a lease", () => {
  it("raises CPU, memory and pods only in a batch that carries the lease's Active status", () => {
    const plan = planCluster(
      snapshot({
        nodes: [node("big")],
        namespaces: [tenantNs("acme", "acme")],
        quotas: [quota("acme")],
        leases: [lease("acme", "new", { gpus: 4 })],
        resourceQuotas: [
          {
            namespace: "acme",
            hard: { [GPU]: "0", "requests.cpu": "0m", "requests.memory": "0", pods: "0" },
          },
        ],
      }),
    );
    const rq = plan.actions.find((a) => a.kind === "resourceQuota") as Extract<
      PlanAction,
      { kind: "resourceQuota" }
    >;
    const status = plan.actions.find((a) => a.kind === "leaseStatus");
    expect(status?.requires).toContain(rq.id);
    expect(quotaLimitsFor(rq, new Set())).toEqual({
      [GPU]: "0",
      "requests.cpu": "0m",
      "requests.memory": "0",
      pods: "0",
    });
    expect(quotaLimitsFor(rq, new Set([status?.id ?? ""]))).toEqual({
      [GPU]: "4",
      "requests.cpu": "48000m",
      "requests.memory": String(2 ** 39),
      pods: "55",
    });
  });
});

import { describe, expect, it } from "vitest";
import { planCluster } from "../../../src/core/planner.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const GPU = "nvidia.com/gpu";
const activeOn = (namespace: string, name: string, gpus: number, nodeName: string) =>
  lease(
    namespace,
    name,
    { gpus },
    {
      status: {
        phase: "Active",
        admittedAt: new Date(T0).toISOString(),
        allocations: [{ node: nodeName, gpus }],
      },
    },
  );

/** Two tenants share one 8-GPU node with 96 CPUs and 1 TiB: 4 GPUs each, so 48 CPUs and 512 GiB each. */
function sharedNode(pods: ReturnType<typeof pod>[]) {
  return planCluster(
    snapshot({
      nodes: [node("shared", { lent: true, cpuMillis: 96_000, memoryBytes: 2 ** 40 })],
      namespaces: [tenantNs("acme", "acme"), tenantNs("globex", "globex")],
      quotas: [quota("acme"), quota("globex")],
      leases: [activeOn("acme", "a", 4, "shared"), activeOn("globex", "g", 4, "shared")],
      pods,
    }),
  );
}

const helper = (name: string, over: Parameters<typeof pod>[2]) =>
  pod("acme", name, { lease: "a", gated: true, gpus: {}, ...over });

describe("a lease's share of a shared node's CPU and memory", () => {
  it("keeps a GPU-less helper that asks for the whole node's CPU gated, saying why", () => {
    const plan = sharedNode([helper("greedy", { cpuMillis: 96_000 })]);
    expect(plan.bindings).toEqual([]);
    const event = plan.events.find((e) => e.name === "greedy");
    expect(event?.reason).toBe("ExceedsLeaseShare");
    expect(event?.message).toContain("asks for 96 CPU");
    expect(event?.message).toContain("at most 48 CPU");
  });

  it("binds a helper within the share, and counts what the lease's pods already use there", () => {
    const running = pod("acme", "trainer", {
      lease: "a",
      nodeName: "shared",
      phase: "Running",
      gpus: { [GPU]: 4 },
      cpuMillis: 40_000,
    });
    const plan = sharedNode([
      running,
      helper("fits", { cpuMillis: 8_000, createdAt: T0 }),
      helper("beyond", { cpuMillis: 1_000, createdAt: T0 + 1 }),
    ]);
    expect(plan.bindings.map((b) => [b.pod.name, b.node])).toEqual([["fits", "shared"]]);
    expect(plan.events.find((e) => e.name === "beyond")?.reason).toBe("ExceedsLeaseShare");
  });

  it("checks memory as well", () => {
    const plan = sharedNode([helper("hog", { cpuMillis: 0, memoryBytes: 600 * 2 ** 30 })]);
    expect(plan.events.find((e) => e.name === "hog")?.reason).toBe("ExceedsLeaseShare");
  });

  it("gives a lease that holds the whole node all of it", () => {
    const plan = planCluster(
      snapshot({
        nodes: [node("whole", { lent: true, cpuMillis: 96_000 })],
        namespaces: [tenantNs("acme", "acme")],
        quotas: [quota("acme")],
        leases: [activeOn("acme", "a", 8, "whole")],
        pods: [helper("big", { cpuMillis: 96_000 })],
      }),
    );
    expect(plan.bindings.map((b) => b.pod.name)).toEqual(["big"]);
  });
});

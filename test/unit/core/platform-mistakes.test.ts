import { describe, expect, it } from "vitest";
import { renderStatus } from "../../../src/cli/status.ts";
import type { LeaseView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const iso = (ms: number) => new Date(ms).toISOString();

function active(nodeName: string, gpus = 8): LeaseView {
  return lease(
    "acme-ns",
    "train",
    { gpus },
    {
      status: {
        phase: "Active",
        admittedAt: iso(T0 - 60_000),
        allocations: [{ node: nodeName, gpus, since: iso(T0 - 60_000) }],
        pricing: { perGpuHour: "1", currency: "USD" },
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "Placed",
            message: "GPUs allocated on 1 node(s)",
            lastTransitionTime: iso(T0 - 60_000),
          },
        ],
      },
    },
  );
}

const base = {
  namespaces: [tenantNs("acme-ns", "acme"), { name: "training", tenant: undefined }],
  quotas: [quota("acme")],
};

describe("a lent node whose taint was removed by hand", () => {
  it("stays lent by the operator's own record, gets its taint back, and the node an Event", () => {
    const snap = snapshot({
      ...base,
      nodes: [
        node("n1", {
          lent: true,
          lentTaint: false,
          lentMark: true,
          labels: { "gpulease.io/lendable": "true", "gpulease.io/state": "Lent" },
        }),
      ],
      leases: [active("n1")],
    });
    const plan = planCluster(snap);
    expect([...plan.lendNodes, ...plan.nodeChanges]).toContainEqual(
      expect.objectContaining({ node: "n1", lent: true }),
    );
    expect(plan.events).toContainEqual(
      expect.objectContaining({ kind: "Node", name: "n1", type: "Warning", reason: "LentTaintRestored" }),
    );
    expect(renderStatus(snap)).toContain("lent node n1 lost its gpulease.io/lent taint");
  });

  it("writes nothing for a lent node that has both its taint and the operator's record", () => {
    const snap = snapshot({
      ...base,
      nodes: [
        node("n1", {
          lent: true,
          lentTaint: true,
          lentMark: true,
          labels: { "gpulease.io/lendable": "true", "gpulease.io/state": "Lent" },
        }),
      ],
      leases: [active("n1")],
    });
    const plan = planCluster(snap);
    expect([...plan.lendNodes, ...plan.nodeChanges]).toEqual([]);
    expect(plan.events.filter((e) => e.reason === "LentTaintRestored")).toEqual([]);
  });
});

describe("an internal GPU pod running on a lent node", () => {
  const intruder = pod("training", "greedy", {
    nodeName: "n1",
    phase: "Running",
    gpus: { "nvidia.com/gpu": 4 },
  });

  it("is reported on the node and the pod, and the lease placed there turns Ready=False with the reason", () => {
    const snap = snapshot({
      ...base,
      nodes: [node("n1", { lent: true })],
      leases: [active("n1")],
      pods: [intruder],
    });
    const plan = planCluster(snap);
    expect(plan.internalOnLentNodes.map((i) => [i.node, i.gpus, i.pods.map((p) => p.name)])).toEqual([
      ["n1", 4, ["greedy"]],
    ]);
    expect(plan.events).toContainEqual(
      expect.objectContaining({ kind: "Node", name: "n1", reason: "InternalPodOnLentNode" }),
    );
    expect(plan.events).toContainEqual(
      expect.objectContaining({ kind: "Pod", namespace: "training", name: "greedy", reason: "OnLentNode" }),
    );
    const ready = plan.leaseStatuses
      .find((s) => s.lease.name === "train")
      ?.status.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "InternalPodOnNode" });
    expect(ready?.message).toContain("4 on n1");
    expect(plan.events).toContainEqual(
      expect.objectContaining({ kind: "GpuLease", reason: "InternalPodOnNode" }),
    );
    expect(renderStatus(snap)).toContain("internal pod(s) on lent node n1 hold 4 GPUs: training/greedy");
  });

  it("leaves the lease Ready when no internal pod is there", () => {
    const plan = planCluster(
      snapshot({ ...base, nodes: [node("n1", { lent: true })], leases: [active("n1")] }),
    );
    expect(plan.internalOnLentNodes).toEqual([]);
    const ready = plan.leaseStatuses
      .find((s) => s.lease.name === "train")
      ?.status.conditions?.find((c) => c.type === "Ready");
    expect(ready?.status ?? "True").toBe("True");
  });
});

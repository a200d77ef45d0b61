import { describe, expect, it } from "vitest";
import type { CheckState, KueueWorkloadView } from "../../../src/core/kueue-check.ts";
import type { LeaseView, PodView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60_000;

function active(ns: string, name: string, gpus: number, nodes: string[]): LeaseView {
  return lease(
    ns,
    name,
    { gpus },
    {
      status: {
        phase: "Active",
        admittedAt: iso(T0 - 60 * MIN),
        allocations: nodes.map((n) => ({ node: n, gpus: gpus / nodes.length, since: iso(T0 - 60 * MIN) })),
        pricing: { perGpuHour: "1", currency: "USD" },
      },
    },
  );
}

/** A Workload of `pods` pods of `gpusEach` GPUs, waiting on check `capacity` in `state`. */
function workload(
  name: string,
  pods: number,
  gpusEach: number,
  over: Partial<KueueWorkloadView> & { pod?: Partial<PodView> } = {},
): KueueWorkloadView {
  const { pod: podOver, ...rest } = over;
  return {
    namespace: "training",
    name,
    uid: `wl-${name}`,
    createdAt: T0 - 1000,
    check: "capacity",
    state: "Pending" as CheckState,
    message: "",
    pods: Array.from({ length: pods }, (_, i) =>
      pod("training", `${name}/main-${i}`, {
        gpus: { "nvidia.com/gpu": gpusEach },
        unschedulable: true,
        unschedulableSince: T0 - 1000,
        createdAt: T0 - 1000,
        group: `kueue/${name}`,
        groupSize: pods,
        ...podOver,
      }),
    ),
    ...rest,
  };
}

const tenants = {
  namespaces: [tenantNs("acme-ns", "acme")],
  quotas: [quota("acme", { reclaimNotice: "2m" })],
};

const kueue = (...workloads: KueueWorkloadView[]) => ({
  workloads,
  admissionChecks: [{ name: "capacity", active: true }],
});

describe("Kueue AdmissionCheck gpulease.io/capacity", () => {
  it("marks a Workload Ready at once when its pods fit free internal nodes, and reclaims nothing", () => {
    const plan = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("free"), node("lent", { lent: true })],
        leases: [active("acme-ns", "work", 8, ["lent"])],
        kueue: kueue(workload("fits", 1, 8)),
      }),
    );
    expect(plan.kueue.checks).toEqual([
      expect.objectContaining({ name: "fits", check: "capacity", state: "Ready" }),
    ]);
    expect(plan.reclaims).toEqual([]);
  });

  it("reclaims for all pod sets at once, and the check says how many GPUs from how many leases until when", () => {
    const plan = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("a", { lent: true }), node("b", { lent: true }), node("c", { lent: true })],
        leases: [active("acme-ns", "one", 8, ["a"]), active("acme-ns", "two", 16, ["b", "c"])],
        kueue: kueue(workload("big", 3, 8)),
      }),
    );
    expect(plan.reclaims.map((r) => r.demand.key)).toEqual(["training/kueue/big"]);
    expect(plan.reclaims[0]?.nodes).toEqual(["a", "b", "c"]);
    const deadline = iso(T0 + 2 * MIN);
    expect(plan.kueue.checks).toEqual([
      {
        namespace: "training",
        name: "big",
        check: "capacity",
        state: "Pending",
        message: `reclaiming 24 GPUs from 2 lease(s); capacity back at ${deadline}`,
        announces: [
          { namespace: "acme-ns", name: "one" },
          { namespace: "acme-ns", name: "two" },
        ],
      },
    ]);
    // The Workload learns of the deadline only after the leases' notices are written.
    const check = plan.actions.find((a) => a.kind === "kueueCheck");
    expect(check?.requires.sort()).toEqual(["status/acme-ns/one", "status/acme-ns/two"]);
  });

  it("never reclaims for a Workload in a tenant's namespace: a tenant cannot queue its way to another's GPUs", () => {
    const inTenant = workload("sneaky", 3, 8, { namespace: "acme-ns", pod: { namespace: "acme-ns" } });
    const world = {
      ...tenants,
      namespaces: [...tenants.namespaces, tenantNs("rival-ns", "rival")],
      quotas: [...tenants.quotas, quota("rival", { reclaimNotice: "2m" })],
      nodes: [node("a", { lent: true }), node("b", { lent: true }), node("c", { lent: true })],
      leases: [active("rival-ns", "one", 8, ["a"]), active("rival-ns", "two", 16, ["b", "c"])],
    };
    // The same Workload outside tenant namespaces would take all three nodes (the test above).
    expect(planCluster(snapshot({ ...world, kueue: kueue(workload("big", 3, 8)) })).reclaims).toHaveLength(1);
    const plan = planCluster(snapshot({ ...world, kueue: kueue(inTenant) }));
    expect(plan.reclaims).toEqual([]);
    expect(plan.noticesGiven).toEqual([]);
  });

  it("keeps the check Pending, message unchanged, while the nodes come back; Ready once they are internal", () => {
    const message = `reclaiming 8 GPUs from 1 lease(s); capacity back at ${iso(T0 + MIN)}`;
    const reclaiming = lease(
      "acme-ns",
      "work",
      { gpus: 8 },
      {
        status: {
          phase: "Reclaiming",
          admittedAt: iso(T0 - 60 * MIN),
          allocations: [{ node: "a", gpus: 8, since: iso(T0 - 60 * MIN) }],
          reclaim: { requestedAt: iso(T0 - MIN), deadline: iso(T0 + MIN), nodes: ["a"], gpus: 8 },
        },
      },
    );
    const during = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("a", { lent: true, returning: true })],
        leases: [reclaiming],
        kueue: kueue(workload("wl", 1, 8, { message })),
      }),
    );
    expect(during.reclaims).toEqual([]); // the returning node already serves it
    expect(during.kueue.checks).toEqual([]);
    const after = planCluster(
      snapshot({ ...tenants, nodes: [node("a")], kueue: kueue(workload("wl", 1, 8, { message })) }),
    );
    expect(after.kueue.checks).toEqual([expect.objectContaining({ name: "wl", state: "Ready" })]);
  });

  it("rejects a Workload that would not fit even on an empty cluster, saying no reclaim can help", () => {
    const plan = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("a", { lent: true })],
        leases: [active("acme-ns", "work", 8, ["a"])],
        kueue: kueue(workload("huge", 2, 8)),
      }),
    );
    expect(plan.reclaims).toEqual([]);
    expect(plan.noticesGiven).toEqual([]);
    const [check] = plan.kueue.checks;
    expect(check?.state).toBe("Rejected");
    expect(check?.message).toContain("no reclaim can help: 16 GPUs needed");
  });

  it("asks Kueue to retry a Workload that internal work crowds out, when no lent node would help", () => {
    const busy = pod("other", "busy", { nodeName: "a", phase: "Running", gpus: { "nvidia.com/gpu": 8 } });
    const plan = planCluster(
      snapshot({ ...tenants, nodes: [node("a")], pods: [busy], kueue: kueue(workload("wl", 1, 8)) }),
    );
    const [check] = plan.kueue.checks;
    expect(check?.state).toBe("Retry");
    expect(check?.message).toContain("no reclaim can help now");
  });

  it("reclaims only nodes the flavor's node labels allow", () => {
    const plan = planCluster(
      snapshot({
        ...tenants,
        nodes: [
          node("h100", { lent: true, labels: { pool: "h100" } }),
          node("a100", { lent: true, labels: { pool: "a100" } }),
        ],
        leases: [active("acme-ns", "on-h100", 8, ["h100"]), active("acme-ns", "on-a100", 8, ["a100"])],
        kueue: kueue(workload("wl", 1, 8, { pod: { nodeSelector: { pool: "a100" } } })),
      }),
    );
    expect(plan.reclaims.map((r) => r.nodes)).toEqual([["a100"]]);
  });

  it("leaves Workloads whose check is no longer Pending alone, and activates inactive checks", () => {
    const plan = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("a", { lent: true })],
        leases: [active("acme-ns", "work", 8, ["a"])],
        kueue: {
          workloads: [workload("done", 1, 8, { state: "Ready" })],
          admissionChecks: [
            { name: "capacity", active: false },
            { name: "other", active: true },
          ],
        },
      }),
    );
    expect(plan.reclaims).toEqual([]);
    expect(plan.kueue.checks).toEqual([]);
    expect(plan.kueue.activate).toEqual(["capacity"]);
    expect(plan.actions.filter((a) => a.kind === "admissionCheckActive").map((a) => a.id)).toEqual([
      "admissioncheck/capacity",
    ]);
  });

  it("holds the room of a Workload just admitted until its Job's pods appear: no second Ready for it", () => {
    const admitted = workload("first", 1, 8, {
      state: "Ready",
      admittedAt: T0 - 2000,
      jobGroup: "job/first",
    });
    const second = workload("second", 1, 8, { createdAt: T0 - 500 });
    const plan = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("free"), node("lent", { lent: true })],
        leases: [active("acme-ns", "work", 8, ["lent"])],
        kueue: kueue(admitted, second),
      }),
    );
    // The free node is the first Workload's: the second gets the lent node back, with notice.
    expect(plan.kueue.checks).toEqual([
      expect.objectContaining({
        name: "second",
        state: "Pending",
        message: expect.stringContaining("reclaiming 8"),
      }),
    ]);
    expect(plan.reclaims.map((r) => r.nodes)).toEqual([["lent"]]);
  });

  it("releases that room once the Job's pods exist, or once the grace after admission is over", () => {
    const admitted = (admittedAt: number) =>
      workload("first", 1, 8, { state: "Ready", admittedAt, jobGroup: "job/first" });
    const placedPod = pod("training", "first-abc", {
      group: "job/first",
      nodeName: "busy",
      phase: "Running",
      gpus: { "nvidia.com/gpu": 8 },
    });
    const withPod = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("busy"), node("free")],
        pods: [placedPod],
        kueue: kueue(admitted(T0 - 2000), workload("second", 1, 8)),
      }),
    );
    expect(withPod.kueue.checks).toEqual([expect.objectContaining({ name: "second", state: "Ready" })]);
    const late = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("free")],
        kueue: kueue(admitted(T0 - 2 * MIN), workload("second", 1, 8)),
      }),
    );
    expect(late.kueue.checks).toEqual([expect.objectContaining({ name: "second", state: "Ready" })]);
  });

  it("does not lend the free node of a Workload just admitted while its pods are being created", () => {
    const plan = planCluster(
      snapshot({
        ...tenants,
        nodes: [node("free")],
        leases: [lease("acme-ns", "wants", { gpus: 8 })],
        kueue: kueue(
          workload("first", 1, 8, { state: "Ready", admittedAt: T0 - 1000, jobGroup: "job/first" }),
        ),
      }),
    );
    expect(plan.lendNodes).toEqual([]);
  });

  it("plans nothing for Kueue where Kueue is not installed", () => {
    const plan = planCluster(snapshot({ ...tenants, nodes: [node("a")] }));
    expect(plan.kueue).toEqual({ checks: [], activate: [] });
    expect(plan.actions.some((a) => a.kind === "kueueCheck" || a.kind === "admissionCheckActive")).toBe(
      false,
    );
  });
});

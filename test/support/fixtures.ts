/** Shared scenarios for unit tests. */
import type { ClusterSnapshot, LeaseView, PodView } from "../../src/core/model.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "./snapshot-builder.ts";

/**
 * A pass with a new reclaim and other writes: internal demand takes lent node "lent" from lease
 * "victim" (one running pod), while 8 gated pods of lease "busy" wait to be bound and 3 new leases to
 * be admitted.
 */
export function reclaimBesideBindings(): { snapshot: ClusterSnapshot; victim: LeaseView; running: PodView } {
  const admitted = new Date(T0 - 3_600_000).toISOString();
  const active = (name: string, nodeName: string) =>
    lease(
      "a-ns",
      name,
      { gpus: 8 },
      {
        status: {
          phase: "Active",
          admittedAt: admitted,
          allocations: [{ node: nodeName, gpus: 8, since: admitted }],
        },
      },
    );
  const victim = active("victim", "lent");
  const busy = active("busy", "lent2");
  const running = pod("a-ns", "victim-p", {
    lease: "victim",
    nodeName: "lent",
    phase: "Running",
    gpus: { "nvidia.com/gpu": 8 },
  });
  // Gated pods waiting to be bound to the other lease: non-urgent writes in the same pass.
  const gated = Array.from({ length: 8 }, (_, i) =>
    pod("a-ns", `busy-${i}`, {
      lease: "busy",
      gated: true,
      phase: "Pending",
      gpus: { "nvidia.com/gpu": 1 },
    }),
  );
  const training = pod("training", "train-0", {
    phase: "Pending",
    unschedulable: true,
    unschedulableSince: T0 - 5_000,
    gpus: { "nvidia.com/gpu": 8 },
  });
  const waiting = Array.from({ length: 3 }, (_, i) =>
    lease("a-ns", `new${i}`, { gpus: 1 }, { createdAt: T0 + i }),
  );
  return {
    victim,
    running,
    snapshot: snapshot({
      nodes: [
        node("lent", { lent: true }),
        node("lent2", { lent: true }),
        node("free", { gpus: { "nvidia.com/gpu": 4 } }),
      ],
      leases: [victim, busy, ...waiting],
      pods: [running, ...gated, training],
      namespaces: [tenantNs("a-ns", "a")],
      quotas: [quota("a", { limits: [{ maxGpus: 80 }] })],
    }),
  };
}

/**
 * An Active 8-GPU lease "acme-ns/train" on node n1, admitted an hour before T0, at 2 USD per GPU-hour,
 * metered up to `meteredGpuSeconds` (charges to match).
 */
export function activeTrainLease(meteredGpuSeconds: number): LeaseView {
  const admitted = new Date(T0 - 3_600_000).toISOString();
  return lease(
    "acme-ns",
    "train",
    { gpus: 8 },
    {
      status: {
        phase: "Active",
        admittedAt: admitted,
        allocations: [{ node: "n1", gpus: 8, since: admitted }],
        pricing: { perGpuHour: "2", currency: "USD" },
        usage: {
          gpuSeconds: meteredGpuSeconds,
          closedGpuSeconds: 0,
          charges: ((meteredGpuSeconds / 3600) * 2).toFixed(2),
        },
      },
    },
  );
}

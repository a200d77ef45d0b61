import { describe, expect, it } from "vitest";
import { type BindRefusal, PlanExecutor } from "../../../src/controller/executor.ts";
import type { PodView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import { InvalidError } from "../../../src/kube/errors.ts";
import type { EventRecorder } from "../../../src/kube/events.ts";
import type { ClusterWriter } from "../../../src/kube/writers.ts";
import { createLogger } from "../../../src/observability/logger.ts";
import { Metrics } from "../../../src/observability/metrics.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const iso = (ms: number) => new Date(ms).toISOString();

describe("the executor and a refused bind", () => {
  it("hands the refusal to the shell, binds the other pods, and counts no failure", async () => {
    const snap = snapshot({
      namespaces: [tenantNs("a-ns", "a")],
      quotas: [quota("a")],
      nodes: [node("n1", { lent: true })],
      leases: [
        lease(
          "a-ns",
          "l",
          { gpus: 8 },
          {
            status: {
              phase: "Active",
              admittedAt: iso(T0),
              allocations: [{ node: "n1", gpus: 8, since: iso(T0) }],
              pricing: { perGpuHour: "1", currency: "USD" },
            },
          },
        ),
      ],
      pods: ["stuck", "fine"].map((name) => pod("a-ns", name, { gated: true, lease: "l" })),
    });
    const plan = planCluster(snap);
    expect(plan.bindings.map((b) => b.pod.name).sort()).toEqual(["fine", "stuck"]);
    const bound: string[] = [];
    const writer = {
      caches: { namespaces: { get: () => undefined } },
      bindPod: async (p: PodView) => {
        if (p.name === "stuck")
          throw new InvalidError(
            422,
            { message: "spec: Forbidden: only narrowing is allowed" },
            "PATCH",
            "/x",
          );
        bound.push(p.name);
      },
      changeNode: async () => ({ returningSince: undefined }),
      writeLeaseStatus: async () => {},
      writeQuotaStatus: async () => {},
      addFinalizer: async () => {},
      resourceQuotaUpToDate: () => true,
      ensureResourceQuota: async () => {},
    } as unknown as ClusterWriter;
    const events = { enqueue: () => {} } as unknown as EventRecorder;
    const executor = new PlanExecutor(writer, events, createLogger("silent"), new Metrics(false));
    const refusals: BindRefusal[] = [];
    executor.onBindRefused = (r) => refusals.push(r);
    const result = await executor.execute(plan);
    expect(bound).toEqual(["fine"]);
    expect(refusals.map((r) => [r.pod.name, r.lease, r.node, r.message])).toEqual([
      ["stuck", "l", "n1", "spec: Forbidden: only narrowing is allowed"],
    ]);
    expect(result.failures).toEqual([]);
  });
});

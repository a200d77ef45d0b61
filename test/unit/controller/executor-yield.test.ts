import { describe, expect, it } from "vitest";
import { PlanExecutor } from "../../../src/controller/executor.ts";
import type { PodView } from "../../../src/core/model.ts";
import { planCluster } from "../../../src/core/planner.ts";
import type { EventRecorder } from "../../../src/kube/events.ts";
import type { ClusterWriter } from "../../../src/kube/writers.ts";
import { createLogger } from "../../../src/observability/logger.ts";
import { Metrics } from "../../../src/observability/metrics.ts";
import { reclaimBesideBindings } from "../../support/fixtures.ts";

/** A writer that records what the executor sent, in order. */
function recordingWriter(sent: string[]): ClusterWriter {
  return {
    caches: { namespaces: { get: () => undefined } },
    bindPod: async (p: PodView) => void sent.push(`bind ${p.name}`),
    noticePod: async (p: PodView) => void sent.push(`notice ${p.name}`),
    changeNode: async () => ({ returningSince: undefined }),
    writeLeaseStatus: async (_ns: string, name: string) => void sent.push(`status ${name}`),
    writeQuotaStatus: async () => void sent.push("quota status"),
    addFinalizer: async () => {},
    resourceQuotaUpToDate: () => true,
    ensureResourceQuota: async () => {},
    ensurePriorityQuota: async () => {},
  } as unknown as ClusterWriter;
}

describe("a pass when internal demand arrives", () => {
  const events = { enqueue: () => {} } as unknown as EventRecorder;
  const plan = planCluster(reclaimBesideBindings().snapshot);

  it("without new demand, carries out the whole batch, the reclaim first", async () => {
    const sent: string[] = [];
    const executor = new PlanExecutor(
      recordingWriter(sent),
      events,
      createLogger("silent"),
      new Metrics(false),
    );
    executor.shouldYield = () => false;
    const result = await executor.execute(plan);
    expect(sent.slice(0, 2)).toEqual(["status victim", "notice victim-p"]);
    expect(sent.filter((w) => w.startsWith("bind"))).toHaveLength(8);
    expect(result.yielded).toBe(0);
  });

  it("stops after the urgent writes and asks for the next pass at once", async () => {
    const sent: string[] = [];
    // Demand arrives while the reclaim's notice is being written.
    let demand = false;
    const writer = recordingWriter(sent);
    const noticePod = writer.noticePod.bind(writer);
    Object.assign(writer, {
      noticePod: async (...args: Parameters<ClusterWriter["noticePod"]>) => {
        demand = true;
        await noticePod(...args);
      },
    });
    const yielding = new PlanExecutor(writer, events, createLogger("silent"), new Metrics(false));
    yielding.shouldYield = () => demand;
    const result = await yielding.execute(plan);
    // The reclaim went out whole; nothing else of the pass did.
    expect(sent).toEqual(["status victim", "notice victim-p"]);
    expect(result.yielded).toBeGreaterThanOrEqual(8);
    expect(result.truncated).toBe(true);
    expect(result.failures).toEqual([]);
  });
});

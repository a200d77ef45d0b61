/**
 * The operator killed (SIGKILL) in the middle of a reclaim: after the notice was written, and right
 * after its first eviction. The restarted operator must neither give a second notice nor evict early,
 * and must finish the reclaim. The API server's audit log is the witness of who evicted what, and when.
 */
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { GpuLease } from "../../src/api/index.ts";
import {
  type AuditEntry,
  controlPlaneControl,
  OPERATOR_USER,
  operatorKubeconfig,
  readAudit,
  tailAudit,
} from "../support/control-plane.ts";
import {
  addPool,
  createInternalJob,
  createLease,
  createLeasedPod,
  createTenant,
  getLease,
  leaseWhere,
  phaseIs,
  podsOf,
  uniqueId,
} from "../support/gpulease.ts";
import { createTestNamespace, eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";

const control = controlPlaneControl();
const pool = uniqueId("pool-opkill");
let clients: KubeClients;
let internalNs: string;
const running: OperatorProcess[] = [];

beforeAll(async () => {
  if (!control) return;
  clients = kubeClients(inject("kubeconfig"));
  internalNs = await createTestNamespace(clients, "training");
});

afterEach(async () => {
  for (const op of running.splice(0)) expect(await op.stop()).toBe(0);
});

/** Starts an operator as gpulease-operator (so the audit log tells its writes apart). */
async function startOperator(): Promise<OperatorProcess> {
  const op = new OperatorProcess({
    kubeconfig: operatorKubeconfig(),
    config: { lendableNodeSelector: { "gpulease.io/pool": pool }, evictionGrace: "3s" },
  });
  await op.start();
  running.push(op);
  return op;
}

async function kill(op: OperatorProcess): Promise<void> {
  await op.kill();
  running.splice(running.indexOf(op), 1);
}

/** An interruptible lease of whole nodes with one running 8-GPU pod per node. */
async function leaseWithPods(nodes: number, reclaimNotice: string) {
  const group = uniqueId("grp");
  const names = await addPool(clients, pool, nodes, { labels: { "test-group": group }, product: group });
  const { namespaces } = await createTenant(clients, { reclaimNotice });
  const [ns] = namespaces as [string];
  await createLease(clients, ns, "work", { gpus: 8 * nodes, gpusPerNode: 8, gpuModel: group });
  const active = await leaseWhere(clients, ns, "work", "Active", phaseIs("Active"));
  // The ResourceQuota may follow the Active status by a few milliseconds: retry as a controller would.
  for (let i = 0; i < nodes; i++)
    await eventually(`pod worker-${i} admitted by the quota`, () =>
      createLeasedPod(clients, ns, `worker-${i}`, "work", 8, { app: "worker" }),
    );
  const pods = await eventually("tenant pods Running", async () => {
    const list = await podsOf(clients, ns, "app=worker");
    return list.length === nodes && list.every((p) => p.status?.phase === "Running") ? list : undefined;
  });
  // No pod bound outside the lease's written allocation, no node's GPUs promised beyond 8.
  const allocated = new Map((active.status?.allocations ?? []).map((a) => [a.node, a.gpus]));
  for (const pod of pods) expect(allocated.has(pod.spec?.nodeName ?? "")).toBe(true);
  for (const node of names) expect(allocated.get(node)).toBe(8);
  return { ns, group, nodes: names };
}

/** The operator's evictions (or deletions) of the pods of `ns`, from the audit log. */
function evictionsIn(entries: AuditEntry[], ns: string): AuditEntry[] {
  return entries.filter(
    (e) =>
      e.username === OPERATOR_USER &&
      e.objectRef.namespace === ns &&
      e.objectRef.resource === "pods" &&
      ((e.verb === "create" && e.objectRef.subresource === "eviction") ||
        (e.verb === "delete" && e.objectRef.subresource === undefined)),
  );
}

async function reasonsOn(ns: string, name: string): Promise<string[]> {
  const list = await clients.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${name}`,
  });
  // One Event object per notice (the operator never aggregates with count), but count it anyway.
  return list.items.flatMap((e) => Array.from({ length: e.count ?? 1 }, () => e.reason ?? ""));
}

/** The end state every reclaim must reach: Reclaimed, billed to the deadline, the nodes internal again. */
async function expectReclaimCompleted(ns: string, nodes: string[], job: string, deadline: number) {
  const ended = await leaseWhere(clients, ns, "work", "Ended (Reclaimed)", phaseIs("Ended"), 30_000);
  expect(ended.status?.endReason).toBe("Reclaimed");
  expect(ended.status?.endedAt).toBe(new Date(deadline).toISOString());
  // Charges equal allocated GPU-time: 8 GPUs per node from admission to the deadline.
  const admittedAt = Date.parse(ended.status?.admittedAt ?? "");
  const expected = Math.floor((8 * nodes.length * (deadline - admittedAt)) / 1000);
  expect(Math.abs((ended.status?.usage?.gpuSeconds ?? 0) - expected)).toBeLessThanOrEqual(1);
  const scheduled = await eventually(
    "the internal pod run on a returned node",
    async () =>
      // kwok runs a Job's pod to completion at once: Running or Succeeded both mean it ran.
      (await podsOf(clients, internalNs, `app=${job}`)).find(
        (p) => p.spec?.nodeName && ["Running", "Succeeded"].includes(p.status?.phase ?? ""),
      ),
    30_000,
  );
  expect(nodes).toContain(scheduled.spec?.nodeName);
  // The namespace's ResourceQuota equals its Active leases: none.
  await eventually("ResourceQuota back to 0 GPUs", async () => {
    const rq = await clients.core.readNamespacedResourceQuota({ name: "gpulease", namespace: ns });
    return rq.spec?.hard?.["requests.nvidia.com/gpu"] === "0" ? true : undefined;
  });
  for (const name of nodes) {
    const node = await eventually(`node ${name} internal again`, async () => {
      const n = await clients.core.readNode({ name });
      return n.metadata?.labels?.["gpulease.io/state"] === "Internal" ? n : undefined;
    });
    expect(node.spec?.taints?.some((t) => t.key === "gpulease.io/lent") ?? false).toBe(false);
  }
  return ended;
}

describe.skipIf(!control)("the operator killed during a reclaim", () => {
  it("killed after the notice: the restarted operator gives no second notice and evicts at the original deadline", async () => {
    if (!control) return;
    let op = await startOperator();
    const { ns, group, nodes } = await leaseWithPods(1, "20s");
    const job = uniqueId("train");
    await createInternalJob(clients, internalNs, job, 1, 8, { "test-group": group });
    const noticed = await leaseWhere(clients, ns, "work", "Reclaiming", phaseIs("Reclaiming"), 20_000, 20);
    const reclaim = noticed.status?.reclaim;
    const deadline = Date.parse(reclaim?.deadline ?? "");
    await kill(op);
    const killedAt = Date.now();
    const leaseEventsAtKill = (await reasonsOn(ns, "work")).filter((r) => r === "ReclaimNotice").length;
    op = await startOperator();
    const restartedAt = Date.now();
    // The trigger: killed after the notice was written, and the new operator ran well before the deadline.
    expect(killedAt).toBeLessThan(deadline);
    expect(restartedAt, "restart took longer than the notice").toBeLessThan(deadline - 2000);

    // The pod is told the original deadline (by the first operator, or by the second if the kill came first).
    await eventually("the pod told the original deadline", async () => {
      const [pod] = await podsOf(clients, ns, "app=worker");
      return pod?.metadata?.annotations?.["gpulease.io/reclaim-deadline"] === reclaim?.deadline
        ? true
        : undefined;
    });
    expect(Date.now()).toBeLessThan(deadline);
    const ended = await expectReclaimCompleted(ns, nodes, job, deadline);
    // The notice is the one written before the kill, given once.
    expect(ended.status?.reclaim?.deadline).toBe(reclaim?.deadline);
    expect(ended.status?.reclaim?.requestedAt).toBe(reclaim?.requestedAt);
    // At most one ReclaimNotice Event on the pod and on the lease, never a second: an Event still
    // queued when the operator died is lost (Events are best effort; the lease's status and the pod's
    // annotation, checked above, carry the notice).
    const podEvents = (await reasonsOn(ns, "worker-0")).filter((r) => r === "ReclaimNotice").length;
    expect(podEvents).toBeLessThanOrEqual(1);
    const leaseEvents = (await reasonsOn(ns, "work")).filter((r) => r === "ReclaimNotice").length;
    expect(leaseEvents).toBeLessThanOrEqual(1);
    // Evicted by the restarted operator, at the original deadline and not before.
    const evictions = evictionsIn(readAudit(control.handle.dir), ns);
    expect(evictions.length, "the operator evicted the tenant's pod").toBeGreaterThan(0);
    for (const e of evictions)
      expect(e.at, `evicted at ${e.stageTimestamp}`).toBeGreaterThanOrEqual(deadline);
    const first = Math.min(...evictions.map((e) => e.at));
    console.log(
      `[faults] killed ${deadline - killedAt} ms before the deadline, restarted in ${restartedAt - killedAt} ms; ` +
        `first eviction ${first - deadline} ms after the deadline; lease ReclaimNotice Events ${leaseEventsAtKill} at the kill, ${leaseEvents} in the end; pod ${podEvents}`,
    );
  });

  it("killed right after its first eviction: the restarted operator finishes the reclaim, evicting no pod twice", async () => {
    if (!control) return;
    let op = await startOperator();
    const { ns, group, nodes } = await leaseWithPods(2, "3s");
    const audit = tailAudit(control.handle.dir);
    const job = uniqueId("train");
    await createInternalJob(clients, internalNs, job, 2, 8, { "test-group": group });
    const noticed = await leaseWhere(clients, ns, "work", "Reclaiming", phaseIs("Reclaiming"), 20_000, 20);
    const deadline = Date.parse(noticed.status?.reclaim?.deadline ?? "");
    // Watch the audit log every few ms; SIGKILL the operator as soon as its first eviction lands.
    const seen: AuditEntry[] = [];
    await eventually(
      "the operator's first eviction",
      async () => {
        seen.push(...audit.poll());
        return evictionsIn(seen, ns).length > 0 ? true : undefined;
      },
      20_000,
      2,
    );
    await kill(op);
    const killedAt = Date.now();
    seen.push(...audit.poll());
    const evictedBeforeKill = evictionsIn(seen, ns).filter((e) => e.at <= killedAt);
    const atKill: GpuLease = await getLease(clients, ns, "work");
    op = await startOperator();

    await expectReclaimCompleted(ns, nodes, job, deadline);
    const evictions = evictionsIn(readAudit(control.handle.dir), ns);
    for (const e of evictions)
      expect(e.at, `evicted at ${e.stageTimestamp}`).toBeGreaterThanOrEqual(deadline);
    // Each pod evicted once: an eviction the first operator made is not repeated by the second.
    const perPod = new Map<string, number>();
    for (const e of evictions.filter((x) => (x.code ?? 0) < 300))
      perPod.set(e.objectRef.name ?? "", (perPod.get(e.objectRef.name ?? "") ?? 0) + 1);
    expect([...perPod.keys()].sort()).toEqual(["worker-0", "worker-1"]);
    for (const [pod, n] of perPod) expect(n, `${pod} evicted ${n} times`).toBe(1);
    console.log(
      `[faults] killed ${killedAt - deadline} ms after the deadline, with ${evictedBeforeKill.length} of 2 evictions ` +
        `done and the lease ${atKill.status?.phase}; evictions in all: ${evictions
          .map((e) => `${e.objectRef.name} ${e.verb} ${e.code} +${e.at - deadline} ms`)
          .join(", ")}`,
    );
  });
});

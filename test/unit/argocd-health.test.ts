/**
 * The Argo CD health check of docs/argocd.md (config/argocd/gpulease-health.lua), run by gopher-lua —
 * the Lua interpreter Argo CD embeds, at Argo CD's version — against GpuLeases whose status the
 * planner wrote, converted to a Lua table as Argo CD converts them (hack/lua-health).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { API_GROUP, API_GROUP_VERSION, FINALIZER, type GpuLeaseStatus } from "../../src/api/index.ts";
import type { ClusterSnapshot, LeaseView, PodView } from "../../src/core/model.ts";
import { planCluster } from "../../src/core/planner.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../support/snapshot-builder.ts";

const REPO_ROOT = resolve(import.meta.dirname, "../..");
const SCRIPT = resolve(REPO_ROOT, "config/argocd/gpulease-health.lua");
const DOC = resolve(REPO_ROOT, "docs/argocd.md");
const HEALTH_KEY = `resource.customizations.health.${API_GROUP}_GpuLease`;
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

const healthSchema = z.object({ status: z.string(), message: z.string() });
type Health = z.infer<typeof healthSchema>;

let runner = "";

beforeAll(() => {
  // Built once (seconds; the Go modules come from the proxy the first time), then cached.
  const out = execFileSync("bash", [resolve(REPO_ROOT, "hack/build-lua-health.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  runner = out.trim().split("\n").at(-1) ?? "";
}, 300_000);

/** What Argo CD shows for the object: the runner's stderr (a Lua error) is in the thrown message. */
function health(object: object, script = SCRIPT): Health {
  const out = execFileSync(runner, [script], { input: JSON.stringify(object), encoding: "utf8" });
  return healthSchema.parse(JSON.parse(out));
}

/** The GpuLease as the API server serves it to Argo CD: undefined fields are gone once in JSON. */
function gpuLease(l: LeaseView, status: GpuLeaseStatus | undefined = l.status): object {
  return {
    apiVersion: API_GROUP_VERSION,
    kind: "GpuLease",
    metadata: {
      name: l.name,
      namespace: l.namespace,
      uid: l.uid,
      generation: l.generation,
      resourceVersion: "4711",
      creationTimestamp: iso(l.createdAt),
      ...(l.deleting ? { deletionTimestamp: iso(T0), deletionGracePeriodSeconds: 0 } : {}),
      ...(l.hasFinalizer ? { finalizers: [FINALIZER] } : {}),
    },
    spec: l.spec,
    ...(status === undefined ? {} : { status }),
  };
}

// One tenant allowed 8 GPUs on a pool of one 8-GPU node; leases younger than 10 minutes are not
// reclaimed, older ones with 2 minutes of notice.
const tenant = {
  namespaces: [tenantNs("acme-prod", "acme")],
  quotas: [quota("acme", { limits: [{ maxGpus: 8, maxReservedGpus: 8 }], minRuntime: "10m" })],
};
const internalTrainer: PodView = pod("training", "trainer", {
  gpus: { "nvidia.com/gpu": 8 },
  unschedulable: true,
  unschedulableSince: T0 - 1000,
  createdAt: T0 - MIN,
});

function world(leases: LeaseView[], over: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return snapshot({ ...tenant, nodes: [node("n1")], leases, ...over });
}

/** Plans the cluster and returns the leases with the statuses the operator would write. */
function step(snap: ClusterSnapshot): Map<string, LeaseView> {
  const plan = planCluster(snap);
  return new Map(
    snap.leases.map((l) => [
      l.name,
      { ...l, status: plan.leaseStatuses.find((s) => s.lease.uid === l.uid)?.status ?? l.status },
    ]),
  );
}

function get(leases: Map<string, LeaseView>, name: string): LeaseView {
  const found = leases.get(name);
  if (!found) throw new Error(`no lease ${name}`);
  return found;
}

// The first plan: "train" is admitted, "more" waits for quota, "huge" can never fit.
const admitted = step(
  world([
    lease("acme-prod", "train", { gpus: 8, duration: "2h" }, { createdAt: T0 - 1000 }),
    lease("acme-prod", "more", { gpus: 4 }),
    lease("acme-prod", "huge", { gpus: 9 }),
  ]),
);
const train = get(admitted, "train");
/** The cluster some time after the first plan, with n1 lent to "train". */
const later = (now: number, over: Partial<ClusterSnapshot> = {}, l: LeaseView = train) =>
  get(step(world([l], { now, nodes: [node("n1", { lent: true })], ...over })), l.name);

describe("the GpuLease health check in Argo CD", () => {
  it("is Progressing until the operator writes a status", () => {
    const fresh = lease("acme-prod", "fresh", { gpus: 1 });
    expect(health(gpuLease(fresh, undefined))).toEqual({
      status: "Progressing",
      message: "Waiting for the gpulease operator",
    });
    expect(health(gpuLease(fresh, {}))).toEqual({
      status: "Progressing",
      message: "Waiting for the gpulease operator",
    });
  });

  it("is Progressing while a lease waits for quota, and says why", () => {
    const more = get(admitted, "more");
    expect(more.status).toMatchObject({ phase: "Pending", reason: "QuotaExceeded" });
    expect(health(gpuLease(more))).toEqual({
      status: "Progressing",
      message: `QuotaExceeded: ${more.status.message}`,
    });
    expect(health(gpuLease(more)).message).toContain("holds 8 of 8 GPUs");
  });

  it("is Degraded when the operator cannot read the lease", () => {
    // What the operator writes for a lease its parser refuses (no other field of the status).
    const status: GpuLeaseStatus = {
      phase: "Pending",
      reason: "Malformed",
      message: "the operator cannot read this lease: spec.gpus must be a whole number",
    };
    expect(health(gpuLease(train, status))).toEqual({
      status: "Degraded",
      message: `Malformed: ${status.message}`,
    });
  });

  it("is Healthy while the lease runs", () => {
    expect(train.status).toMatchObject({ phase: "Active", reason: "Admitted" });
    expect(health(gpuLease(train))).toEqual({ status: "Healthy", message: "admitted: 8 GPUs on n1 (8)" });
    // A later plan keeps it so (conditions Ready=True, Admitted=True; no message change).
    expect(health(gpuLease(later(T0 + MIN)))).toEqual({
      status: "Healthy",
      message: "admitted: 8 GPUs on n1 (8)",
    });
  });

  it("stays Healthy but says so when the lease is at risk of a reclaim", () => {
    // Internal training waits for GPUs; the lease is protected by its minimum runtime for now.
    const atRisk = later(T0 + 5 * MIN, { pods: [internalTrainer] });
    expect(atRisk.status.phase).toBe("Active");
    const condition = atRisk.status.conditions?.find((c) => c.type === "AtRisk");
    expect(condition?.status).toBe("True");
    expect(health(gpuLease(atRisk))).toEqual({
      status: "Healthy",
      message: `At risk of reclaim: ${condition?.message}`,
    });
    expect(condition?.message).toContain("among the first a reclaim would take");
  });

  it("is Degraded when a node of the lease is not Ready", () => {
    const down = later(T0 + MIN, { nodes: [node("n1", { lent: true, ready: false })] });
    const ready = down.status.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "NodeUnavailable" });
    expect(health(gpuLease(down))).toEqual({
      status: "Degraded",
      message: "node n1 is not Ready: pods there cannot run until it recovers",
    });
  });

  it("keeps every warning when a lease at risk also loses a node", () => {
    // The planner rarely writes both (a lost node takes the lease out of the next reclaim), but the
    // conditions are independent: the check must not drop one, whatever their order.
    const atRisk = later(T0 + 5 * MIN, { pods: [internalTrainer] });
    const notReady = {
      type: "Ready",
      status: "False" as const,
      reason: "NodeUnavailable",
      message: "node n1 is not Ready: pods there cannot run until it recovers",
      lastTransitionTime: iso(T0 + 5 * MIN),
    };
    const others = (atRisk.status.conditions ?? []).filter((c) => c.type !== "Ready");
    const atRiskMessage = others.find((c) => c.type === "AtRisk" && c.status === "True")?.message;
    expect(atRiskMessage).toBeDefined();
    const expected = {
      status: "Degraded",
      message: `${notReady.message}; At risk of reclaim: ${atRiskMessage}`,
    };
    for (const conditions of [
      [...others, notReady],
      [notReady, ...others],
    ]) {
      expect(health(gpuLease(atRisk, { ...atRisk.status, conditions }))).toEqual(expected);
    }
  });

  it("warns in the message when the lease expires soon", () => {
    const expiring = later(T0 + 116 * MIN);
    expect(health(gpuLease(expiring))).toEqual({
      status: "Healthy",
      message: `the lease expires at ${iso(T0 + 120 * MIN)}; its pods will be evicted then`,
    });
  });

  it("is Degraded while its GPUs are reclaimed, with the deadline first", () => {
    const reclaiming = later(T0 + 10 * MIN, { pods: [internalTrainer] });
    const deadline = iso(T0 + 12 * MIN);
    expect(reclaiming.status).toMatchObject({ phase: "Reclaiming", reclaim: { deadline } });
    const result = health(gpuLease(reclaiming));
    expect(result).toEqual({
      status: "Degraded",
      message: `Reclaim deadline ${deadline}: ${reclaiming.status.message}`,
    });
    expect(result.message).toContain("internal training needs them");
  });

  it("is Suspended once reclaimed", () => {
    const reclaiming = later(T0 + 10 * MIN, { pods: [internalTrainer] });
    const reclaimed = later(T0 + 12 * MIN + 1000, {}, reclaiming);
    expect(reclaimed.status).toMatchObject({ phase: "Ended", endReason: "Reclaimed" });
    expect(health(gpuLease(reclaimed))).toEqual({
      status: "Suspended",
      message: `Reclaimed: ${reclaimed.status.message}`,
    });
  });

  it("is Suspended once expired", () => {
    const expired = later(T0 + 120 * MIN + 1000);
    expect(expired.status).toMatchObject({ phase: "Ended", endReason: "Expired" });
    expect(health(gpuLease(expired))).toEqual({
      status: "Suspended",
      message: "Expired: the lease expired after 2h",
    });
  });

  it("is Progressing while a released (deleted) lease waits for its finalizer, as for any deleted object", () => {
    const released = later(T0 + 30 * MIN, {}, { ...train, deleting: true });
    expect(released.status).toMatchObject({ phase: "Ended", endReason: "Released" });
    // Argo CD never runs a health check on an object with a deletionTimestamp.
    expect(health(gpuLease(released))).toEqual({ status: "Progressing", message: "Pending deletion" });
    // The script itself, should it see one.
    expect(health(gpuLease({ ...released, deleting: false }))).toEqual({
      status: "Suspended",
      message: "Released: the lease was deleted; its pods are being evicted",
    });
  });

  it("is Degraded when the lease was rejected, with the reason", () => {
    const huge = get(admitted, "huge");
    expect(huge.status).toMatchObject({ phase: "Ended", endReason: "Rejected", reason: "ExceedsQuota" });
    expect(health(gpuLease(huge))).toEqual({
      status: "Degraded",
      message: "Rejected (ExceedsQuota): the lease asks for 9 GPUs but tenant acme may hold at most 8",
    });
  });

  it("is Unknown for a phase it does not know", () => {
    expect(health({ ...gpuLease(train), status: { phase: "Hibernating" } })).toEqual({
      status: "Unknown",
      message: "Unknown phase Hibernating",
    });
  });

  it("runs as in Argo CD: no string library, so a script that needs one fails here too", () => {
    const script = join(mkdtempSync(join(tmpdir(), "gpulease-lua-")), "uses-string.lua");
    writeFileSync(script, 'return { status = "Healthy", message = string.upper(obj.kind) }\n');
    expect(() => health(gpuLease(train), script)).toThrow(/attempt to index a non-table object\(nil\)/);
  });
});

describe("docs/argocd.md", () => {
  it("embeds config/argocd/gpulease-health.lua exactly, under the argocd-cm key Argo CD reads", () => {
    const doc = readFileSync(DOC, "utf8");
    const blocks = [...doc.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => parse(m[1] ?? ""));
    const embedded = blocks
      .map((b) => (b as { data?: Record<string, unknown> } | null)?.data?.[HEALTH_KEY])
      .filter((v) => v !== undefined);
    expect(embedded, `docs/argocd.md must have one YAML block with data.${HEALTH_KEY}`).toHaveLength(1);
    expect(embedded[0], "docs/argocd.md is out of date: paste config/argocd/gpulease-health.lua").toBe(
      readFileSync(SCRIPT, "utf8"),
    );
  });
});

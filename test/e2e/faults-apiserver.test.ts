/**
 * The operator keeps its promises while the control plane fails under it: kube-apiserver killed in
 * the middle of a reclaim notice, etcd killed and restarted. The API server's audit log is the
 * witness of when the operator wrote what.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../harness/ports.ts";
import {
  controlPlaneControl,
  OPERATOR_USER,
  operatorKubeconfig,
  readAudit,
} from "../support/control-plane.ts";
import {
  addPool,
  createInternalJob,
  createLease,
  createLeasedPod,
  createTenant,
  leaseWhere,
  phaseIs,
  podsOf,
  reclaimNoticed,
  uniqueId,
} from "../support/gpulease.ts";
import { createTestNamespace, eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";

const control = controlPlaneControl();
const WATCHDOG_MS = 3000;
let clients: KubeClients;
let operator: OperatorProcess;
let metricsPort: number;
let internalNs: string;
const pool = uniqueId("pool-flt");

beforeAll(async () => {
  if (!control) return;
  clients = kubeClients(inject("kubeconfig"));
  internalNs = await createTestNamespace(clients, "training");
  metricsPort = await freePort();
  operator = new OperatorProcess({
    kubeconfig: operatorKubeconfig(),
    config: {
      lendableNodeSelector: { "gpulease.io/pool": pool },
      evictionGrace: "3s",
      watchdogTimeout: `${WATCHDOG_MS / 1000}s`,
      metricsPort,
    },
  });
  await operator.start();
});

afterAll(async () => {
  if (operator) expect(await operator.stop()).toBe(0);
});

/** Polls the operator's /readyz in the background and records every answer with its time. */
function watchReadiness() {
  const answers: { at: number; ready: boolean; detail: string }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const response = await fetch(`http://127.0.0.1:${metricsPort}/readyz`, {
          signal: AbortSignal.timeout(1000),
        });
        answers.push({ at: Date.now(), ready: response.status === 200, detail: await response.text() });
      } catch (error) {
        answers.push({ at: Date.now(), ready: false, detail: `no answer: ${String(error)}` });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    answers,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Polls the API server until a request succeeds; resolves with that time. */
function firstAnswer(): Promise<number> {
  return eventually(
    "the API server answering",
    async () => {
      await clients.core.getAPIResources();
      return Date.now();
    },
    60_000,
    50,
  );
}

/** The operator's watchdog restarts so far, from its metrics. */
async function watchdogRestarts(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return text
    .split("\n")
    .filter(
      (line) => line.startsWith("gpulease_informer_restarts_total{") && line.includes('reason="watchdog"'),
    )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/** Waits for lease "after" to turn Active, then runs a pod under it and waits for it to be bound to
 * one of `nodes`; returns when the lease was seen Active. */
async function activeWithPodBound(ns: string, nodes: string[]): Promise<number> {
  await leaseWhere(clients, ns, "after", "Active", phaseIs("Active"), 30_000);
  const activeAt = Date.now();
  // The namespace's ResourceQuota admits the pod once the lease is Active. The operator raises the
  // quota before it writes Active, but kube-apiserver's quota admission reads its own cache of
  // ResourceQuotas, which can lag the write just after etcd came back: retry the create briefly, as a
  // tenant's Job controller would.
  await eventually(
    "the lease's pod admitted by the namespace's ResourceQuota",
    () => createLeasedPod(clients, ns, "worker", "after", 8, { app: "worker" }),
    10_000,
  );
  const bound = await eventually(
    "the lease's pod bound to the pool's node",
    async () => {
      const [pod] = await podsOf(clients, ns, "app=worker");
      return pod?.spec?.nodeName ? pod : undefined;
    },
    30_000,
  );
  expect(nodes).toContain(bound.spec?.nodeName);
  return activeAt;
}

/** The operator's successful writes the audit log recorded after `since`. */
function operatorWritesAfter(since: number) {
  if (!control) return [];
  return readAudit(control.handle.dir).filter(
    (e) => e.username === OPERATOR_USER && e.at >= since && (e.code ?? 0) >= 200 && (e.code ?? 0) < 300,
  );
}

describe.skipIf(!control)("the operator under control-plane faults", () => {
  it("kube-apiserver killed during a reclaim notice: no eviction before the deadline, the reclaim completes once the API is back", async () => {
    if (!control) return;
    const group = uniqueId("grp");
    const nodes = await addPool(clients, pool, 1, { labels: { "test-group": group }, product: group });
    const { namespaces } = await createTenant(clients, { reclaimNotice: "5s" });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "work", { gpus: 8, gpusPerNode: 8, gpuModel: group });
    await leaseWhere(clients, ns, "work", "Active", phaseIs("Active"));
    await createLeasedPod(clients, ns, "worker", "work", 8, { app: "worker" });
    await eventually("tenant pod Running", async () => {
      const [pod] = await podsOf(clients, ns, "app=worker");
      return pod?.status?.phase === "Running" ? true : undefined;
    });
    const job = uniqueId("train");
    await createInternalJob(clients, internalNs, job, 1, 8, { "test-group": group });
    const noticed = await reclaimNoticed(clients, ns, "work");
    const deadline = Date.parse(noticed.status?.reclaim?.deadline ?? "");
    await eventually("the pod told its deadline", async () => {
      const [pod] = await podsOf(clients, ns, "app=worker");
      return pod?.metadata?.annotations?.["gpulease.io/reclaim-deadline"] ? true : undefined;
    });

    const readiness = watchReadiness();
    // Taken before the call: the kill lands during it, and the watchdog clock starts there.
    const killedAt = Date.now();
    await control.stop("kube-apiserver", "SIGKILL");
    // The deadline passes while the API server is away.
    await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now()) + 1000));
    const restartedAt = Date.now();
    // "The API answers again": the first request that succeeds, which comes before /readyz says so.
    const answering = firstAnswer();
    await control.start("kube-apiserver");
    const apiBackAt = Date.now();
    const answeringAt = await answering;
    expect(killedAt).toBeLessThan(deadline);
    expect(restartedAt).toBeGreaterThan(deadline);

    const ended = await leaseWhere(clients, ns, "work", "Ended (Reclaimed)", phaseIs("Ended"), 40_000);
    expect(ended.status?.endReason).toBe("Reclaimed");
    const scheduled = await eventually(
      "the internal pod scheduled on the returned node",
      async () => (await podsOf(clients, internalNs, `app=${job}`)).find((p) => p.spec?.nodeName),
      30_000,
    );
    expect(nodes).toContain(scheduled.spec?.nodeName);
    await eventually("/readyz ready again", async () =>
      readiness.answers.some((a) => a.at > apiBackAt && a.ready) ? true : undefined,
    );
    await readiness.stop();

    // The witness: the operator's eviction of the tenant's pod, and when it happened.
    const audit = readAudit(control.handle.dir);
    const evictions = audit.filter(
      (e) =>
        e.username === OPERATOR_USER &&
        e.objectRef.namespace === ns &&
        e.objectRef.name === "worker" &&
        ((e.verb === "create" && e.objectRef.subresource === "eviction") ||
          (e.verb === "delete" && e.objectRef.subresource === undefined)),
    );
    expect(evictions.length, "the operator evicted the tenant's pod").toBeGreaterThan(0);
    for (const eviction of evictions) {
      expect(eviction.at, "evicted before the deadline").toBeGreaterThanOrEqual(deadline);
      expect(eviction.at, "evicted while the API server was down?").toBeGreaterThan(restartedAt);
    }
    const firstWrite = operatorWritesAfter(restartedAt)[0];
    expect(firstWrite).toBeDefined();
    // Its HTTP/2 connections died with the server: nothing escaped as an uncaught error.
    expect(() => operator.pid, "the operator process survived").not.toThrow();
    const firstEviction = Math.min(...evictions.map((e) => e.at));

    // Readiness: not ready once the watches had been down past the watchdog, ready again after.
    const notReady = readiness.answers.find((a) => !a.ready && a.at > killedAt);
    expect(notReady, "/readyz not ready during the outage").toBeDefined();
    expect(notReady?.at ?? 0).toBeGreaterThanOrEqual(killedAt + WATCHDOG_MS);
    expect(notReady?.detail).toContain("watch down past the watchdog");
    const readyAgain = readiness.answers.find((a) => a.ready && a.at > (notReady?.at ?? killedAt));
    expect(readyAgain, "/readyz ready again after the outage").toBeDefined();
    expect(readyAgain?.at ?? 0).toBeGreaterThan(restartedAt);

    console.log(
      `[faults] kube-apiserver down ${answeringAt - killedAt} ms (deadline ${deadline - killedAt} ms after the kill); ` +
        `API answering → operator's first write ${(firstWrite?.at ?? 0) - answeringAt} ms ` +
        `(${firstWrite?.verb} ${firstWrite?.objectRef.resource}/${firstWrite?.objectRef.subresource ?? ""}), ` +
        `→ eviction ${firstEviction - answeringAt} ms; /readyz 200 ${apiBackAt - answeringAt} ms after it answered; ` +
        `operator not ready ${notReady ? notReady.at - killedAt : "-"} ms ` +
        `after the kill, ready again ${readyAgain ? readyAgain.at - answeringAt : "-"} ms after the API answered`,
    );
  });

  it("etcd killed and restarted with its data: a lease created afterwards becomes Active and its pod is bound", async () => {
    if (!control) return;
    const group = uniqueId("grp");
    const nodes = await addPool(clients, pool, 1, { labels: { "test-group": group }, product: group });
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];

    const readiness = watchReadiness();
    await control.stop("etcd", "SIGKILL");
    const killedAt = Date.now();
    await new Promise((r) => setTimeout(r, WATCHDOG_MS + 3000));
    await control.start("etcd");
    const etcdBackAt = Date.now();

    // The API server answers again once its etcd client has reconnected.
    const createdAt = await eventually(
      "a lease created once the API server can write again",
      async () => {
        try {
          await createLease(clients, ns, "after", { gpus: 8, gpusPerNode: 8, gpuModel: group });
        } catch (error) {
          // An earlier attempt the API server completed after our client gave up on it.
          if ((error as { code?: number }).code !== 409) throw error;
        }
        return Date.now();
      },
      30_000,
      100,
    );
    const activeAt = await activeWithPodBound(ns, nodes);
    await eventually("/readyz ready again", async () =>
      readiness.answers.some((a) => a.at > etcdBackAt && a.ready) ? true : undefined,
    );
    await readiness.stop();

    // With etcd down, kube-apiserver still serves watches from its watch cache: the operator's
    // informers stay connected (only writes fail, and are retried), so it stays ready.
    const during = readiness.answers.filter((a) => a.at > killedAt && a.at < etcdBackAt);
    expect(during.length, "/readyz polled during the outage").toBeGreaterThan(10);
    expect(during.filter((a) => !a.ready).map((a) => a.detail)).toEqual([]);
    const firstWrite = operatorWritesAfter(etcdBackAt)[0];
    console.log(
      `[faults] etcd down ${etcdBackAt - killedAt} ms; etcd back → API writes again ${createdAt - etcdBackAt} ms; ` +
        `lease created → Active ${activeAt - createdAt} ms; operator's first write ${(firstWrite?.at ?? 0) - etcdBackAt} ms ` +
        `after etcd; /readyz ready in all ${during.length} polls during the outage`,
    );
  });

  it("kube-apiserver frozen (SIGSTOP): the silent watches trip the watchdog, /readyz says so, and all resumes after a thaw", async () => {
    if (!control) return;
    const group = uniqueId("grp");
    const nodes = await addPool(clients, pool, 1, { labels: { "test-group": group }, product: group });
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    const restartsBefore = await watchdogRestarts();

    const readiness = watchReadiness();
    const frozenAt = Date.now();
    await control.freeze("kube-apiserver");
    // A frozen server closes nothing: only the watchdog can tell. Frozen for two watchdog periods and more.
    await eventually(
      "/readyz not ready",
      async () => (readiness.answers.some((a) => a.at > frozenAt && !a.ready) ? true : undefined),
      4 * WATCHDOG_MS + 5000,
    );
    await control.thaw("kube-apiserver");
    const thawedAt = Date.now();

    await createLease(clients, ns, "after", { gpus: 8, gpusPerNode: 8, gpuModel: group });
    const createdAt = Date.now();
    const activeAt = await activeWithPodBound(ns, nodes);
    await eventually("/readyz ready again", async () =>
      readiness.answers.some((a) => a.at > thawedAt && a.ready) ? true : undefined,
    );
    await readiness.stop();

    const notReady = readiness.answers.find((a) => !a.ready && a.at > frozenAt);
    expect(notReady?.at ?? 0).toBeGreaterThanOrEqual(frozenAt + WATCHDOG_MS);
    expect(notReady?.detail).toContain("watch down past the watchdog");
    expect(await watchdogRestarts()).toBeGreaterThan(restartsBefore);
    const readyAgain = readiness.answers.find((a) => a.ready && a.at > thawedAt);
    console.log(
      `[faults] kube-apiserver frozen ${thawedAt - frozenAt} ms; /readyz not ready ${(notReady?.at ?? 0) - frozenAt} ms ` +
        `after the freeze, ready again ${(readyAgain?.at ?? 0) - thawedAt} ms after the thaw; ` +
        `lease created ${createdAt - thawedAt} ms after the thaw → Active ${activeAt - createdAt} ms`,
    );
  });
});

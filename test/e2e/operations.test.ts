import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../harness/ports.ts";
import { addPool, createLease, createTenant, leaseWhere, phaseIs, uniqueId } from "../support/gpulease.ts";
import { createTestNamespace, type KubeClients, kubeClients } from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";

let clients: KubeClients;
const running: OperatorProcess[] = [];

beforeAll(() => {
  clients = kubeClients(inject("kubeconfig"));
});

afterEach(async () => {
  for (const op of running.splice(0)) await op.kill();
});

function operator(config: Record<string, unknown>, readyMessage?: string): OperatorProcess {
  const op = new OperatorProcess({
    kubeconfig: inject("kubeconfig"),
    config,
    ...(readyMessage ? { readyMessage } : {}),
  });
  running.push(op);
  return op;
}

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, text: await response.text() };
}

describe("metrics and health", () => {
  it("serves controller-runtime and gpulease metrics, and health endpoints", async () => {
    const pool = uniqueId("pool-ops");
    const port = await freePort();
    const op = operator({ lendableNodeSelector: { "gpulease.io/pool": pool }, metricsPort: port });
    await op.start();
    await addPool(clients, pool, 1);
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "metered", { gpus: 4 });
    await leaseWhere(clients, ns, "metered", "Active", phaseIs("Active"));
    expect(await get(port, "/healthz")).toEqual({ status: 200, text: "ok" });
    expect(await get(port, "/readyz")).toEqual({ status: 200, text: "ok: leading" });
    const { text } = await get(port, "/metrics");
    expect(text).toMatch(
      /controller_runtime_reconcile_total\{controller="gpulease",result="success"\} [1-9]/,
    );
    expect(text).toContain("controller_runtime_reconcile_time_seconds_bucket");
    expect(text).toContain('workqueue_depth{name="gpulease",controller="gpulease"}');
    expect(text).toContain("workqueue_queue_duration_seconds_bucket");
    expect(text).toMatch(/gpulease_pool_gpus\{state="Lent",model="NVIDIA-H100-80GB-HBM3"\} [1-9]/);
    expect(text).toMatch(/gpulease_leases\{phase="Active",tenant="[^"]+"\} [1-9]/);
    expect(text).toMatch(/gpulease_admission_wait_seconds_count [1-9]/);
    expect(text).toMatch(/rest_client_requests_total\{method="PUT",code="200"\} [1-9]/);
    expect(text).toContain("process_resident_memory_bytes");
  });
});

describe("leader election", () => {
  it("lets one of two replicas work, and hands over within the lease duration when it dies", async () => {
    const pool = uniqueId("pool-le");
    const leaseNs = await createTestNamespace(clients, "gpulease-system");
    const config = {
      lendableNodeSelector: { "gpulease.io/pool": pool },
      leaderElection: {
        enabled: true,
        namespace: leaseNs,
        name: "gpulease",
        leaseDuration: "4s",
        renewDeadline: "3s",
        retryPeriod: "1s",
      },
    };
    const first = operator(config, "became the leader");
    await first.start();
    const second = operator(config, "caches synced: standing by for the leader lease");
    await second.start();
    await new Promise((r) => setTimeout(r, 3000));
    // Exactly one works: the standby has started no work loop and written nothing.
    expect(first.logs()).toContain('"msg":"operator started"');
    expect(second.logs()).not.toContain("became the leader");
    expect(second.logs()).not.toContain('"msg":"operator started"');
    expect(second.logs()).not.toContain("plan executed");

    const killedAt = Date.now();
    await first.kill();
    const tookOverAt = await second.waitForLog("became the leader", 15_000);
    expect(tookOverAt - killedAt).toBeLessThanOrEqual(4000 + 1000 + 500); // lease duration + retry period + polling
    // The new leader works.
    await addPool(clients, pool, 1);
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "after-handover", { gpus: 2 });
    await leaseWhere(clients, ns, "after-handover", "Active", phaseIs("Active"));
  });
});

describe("kubectl gpulease status", () => {
  it("shows the pool, the leases, the next expiries and the tenants", async () => {
    const pool = uniqueId("pool-cli");
    const op = operator({ lendableNodeSelector: { "gpulease.io/pool": pool } });
    await op.start();
    await addPool(clients, pool, 2);
    const { tenant, namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "shown", { gpus: 8, gpusPerNode: 8, duration: "3h" });
    await leaseWhere(clients, ns, "shown", "Active", phaseIs("Active"));
    const { execFileSync } = await import("node:child_process");
    const { resolve } = await import("node:path");
    const root = resolve(import.meta.dirname, "../..");
    const output = execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        resolve(root, "src/cli/kubectl-gpulease.ts"),
        "status",
        "--kubeconfig",
        inject("kubeconfig"),
        "--lendable-selector",
        `gpulease.io/pool=${pool}`,
      ],
      { cwd: root },
    ).toString();
    // Other test files' operators may have left nodes of their own pools lent: count only ours exactly.
    expect(output).toMatch(/POOL\s+\d+ lendable node\(s\)/);
    expect(output).toMatch(/Lent\s+\d+\s+\d+/);
    expect(output).toMatch(/Internal\s+1\s+8\s+8/);
    expect(output).toContain(`${ns}/shown`);
    expect(output).toMatch(/expires \(8 GPUs\)/);
    expect(output).toContain(tenant);
  });
});

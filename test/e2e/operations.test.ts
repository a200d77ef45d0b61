import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../harness/ports.ts";
import { addPool, createLease, createTenant, leaseWhere, phaseIs, uniqueId } from "../support/gpulease.ts";
import {
  createTestNamespace,
  eventually,
  type KubeClients,
  kubeClients,
  serverDryRun,
} from "../support/kube.ts";
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
    const { tenant, namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "metered", { gpus: 4 });
    await leaseWhere(clients, ns, "metered", "Active", phaseIs("Active"));
    // The log tells the same story as the Events, and names the tenant, the lease and the reconcile.
    await op.waitForLog('"event":"Admitted"');
    const admitted = op
      .logs()
      .split("\n")
      .filter((line) => line.includes('"event":"Admitted"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.lease === "metered");
    expect(admitted).toMatchObject({
      level: "info",
      namespace: ns,
      tenant,
      lease: "metered",
      controller: "gpulease",
      reconcileID: expect.stringMatching(/^[0-9a-f-]{36}$/),
      msg: expect.stringContaining("admitted: 4 GPUs on"),
    });
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
    // The incremental plans were checked against plans made from scratch, and never differed.
    expect(text).toMatch(/gpulease_plan_reference_checks_total [1-9]/);
    expect(text).not.toContain("gpulease_plan_divergences_total{");
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

describe("packaging", () => {
  it("renders config/default with kustomize, and the API server accepts every manifest (server-side dry run)", async () => {
    const { execFileSync } = await import("node:child_process");
    const kubeconfig = inject("kubeconfig");
    const rendered = execFileSync("kubectl", ["kustomize", "config/default"], {
      cwd: new URL("../..", import.meta.url).pathname,
    }).toString();
    for (const kind of [
      "CustomResourceDefinition",
      "Deployment",
      "ClusterRole",
      "MutatingAdmissionPolicy",
      "ValidatingAdmissionPolicy",
      "PodDisruptionBudget",
    ]) {
      expect(rendered).toContain(`kind: ${kind}`);
    }
    const result = await serverDryRun(kubeconfig, rendered);
    expect(result).toContain("deployment.apps/gpulease-operator serverside-applied (server dry run)");
    expect(result).toContain(
      "clusterrole.rbac.authorization.k8s.io/gpulease-tenant-editor serverside-applied (server dry run)",
    );
  });
});

describe("RBAC", () => {
  it("lets a namespace editor manage leases but never a quota, and gives the operator what it needs", async () => {
    const { execFileSync } = await import("node:child_process");
    const kubeconfig = inject("kubeconfig");
    const root = new URL("../..", import.meta.url).pathname;
    const rendered = execFileSync("kubectl", ["kustomize", "config/rbac"], { cwd: root }).toString();
    await clients.core
      .createNamespace({ body: { metadata: { name: "gpulease-system" } } })
      .catch(() => undefined);
    execFileSync(
      "kubectl",
      ["--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-"],
      { input: rendered },
    );
    const ns = await createTestNamespace(clients, "rbac", { "gpulease.io/tenant": "rbac-tenant" });
    execFileSync("kubectl", [
      "--kubeconfig",
      kubeconfig,
      "create",
      "rolebinding",
      "bob-edit",
      "--clusterrole=edit",
      "--user=tenant-bob",
      "-n",
      ns,
    ]);
    const can = (as: string, ...args: string[]) => {
      try {
        return execFileSync("kubectl", ["--kubeconfig", kubeconfig, "auth", "can-i", "--as", as, ...args])
          .toString()
          .trim();
      } catch (error) {
        return (error as { stdout?: Buffer }).stdout?.toString().trim() ?? "error";
      }
    };
    // Aggregation into "edit" happens asynchronously in the controller manager.
    await eventually("aggregated tenant role", async () =>
      can("tenant-bob", "create", "gpuleases", "-n", ns) === "yes" ? true : undefined,
    );
    expect(can("tenant-bob", "delete", "gpuleases", "-n", ns)).toBe("yes");
    expect(can("tenant-bob", "create", "tenantquotas")).toBe("no");
    expect(can("tenant-bob", "update", "gpuleases", "--subresource=status", "-n", ns)).toBe("no");
    const operatorSa = "system:serviceaccount:gpulease-system:gpulease-operator";
    // (kubectl auth can-i reads "a/b" as resource/name: subresources go in --subresource.)
    for (const args of [
      ["update", "gpuleases", "--subresource=status"],
      ["update", "tenantquotas", "--subresource=status"],
      ["patch", "nodes"],
      ["create", "pods", "--subresource=eviction"],
      ["patch", "pods", "--subresource=status"],
      ["patch", "pods"],
      ["create", "resourcequotas"],
      ["watch", "jobs.batch"],
      ["create", "events"],
    ]) {
      expect(can(operatorSa, ...args, "-A"), args.join(" ")).toBe("yes");
    }
    // The Kueue AdmissionCheck controller's rules, used only where Kueue is installed. `can-i` answers
    // "no" for a resource type the server does not serve, so the rules are read from `--list`.
    const listed = can(operatorSa, "--list").split("\n");
    for (const [resource, verbs] of [
      ["workloads.kueue.x-k8s.io", "[get list watch]"],
      ["admissionchecks.kueue.x-k8s.io", "[get list watch]"],
      ["resourceflavors.kueue.x-k8s.io", "[get list watch]"],
      ["workloads.kueue.x-k8s.io/status", "[get patch]"],
      ["admissionchecks.kueue.x-k8s.io/status", "[get patch]"],
    ]) {
      const row = listed.find((line) => line.split(/\s+/)[0] === resource);
      expect(row, resource).toContain(verbs);
    }
    expect(can(operatorSa, "update", "gpuleases", "-A")).toBe("yes"); // the finalizer
    expect(can(operatorSa, "update", "leases.coordination.k8s.io", "-n", "gpulease-system")).toBe("yes");
    expect(can(operatorSa, "create", "secrets", "-A")).toBe("no");
    expect(can(operatorSa, "update", "deployments", "-A")).toBe("no");
  });
});

/**
 * The shipped image, run as config/manager's Deployment runs it (non-root, read-only root filesystem,
 * the ConfigMap mounted at /etc/gpulease) and authenticated only by a token of the gpulease-operator
 * ServiceAccount, bound by config/rbac: proof that the shipped RBAC is enough for the operator's work,
 * and that it is refused what the operator has no business doing.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, createWriteStream, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiextensionsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1ResourceAttributes,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { freePort } from "../harness/ports.ts";
import {
  buildImage,
  detectEngine,
  engineCommand,
  operatorContainer,
  ROOT,
  runFlagsFor,
  shippedDeployment,
} from "../support/container.ts";
import { controlPlaneControl, readAudit } from "../support/control-plane.ts";
import {
  addPool,
  createInternalJob,
  createLease,
  createLeasedPod,
  createTenant,
  expectEvents,
  leaseWhere,
  phaseIs,
  podsOf,
  reclaimNoticed,
  uniqueId,
} from "../support/gpulease.ts";
import { createTestNamespace, eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { apiErrorCode } from "../support/manifest.ts";

const NAMESPACE = "gpulease-system";
const SERVICE_ACCOUNT = "gpulease-operator";
const OPERATOR_USER = `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`;
const BUILD_TIMEOUT_MS = 20 * 60_000; // a cold build makes the base image's root filesystem first

const engine = detectEngine();
if (!engine)
  console.warn(
    "[image] SKIPPED: neither a Docker engine nor podman here; install podman (apt-get install podman runc " +
      "mmdebstrap containernetworking-plugins iptables, as .ci/run does) to test the image",
  );

/** The kubeconfig's API server and CA, for the in-cluster variables and the mounted ca.crt. */
function apiServerOf(config: KubeConfig): { host: string; port: string; ca: string } {
  const cluster = config.getCurrentCluster();
  if (!cluster?.caData) throw new Error("the test kubeconfig has no certificate-authority-data");
  const url = new URL(cluster.server);
  return { host: url.hostname, port: url.port, ca: Buffer.from(cluster.caData, "base64").toString() };
}

/** Client of the API server with only the ServiceAccount token (what the operator has). */
function tokenConfig(admin: KubeConfig, token: string): KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error("no current cluster");
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [cluster],
    users: [{ name: SERVICE_ACCOUNT, token }],
    contexts: [{ name: "operator", cluster: cluster.name, user: SERVICE_ACCOUNT }],
    currentContext: "operator",
  });
  return config;
}

/** Every metric name the alerts, the dashboard and the README promise a user. */
function promisedMetrics(): Map<string, string> {
  const promised = new Map<string, string>();
  for (const file of [
    "config/prometheus/monitor.yaml",
    "config/grafana/gpulease-dashboard.json",
    "README.md",
  ]) {
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const [name] of text.matchAll(
      /\b(?:gpulease|controller_runtime|workqueue|rest_client|process|nodejs)_[a-z0-9_]+\b/g,
    ))
      if (!promised.has(name)) promised.set(name, file);
  }
  return promised;
}

/** The series names a /metrics page exports: each family, and a histogram's _bucket, _sum and _count. */
function exportedMetrics(page: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of page.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (!name) continue;
    names.add(name);
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    if (type === "summary") for (const suffix of ["_sum", "_count"]) names.add(name + suffix);
  }
  return names;
}

/** A directory the container's uid (1000) can read, holding these files. */
function readableDir(prefix: string, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const [name, content] of Object.entries(files))
    writeFileSync(join(dir, name), content, { mode: 0o644 });
  chmodSync(dir, 0o755);
  return dir;
}

describe.skipIf(!engine)("the operator's image, run as config/manager's Deployment", () => {
  let clients: KubeClients;
  let token: string;
  let metricsUrl: string;
  let container: ChildProcess;
  let exited: Promise<number | null>;
  let logFile: string;
  const name = uniqueId("gpulease-image");
  const pool = uniqueId("pool-img");
  const run = (args: string[]) => {
    const command = engineCommand(engine ?? "podman", args);
    return execFileSync(command.command, command.args, { cwd: ROOT, stdio: "pipe" }).toString();
  };
  const logs = () => readFileSync(logFile, "utf8");

  beforeAll(async () => {
    clients = kubeClients(inject("kubeconfig"));
    const started = Date.now();
    const image = buildImage(engine ?? "podman");
    console.log(`[image] ${image} built in ${Date.now() - started} ms`);
    const deployment = shippedDeployment();
    expect(operatorContainer(deployment).image, "the Deployment runs the image `make image` builds").toBe(
      image,
    );

    // The namespace and ServiceAccount of config/manager and everything in config/rbac, as shipped.
    const managerDocs = parseAllDocuments(readFileSync(join(ROOT, "config/manager/manager.yaml"), "utf8"))
      .map((d) => d.toJS() as { kind: string })
      .filter((d) => d.kind === "Namespace" || d.kind === "ServiceAccount");
    const rbac = execFileSync("kubectl", ["kustomize", "config/rbac"], { cwd: ROOT }).toString();
    execFileSync(
      "kubectl",
      ["--kubeconfig", inject("kubeconfig"), "apply", "--server-side", "--force-conflicts", "-f", "-"],
      { input: `${managerDocs.map((d) => stringify(d)).join("---\n")}---\n${rbac}` },
    );
    const request = await clients.core.createNamespacedServiceAccountToken({
      name: SERVICE_ACCOUNT,
      namespace: NAMESPACE,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    token = request.status?.token ?? "";
    expect(token).not.toBe("");

    const apiServer = apiServerOf(clients.config);
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
    const shippedConfig = parse(readFileSync(join(ROOT, "config/manager/operator-config.yaml"), "utf8"));
    const configDir = readableDir("gpulease-image-config-", {
      "operator-config.yaml": stringify({
        ...shippedConfig,
        // This file's own nodes, lent at once, a short grace; the host network needs a free port.
        lendableNodeSelector: { "gpulease.io/pool": pool },
        idlePeriod: "0s",
        headroomGpus: 0,
        expiryWarning: "1s",
        evictionGrace: "3s",
        metricsPort,
      }),
    });
    const serviceAccountDir = readableDir("gpulease-image-sa-", {
      token,
      "ca.crt": apiServer.ca,
      namespace: NAMESPACE,
    });
    const { flags, args } = runFlagsFor(deployment, {
      configMaps: { "gpulease-operator-config": configDir },
      serviceAccount: serviceAccountDir,
    });
    logFile = join(mkdtempSync(join(tmpdir(), "gpulease-image-log-")), "operator.log");
    const log = createWriteStream(logFile);
    const command = engineCommand(engine ?? "podman", [
      "run",
      "--rm",
      "--name",
      name,
      "--network=host", // the local control plane listens on the host's loopback
      // What the kubelet sets for the in-cluster client (the Service's address is the API server's here).
      "--env",
      `KUBERNETES_SERVICE_HOST=${apiServer.host}`,
      "--env",
      `KUBERNETES_SERVICE_PORT=${apiServer.port}`,
      ...flags,
      image,
      ...args,
    ]);
    container = spawn(command.command, command.args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    container.stdout?.pipe(log);
    container.stderr?.pipe(log);
    exited = new Promise((done) => container.on("exit", (code) => done(code)));
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    if (container && container.exitCode === null) {
      container.kill("SIGKILL");
      try {
        run(["rm", "--force", name]);
      } catch {
        // already gone
      }
    }
  });

  it("runs as uid 1000 on a read-only root filesystem and becomes the leader", async () => {
    const readiness = await eventually(
      "/readyz answering ok: leading",
      async () => {
        const response = await fetch(`${metricsUrl}/readyz`);
        const body = await response.text();
        return response.status === 200 && body.includes("ok: leading") ? body : undefined;
      },
      45_000, // under the test's timeout, so a failure shows the operator's log
      250,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\noperator log:\n${logs().slice(-3000)}`);
    });
    expect(readiness).toContain("ok: leading");
    expect(run(["exec", name, "id", "-u"]).trim()).toBe("1000");
    // The root filesystem refuses a write; /tmp (the Deployment's emptyDir) takes one.
    expect(() => run(["exec", name, "touch", "/app/written"])).toThrow();
    run(["exec", name, "touch", "/tmp/written"]);
    const leader = await clients.config
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: "gpulease-operator", namespace: NAMESPACE });
    const identity = /"identity":"([^"]+)"/.exec(logs())?.[1];
    expect(identity, "the operator logs its leader election identity").toBeTruthy();
    expect(leader.spec?.holderIdentity).toBe(identity);
  });

  it("admits a lease, binds its pod, reclaims with notice and evicts after the deadline", async () => {
    const group = uniqueId("grp");
    const [node] = await addPool(clients, pool, 1, { labels: { "test-group": group }, product: group });
    const { namespaces } = await createTenant(clients, { reclaimNotice: "3s" });
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "work", { gpus: 8, gpusPerNode: 8, gpuModel: group });
    await leaseWhere(clients, ns, "work", "Active", phaseIs("Active"));
    await createLeasedPod(clients, ns, "worker", "work", 8, { app: "worker" });
    const bound = await eventually("tenant pod Running on the lent node", async () => {
      const [pod] = await podsOf(clients, ns, "app=worker");
      return pod?.status?.phase === "Running" ? pod : undefined;
    });
    expect(bound.spec?.nodeName).toBe(node);

    const internalNs = await createTestNamespace(clients, "training");
    await createInternalJob(clients, internalNs, "train", 1, 8, { "test-group": group });
    const noticed = await reclaimNoticed(clients, ns, "work");
    const deadline = Date.parse(noticed.status?.reclaim?.deadline ?? "");
    expect(deadline - Date.parse(noticed.status?.reclaim?.requestedAt ?? "")).toBe(3000);
    await expectEvents(clients, ns, "work", ["ReclaimNotice"]);
    const evictedAt = await eventually(
      "tenant pod evicted",
      async () => {
        const [pod] = await podsOf(clients, ns, "app=worker");
        return !pod || pod.metadata?.deletionTimestamp ? Date.now() : undefined;
      },
      20_000,
      50,
    );
    expect(evictedAt).toBeGreaterThanOrEqual(deadline);
    const scheduled = await eventually("the internal Job's pod scheduled on the returned node", async () => {
      const [pod] = await podsOf(clients, internalNs, "app=train");
      return pod?.spec?.nodeName ? pod : undefined;
    });
    expect(scheduled.spec?.nodeName).toBe(node);
    const ended = await leaseWhere(clients, ns, "work", "Ended", phaseIs("Ended"));
    expect(ended.status?.endReason).toBe("Reclaimed");

    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^gpulease_leader 1$/m);
    expect(metrics).toMatch(/^gpulease_leases\{/m);
    expect(metrics).toMatch(/^gpulease_reclaim_eviction_delay_seconds_count(\{[^}]*\})? [1-9]/m);
  });

  it("exports every metric the alerts, the dashboard and the README name", async () => {
    const exported = exportedMetrics(await (await fetch(`${metricsUrl}/metrics`)).text());
    const promised = promisedMetrics();
    expect(promised.size).toBeGreaterThan(20);
    const missing = [...promised]
      .filter(([name]) => !exported.has(name))
      .map(([name, file]) => `${name} (${file})`);
    expect(missing).toEqual([]);
  });

  it("was never refused a request it made (the shipped RBAC is sufficient)", async () => {
    const control = controlPlaneControl();
    if (control) {
      // The audit log records the operator's writes: it saw them (not vacuous) and none was refused.
      const writes = readAudit(control.handle.dir).filter((e) => e.username === OPERATOR_USER);
      expect(writes.some((e) => e.objectRef.subresource === "eviction" && e.code === 201)).toBe(true);
      expect(writes.filter((e) => e.code === 403).map((e) => `${e.verb} ${e.objectRef.resource}`)).toEqual(
        [],
      );
    }
    // Reads are not audited: a refused list or watch shows as the REST client's ForbiddenError.
    expect(logs()).not.toContain("ForbiddenError");
  });

  it("is refused, under its ServiceAccount, what the operator has no business doing", async () => {
    const asOperator = tokenConfig(clients.config, token);
    const custom = asOperator.makeApiClient(CustomObjectsApi);
    // The token works where the operator has business: a refusal below is the authorizer's, not a bad token.
    const leases = await custom.listClusterCustomObject({
      group: "gpulease.io",
      version: "v1alpha1",
      plural: "gpuleases",
    });
    expect(leases).toHaveProperty("items");
    const refused = async (what: string, request: () => Promise<unknown>) => {
      const code = await request().then(
        () => 200,
        (error: unknown) => apiErrorCode(error),
      );
      expect(code, what).toBe(403);
    };
    const coreAsOperator = asOperator.makeApiClient(CoreV1Api);
    await refused("list secrets in its own namespace", () =>
      coreAsOperator.listNamespacedSecret({ namespace: NAMESPACE }),
    );
    await refused("list secrets anywhere", () => coreAsOperator.listSecretForAllNamespaces());
    await refused("list CustomResourceDefinitions", () =>
      asOperator.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition(),
    );
    const authorization = asOperator.makeApiClient(AuthorizationV1Api);
    const allowed = async (attributes: V1ResourceAttributes) =>
      (
        await authorization.createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: attributes } },
        })
      ).status?.allowed ?? false;
    // The positive control of the review itself: the eviction it needs is allowed, and so is answering
    // its Kueue admission check.
    expect(await allowed({ verb: "create", resource: "pods", subresource: "eviction", namespace: "x" })).toBe(
      true,
    );
    expect(
      await allowed({
        verb: "patch",
        resource: "workloads",
        subresource: "status",
        group: "kueue.x-k8s.io",
        namespace: "x",
      }),
    ).toBe(true);
    // The priority allow-list: that one ConfigMap of its namespace, no other.
    const allowList = { resource: "configmaps", namespace: NAMESPACE, name: "gpulease-tenant-admission" };
    expect(await allowed({ verb: "patch", ...allowList })).toBe(true);
    expect(await allowed({ verb: "watch", ...allowList })).toBe(true);
    const outOfBounds: V1ResourceAttributes[] = [
      { verb: "create", resource: "pods", subresource: "exec", namespace: "x" },
      { verb: "get", resource: "secrets", namespace: NAMESPACE },
      { verb: "create", resource: "pods", namespace: "x" },
      { verb: "delete", resource: "nodes" },
      { verb: "update", resource: "deployments", group: "apps", namespace: NAMESPACE },
      // Kueue: it reads Workloads and answers its own check on their status, never their spec.
      { verb: "patch", resource: "workloads", group: "kueue.x-k8s.io", namespace: "x" },
      { verb: "delete", resource: "workloads", group: "kueue.x-k8s.io", namespace: "x" },
      { verb: "patch", resource: "clusterqueues", group: "kueue.x-k8s.io" },
      { verb: "delete", resource: "limitranges", namespace: "x" },
      { verb: "create", resource: "gpuleases", group: "gpulease.io", namespace: "x" },
      { verb: "delete", resource: "tenantquotas", group: "gpulease.io" },
      { verb: "create", resource: "clusterrolebindings", group: "rbac.authorization.k8s.io" },
      { verb: "update", resource: "leases", group: "coordination.k8s.io", namespace: "kube-system" },
      { verb: "patch", resource: "configmaps", namespace: NAMESPACE, name: "gpulease-operator-config" },
      { verb: "list", resource: "configmaps", namespace: NAMESPACE },
      { verb: "patch", resource: "configmaps", namespace: "kube-system", name: "gpulease-tenant-admission" },
    ];
    for (const attributes of outOfBounds) {
      expect(await allowed(attributes), JSON.stringify(attributes)).toBe(false);
    }
  });

  it("stops with exit code 0 on SIGTERM", async () => {
    run(["kill", "--signal", "TERM", name]);
    expect(await exited).toBe(0);
    expect(logs()).toContain("SIGTERM");
  });
});

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type ControlPlaneBinaries, ensureBinaries } from "./binaries.ts";
import { createPki, type Pki } from "./pki.ts";
import { freePort } from "./ports.ts";
import { ManagedProcess } from "./process.ts";

export interface ControlPlaneOptions {
  /** Working directory for data, certificates, logs and the kubeconfig; a fresh temp dir by default. */
  dir?: string;
  /** Where to write the kubeconfig; `<dir>/kubeconfig` by default. */
  kubeconfigPath?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Keep the working directory after stop (for reading the component logs). */
  keepDir?: boolean;
  binaries?: ControlPlaneBinaries;
}

/** Annotation that makes kwok play the kubelet for a node. */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";

export type ComponentName = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";

export const COMPONENTS: readonly ComponentName[] = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
];

/**
 * What the API server's audit log records (`<dir>/logs/audit.log`, JSON lines): who wrote the objects
 * the operator's promises are about, and when. Reads and Events are left out to keep it small.
 */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete"]
    resources:
      - group: ""
        resources: ["pods", "pods/eviction", "pods/status", "nodes", "resourcequotas"]
      - group: "gpulease.io"
        resources: ["gpuleases", "gpuleases/status", "tenantquotas/status"]
  - level: None
`;

/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, and kwok as the kubelet of simulated nodes. One component at a time can be stopped,
 * frozen and started again (same command line, ports and data directory) to inject faults.
 */
export class ControlPlane {
  /** Components stopped on purpose: not crashed, and not to be waited for. */
  private readonly stoppedOnPurpose = new Set<string>();
  /** How to tell that a (re)started component serves again. */
  private readonly readiness = new Map<string, () => Promise<{ status: number; body: string }>>();

  private constructor(
    readonly dir: string,
    readonly kubeconfigPath: string,
    readonly server: string,
    readonly pki: Pki,
    private readonly processes: ManagedProcess[],
    private readonly keepDir: boolean,
  ) {}

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const log = options.log ?? (() => {});
    const binaries = options.binaries ?? (await ensureBinaries(log));
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), "gpulease-cp-"));
    mkdirSync(join(dir, "logs"), { recursive: true });
    mkdirSync(join(dir, "pki"), { recursive: true });
    const kubeconfigPath = options.kubeconfigPath ?? join(dir, "kubeconfig");
    const bin = (name: string) => join(binaries.binDir, name);
    const logFile = (name: string) => join(dir, "logs", `${name}.log`);
    const processes: ManagedProcess[] = [];
    const startedAt = Date.now();

    const ports = await distinctFreePorts(4);
    const [etcdPort, etcdPeerPort, apiPort, kwokPort] = ports as [number, number, number, number];
    const pki = createPki(join(dir, "pki"));
    const server = `https://127.0.0.1:${apiPort}`;
    writeKubeconfig(kubeconfigPath, server, pki.caCert, pki.adminCert, pki.adminKey);
    // The operator's own identity, so the audit log tells its writes from the tests'.
    writeKubeconfig(
      join(dirname(kubeconfigPath), "operator-kubeconfig"),
      server,
      pki.caCert,
      pki.operatorCert,
      pki.operatorKey,
    );
    const auditPolicy = join(dir, "audit-policy.yaml");
    writeFileSync(auditPolicy, AUDIT_POLICY);

    const plane = new ControlPlane(dir, kubeconfigPath, server, pki, processes, options.keepDir ?? false);
    try {
      const etcdUrl = `http://127.0.0.1:${etcdPort}`;
      const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
      // Beside the kubeconfig, for tests that compact etcd (see --watch-cache-sizes below).
      writeFileSync(join(dirname(kubeconfigPath), "etcd-url"), etcdUrl);
      plane.readiness.set("etcd", () => httpGet(`${etcdUrl}/health`));
      plane.readiness.set("kube-apiserver", () => servesCustomResources(server, pki));
      processes.push(
        new ManagedProcess(
          "etcd",
          bin("etcd"),
          [
            "--name=gpulease",
            `--data-dir=${join(dir, "etcd")}`,
            `--listen-client-urls=${etcdUrl}`,
            `--advertise-client-urls=${etcdUrl}`,
            `--listen-peer-urls=${peerUrl}`,
            `--initial-advertise-peer-urls=${peerUrl}`,
            `--initial-cluster=gpulease=${peerUrl}`,
            "--unsafe-no-fsync",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
          ],
          logFile("etcd"),
        ),
      );

      processes.push(
        new ManagedProcess(
          "kube-apiserver",
          bin("kube-apiserver"),
          [
            `--etcd-servers=${etcdUrl}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${apiPort}`,
            `--cert-dir=${join(dir, "pki")}`,
            `--tls-cert-file=${pki.servingCert}`,
            `--tls-private-key-file=${pki.servingKey}`,
            `--client-ca-file=${pki.caCert}`,
            `--service-account-key-file=${pki.serviceAccountPub}`,
            `--service-account-signing-key-file=${pki.serviceAccountKey}`,
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            // The reconciler of the `kubernetes` Service refuses a loopback address; nothing here needs it.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            // ConfigMaps are watched straight from etcd (no watch cache), so a test can compact etcd and
            // see a watch from an old resourceVersion refused with 410 Gone, as on a busy cluster.
            "--watch-cache-sizes=configmaps#0",
            `--audit-policy-file=${auditPolicy}`,
            `--audit-log-path=${join(dir, "logs", "audit.log")}`,
            "--audit-log-format=json",
            "--v=1",
          ],
          logFile("kube-apiserver"),
        ),
      );
      await waitFor("kube-apiserver /readyz", 90_000, () => healthy(server, "/readyz", pki), processes);
      log(`kube-apiserver ready at ${server} after ${Date.now() - startedAt} ms`);

      processes.push(
        new ManagedProcess(
          "kube-controller-manager",
          bin("kube-controller-manager"),
          [
            `--kubeconfig=${kubeconfigPath}`,
            "--leader-elect=false",
            "--secure-port=0",
            "--controllers=*",
            `--service-account-private-key-file=${pki.serviceAccountKey}`,
            `--root-ca-file=${pki.caCert}`,
            `--cluster-signing-cert-file=${pki.caCert}`,
            `--cluster-signing-key-file=${pki.caKey}`,
            "--use-service-account-credentials=false",
            "--node-monitor-grace-period=20s",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=1",
          ],
          logFile("kube-controller-manager"),
        ),
      );
      processes.push(
        new ManagedProcess(
          "kube-scheduler",
          bin("kube-scheduler"),
          [
            `--kubeconfig=${kubeconfigPath}`,
            "--leader-elect=false",
            "--secure-port=0",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=1",
          ],
          logFile("kube-scheduler"),
        ),
      );
      processes.push(
        new ManagedProcess(
          "kwok",
          bin("kwok"),
          [
            `--kubeconfig=${kubeconfigPath}`,
            `--config=${binaries.kwokStages}`,
            "--manage-all-nodes=false",
            `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
            "--cidr=10.244.0.0/16",
            "--node-ip=10.0.0.100",
            "--node-lease-duration-seconds=40",
            `--server-address=127.0.0.1:${kwokPort}`,
          ],
          logFile("kwok"),
        ),
      );
      // The service-account controller creating `default` proves kube-controller-manager is working.
      await waitFor(
        "kube-controller-manager (default ServiceAccount)",
        90_000,
        () => apiGet(server, "/api/v1/namespaces/default/serviceaccounts/default", pki),
        processes,
      );
      log(`control plane ready in ${Date.now() - startedAt} ms; kubeconfig ${kubeconfigPath}`);
      return plane;
    } catch (error) {
      await plane.stop({ keepDir: true });
      const tails = processes.map((p) => `--- ${p.name} (${p.logFile}):\n${tail(p.logFile, 15)}`).join("\n");
      throw new Error(`control plane failed to start: ${(error as Error).message}\n${tails}`);
    }
  }

  /** Stops every component (newest first) and removes the working directory. */
  async stop(options: { keepDir?: boolean } = {}): Promise<void> {
    for (const proc of [...this.processes].reverse()) await proc.stop();
    if (!(options.keepDir ?? this.keepDir)) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Components that exited while they should be running (not those stopped on purpose). */
  crashed(): string[] {
    return this.processes
      .filter((p) => !p.running && !this.stoppedOnPurpose.has(p.name))
      .map((p) => `${p.name} (exit ${p.exitCode})`);
  }

  private component(name: string): { index: number; process: ManagedProcess } {
    const index = this.processes.findIndex((p) => p.name === name);
    const process = this.processes[index];
    if (!process) throw new Error(`no component ${name} (known: ${COMPONENTS.join(", ")})`);
    return { index, process };
  }

  /**
   * Stops one component with `signal` (SIGKILL: no chance to clean up) and waits until it has exited.
   * The rest of the control plane keeps running.
   */
  async stopComponent(name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const { process } = this.component(name);
    this.stoppedOnPurpose.add(name);
    if (signal === "SIGTERM") {
      process.signal("SIGCONT"); // a frozen process would never handle SIGTERM
      await process.stop();
      return;
    }
    process.signal(signal);
    process.signal("SIGCONT");
    await process.wait();
  }

  /**
   * Starts a stopped component again with the same command line (same ports; etcd keeps its data
   * directory) and waits until it serves (etcd /health, kube-apiserver /readyz; the others are
   * clients and need only to run).
   */
  async startComponent(name: string, timeoutMs = 60_000): Promise<void> {
    const { index, process } = this.component(name);
    if (process.running) throw new Error(`${name} is running: stop it first`);
    const restarted = new ManagedProcess(process.name, process.command, process.args, process.logFile);
    this.processes[index] = restarted;
    this.stoppedOnPurpose.delete(name);
    const ready = this.readiness.get(name);
    if (ready) await waitFor(`${name} back`, timeoutMs, ready, [restarted]);
  }

  async restartComponent(name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await this.stopComponent(name, signal);
    await this.startComponent(name);
  }

  /** SIGSTOP: the component stops answering without closing any connection. */
  freeze(name: string): void {
    this.component(name).process.signal("SIGSTOP");
  }

  /** SIGCONT: a frozen component resumes. */
  thaw(name: string): void {
    this.component(name).process.signal("SIGCONT");
  }
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function writeKubeconfig(path: string, server: string, caCert: string, cert: string, key: string): void {
  const b64 = (file: string) => readFileSync(file).toString("base64");
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: gpulease-local",
      "  cluster:",
      `    server: ${server}`,
      `    certificate-authority-data: ${b64(caCert)}`,
      "users:",
      "- name: gpulease-admin",
      "  user:",
      `    client-certificate-data: ${b64(cert)}`,
      `    client-key-data: ${b64(key)}`,
      "contexts:",
      "- name: gpulease-local",
      "  context: { cluster: gpulease-local, user: gpulease-admin }",
      "current-context: gpulease-local",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
}

function apiGet(server: string, path: string, pki: Pki): Promise<{ status: number; body: string }> {
  return new Promise((done) => {
    const req = request(
      `${server}${path}`,
      {
        ca: readFileSync(pki.caCert),
        cert: readFileSync(pki.adminCert),
        key: readFileSync(pki.adminKey),
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on("end", () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", () => done({ status: 0, body: "" }));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** A plain-HTTP GET (etcd's client URL). */
async function httpGet(url: string): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: await response.text() };
  } catch {
    return { status: 0, body: "" };
  }
}

async function healthy(server: string, path: string, pki: Pki) {
  return apiGet(server, path, pki);
}

/**
 * Ready after a restart: /readyz, and, once the project's CRDs are installed, their objects served. A
 * restarted kube-apiserver is ready before it serves custom resources again: for a moment it answers
 * 503 "Resource kind … not found" (or 404), which would fail the next test's first write.
 */
async function servesCustomResources(server: string, pki: Pki) {
  const ready = await healthy(server, "/readyz", pki);
  if (ready.status !== 200) return ready;
  const crd = await apiGet(
    server,
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gpuleases.gpulease.io",
    pki,
  );
  if (crd.status === 404) return ready;
  return apiGet(server, "/apis/gpulease.io/v1alpha1/gpuleases?limit=1", pki);
}

async function waitFor(
  what: string,
  timeoutMs: number,
  probe: () => Promise<{ status: number; body: string }>,
  processes: ManagedProcess[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = { status: 0, body: "" };
  while (Date.now() < deadline) {
    const dead = processes.find((p) => !p.running);
    if (dead) throw new Error(`${dead.name} exited with code ${dead.exitCode} while waiting for ${what}`);
    last = await probe();
    if (last.status === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what} (last: ${last.status} ${last.body.slice(0, 300)})`,
  );
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

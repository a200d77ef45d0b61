/**
 * Real Kueue (v0.17.0, built from the Go module proxy by hack/build-kueue.sh) against a local control
 * plane: its CRDs applied, its manager run with the admin kubeconfig (no RBAC to install), leader
 * election off, and its webhooks served on loopback with a certificate of the harness CA, the webhook
 * configurations rewritten to `url: https://127.0.0.1:<port>/<path>`. Started only by tests that opt in.
 */
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { issueLoopbackServingCert, type Pki } from "./pki.ts";
import { freePort } from "./ports.ts";
import { ManagedProcess } from "./process.ts";

const REPO_ROOT = resolve(import.meta.dirname, "../..");
const METRICS_CERT_DIR = "/etc/kueue/metrics/certs";

/** The API groups whose webhooks Kueue serves with an integration (its own group always). */
const FRAMEWORK_GROUPS: Record<string, string> = { "batch/job": "batch", pod: "" };

export interface KueueOptions {
  dir: string;
  kubeconfig: string;
  pki: Pki;
  log?: (line: string) => void;
  /** Kueue Configuration fields merged over the harness's (e.g. waitForPodsReady). */
  config?: Record<string, unknown>;
  /** Kueue's integrations (default batch/job; "pod" also manages plain pods with a queue-name label). */
  frameworks?: string[];
}

/** Builds Kueue once (cached) and returns the directory with `kueue`, `crds/` and the webhooks. */
export async function ensureKueue(log: (line: string) => void = () => {}): Promise<string> {
  const out = await new Promise<string>((done, fail) => {
    const child = execFile(
      "bash",
      [resolve(REPO_ROOT, "hack/build-kueue.sh")],
      { maxBuffer: 16 * 1024 * 1024 },
      (error, stdout) => (error ? fail(error) : done(stdout)),
    );
    child.stderr?.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim()) log(line);
    });
  });
  const dir = /^KUEUE_DIR=(.*)$/m.exec(out)?.[1];
  if (!dir) throw new Error(`hack/build-kueue.sh printed no KUEUE_DIR:\n${out}`);
  return dir;
}

export class KueueProcess {
  private constructor(
    private readonly process: ManagedProcess,
    readonly logFile: string,
  ) {}

  static async start(options: KueueOptions): Promise<KueueProcess> {
    const log = options.log ?? (() => {});
    const kueueDir = await ensureKueue(log);
    const kubectl = (...args: string[]) =>
      execFileSync("kubectl", ["--kubeconfig", options.kubeconfig, ...args], { stdio: "pipe" }).toString();

    for (const file of readdirSync(join(kueueDir, "crds")).filter((f) => f.endsWith(".yaml")))
      kubectl("apply", "--server-side", "--force-conflicts", "-f", join(kueueDir, "crds", file));
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all");
    try {
      kubectl("create", "namespace", "kueue-system");
    } catch (error) {
      if (!String((error as { stderr?: Buffer }).stderr).includes("AlreadyExists")) throw error;
    }

    const [webhookPort, metricsPort, healthPort, visibilityPort] = (await distinctPorts(4)) as [
      number,
      number,
      number,
      number,
    ];
    const { certDir } = issueLoopbackServingCert(options.pki, join(options.dir, "kueue-certs"));
    // Without internal cert management Kueue reads its metrics certificate from this fixed path (no
    // flag or field moves it, v0.17.0 cmd/kueue/main.go): the loopback certificate serves there too.
    try {
      mkdirSync(METRICS_CERT_DIR, { recursive: true });
      for (const file of ["tls.crt", "tls.key"])
        copyFileSync(join(certDir, file), join(METRICS_CERT_DIR, file));
    } catch (error) {
      throw new Error(
        `Kueue reads its metrics certificate from ${METRICS_CERT_DIR}, which this user cannot write (run as root): ${String(error)}`,
      );
    }
    const frameworks = options.frameworks ?? ["batch/job"];
    const servedGroups = new Set(["kueue.x-k8s.io", ...frameworks.map((f) => FRAMEWORK_GROUPS[f] ?? f)]);
    const configFile = join(options.dir, "kueue-config.yaml");
    writeFileSync(
      configFile,
      stringify({
        apiVersion: "config.kueue.x-k8s.io/v1beta2",
        kind: "Configuration",
        namespace: "kueue-system",
        health: { healthProbeBindAddress: `127.0.0.1:${healthPort}` },
        metrics: { bindAddress: `127.0.0.1:${metricsPort}` },
        webhook: { port: webhookPort, host: "127.0.0.1", certDir },
        leaderElection: { leaderElect: false },
        internalCertManagement: { enable: false },
        integrations: { frameworks },
        ...options.config,
      }),
    );
    const webhooksFile = join(options.dir, "kueue-webhooks.yaml");
    writeFileSync(
      webhooksFile,
      loopbackWebhooks(
        readFileSync(join(kueueDir, "webhook-manifests.yaml"), "utf8"),
        webhookPort,
        options.pki,
        servedGroups,
      ),
    );

    const logFile = join(options.dir, "logs", "kueue.log");
    const process = new ManagedProcess(
      "kueue",
      "env",
      [
        `KUBECONFIG=${options.kubeconfig}`,
        join(kueueDir, "kueue"),
        `--config=${configFile}`,
        `--visibility-server-port=${visibilityPort}`,
        // The on-demand visibility API server wants its own certificate at /visibility: not used here.
        "--feature-gates=VisibilityOnDemand=false",
        "--zap-log-level=2",
      ],
      logFile,
    );
    const kueue = new KueueProcess(process, logFile);
    try {
      await waitUntil("Kueue /readyz", 120_000, process, async () => {
        const response = await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined);
        return response?.status === 200;
      });
      // Webhooks are registered only once Kueue serves them: until then a Job would be refused.
      kubectl("apply", "--server-side", "--force-conflicts", "-f", webhooksFile);
      await waitUntil("Kueue's webhooks answer", 60_000, process, async () =>
        probeWebhook(options.kubeconfig),
      );
      log(`Kueue ready (webhooks on 127.0.0.1:${webhookPort})`);
      return kueue;
    } catch (error) {
      await process.stop();
      throw new Error(`${(error as Error).message}\n--- kueue log:\n${tail(logFile, 30)}`);
    }
  }

  get running(): boolean {
    return this.process.running;
  }

  logs(): string {
    return readFileSync(this.logFile, "utf8");
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

/**
 * Kueue's webhook configurations, pointed at its server on loopback with the harness CA, keeping only
 * the webhooks of the API groups Kueue serves here (a webhook without a server would refuse every
 * object it matches).
 */
export function loopbackWebhooks(
  manifests: string,
  port: number,
  pki: Pki,
  servedGroups: ReadonlySet<string> = new Set(["kueue.x-k8s.io", "batch"]),
): string {
  const caBundle = readFileSync(pki.caCert).toString("base64");
  const docs = parseAllDocuments(manifests).map((d) => d.toJS() as Record<string, unknown> | null);
  const out: string[] = [];
  for (const doc of docs) {
    if (!doc) continue;
    const webhooks = (doc.webhooks as Record<string, unknown>[] | undefined) ?? [];
    const kept = webhooks
      .filter((w) =>
        ((w.rules as { apiGroups?: string[] }[] | undefined) ?? []).every((r) =>
          (r.apiGroups ?? []).every((g) => servedGroups.has(g)),
        ),
      )
      .map((w) => {
        const path = (w.clientConfig as { service?: { path?: string } }).service?.path ?? "/";
        return { ...w, clientConfig: { url: `https://127.0.0.1:${port}${path}`, caBundle } };
      });
    const metadata = doc.metadata as { name: string };
    out.push(stringify({ ...doc, metadata: { name: `kueue-${metadata.name}` }, webhooks: kept }));
  }
  return out.join("---\n");
}

/** A server-side dry run of a ResourceFlavor goes through Kueue's validating webhook. */
function probeWebhook(kubeconfig: string): boolean {
  try {
    execFileSync("kubectl", ["--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-f", "-"], {
      input: stringify({
        apiVersion: "kueue.x-k8s.io/v1beta2",
        kind: "ResourceFlavor",
        metadata: { name: "webhook-probe" },
      }),
      stdio: "pipe",
    });
    return true;
  } catch {
    return false;
  }
}

async function distinctPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

async function waitUntil(
  what: string,
  timeoutMs: number,
  process: ManagedProcess,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!process.running) throw new Error(`kueue exited (${process.exitCode}) while waiting for ${what}`);
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

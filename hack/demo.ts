/**
 * `make demo`: the operator's main job on a local control plane with simulated GPU nodes.
 * Builds or finds the control plane, adds GPU nodes, installs the CRDs and admission policies, starts
 * the operator, applies the sample tenants and leases, and prints what to try. Ctrl-C stops it all.
 *
 *   tsx hack/demo.ts [--nodes 4] [--internal-nodes 2] [--metrics-port P] [--cluster-dir .cluster] [--smoke]
 *
 * --smoke exits 0 once the sample leases are admitted and a tenant pod runs (used to check the demo).
 * Metrics are on :8080, or on a free port when 8080 is taken (the next steps say which). Every run
 * starts from a fresh control-plane directory, and any failure stops every process it started.
 */
import { execFileSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { operatorConfigSchema } from "../src/config/operator-config.ts";
import { Operator } from "../src/controller/operator.ts";
import { clientNodeAccess } from "../src/kube/cluster-access.ts";
import { KubeRest } from "../src/kube/rest.ts";
import { startHttpServer } from "../src/observability/http-server.ts";
import { createLogger } from "../src/observability/logger.ts";
import { Metrics } from "../src/observability/metrics.ts";
import { ControlPlane } from "../test/harness/controlplane.ts";
import { addGpuNodes, waitForNodesReady } from "../test/harness/gpu-nodes.ts";

const ROOT = resolve(import.meta.dirname, "..");
const DEFAULT_METRICS_PORT = 8080;
const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "4" },
    "internal-nodes": { type: "string", default: "2" },
    // Unset: 8080, or a free port when 8080 is taken. Set: that port or a failure.
    "metrics-port": { type: "string" },
    "cluster-dir": { type: "string", default: resolve(ROOT, ".cluster") },
    smoke: { type: "boolean", default: false },
  },
});

const say = (line: string) => process.stdout.write(`\x1b[1m[demo]\x1b[0m ${line}\n`);
const clusterDir = resolve(values["cluster-dir"]);
const runDir = resolve(clusterDir, "run");
const pidFile = resolve(clusterDir, "demo.pid");

function alive(pidFilePath: string): number | undefined {
  if (!existsSync(pidFilePath)) return undefined;
  const pid = Number(readFileSync(pidFilePath, "utf8"));
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

// What a failure or Ctrl-C must stop, whatever point setup reached.
let planeStarting: Promise<ControlPlane> | undefined;
let operator: Operator | undefined;
let server: Server | undefined;
let stopping: Promise<never> | undefined;

/** Stops everything this run started, newest first, then exits. Safe to call from any point. */
function shutdown(code: number): Promise<never> {
  stopping ??= (async () => {
    say(code === 0 ? "stopping" : "stopping everything the demo started");
    const within = <T>(p: Promise<T>, ms: number) =>
      Promise.race([p, new Promise<void>((r) => setTimeout(r, ms).unref())]);
    await within(operator?.stop().catch(() => undefined) ?? Promise.resolve(), 10_000);
    server?.close();
    // A start still under way is awaited, so no component it launched is left behind.
    const plane = await planeStarting?.catch(() => undefined);
    // After a failure the component logs stay for reading; the next run removes them first.
    await plane?.stop({ keepDir: code !== 0 });
    if (code !== 0 && plane) say(`component logs: ${resolve(runDir, "logs")}`);
    rmSync(pidFile, { force: true });
    process.exit(code);
  })();
  return stopping;
}

/** The metrics server: on the port asked for, else on 8080, else on any free port. */
async function listenMetrics(metrics: Metrics): Promise<{ server: Server; port: number }> {
  const probe = {
    live: () => true,
    ready: () => ({ ok: operator?.cachesSynced ?? false, detail: "demo" }),
  };
  const asked = values["metrics-port"];
  let listening: Server;
  if (asked !== undefined) {
    listening = await startHttpServer(Number(asked), metrics, probe);
  } else {
    try {
      listening = await startHttpServer(DEFAULT_METRICS_PORT, metrics, probe);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
      listening = await startHttpServer(0, metrics, probe);
      say(`port ${DEFAULT_METRICS_PORT} is taken: metrics on ${(listening.address() as AddressInfo).port}`);
    }
  }
  return { server: listening, port: (listening.address() as AddressInfo).port };
}

async function main(): Promise<void> {
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));
  if (alive(resolve(clusterDir, "pid"))) {
    say("a cluster from `make cluster-up` is running: stop it first with `make cluster-down`");
    process.exit(1);
  }
  const other = alive(pidFile);
  if (other) {
    say(`another demo is running (pid ${other}): stop it first`);
    process.exit(1);
  }
  mkdirSync(clusterDir, { recursive: true });
  writeFileSync(pidFile, String(process.pid));
  const kubeconfig = resolve(clusterDir, "kubeconfig");

  // Before anything starts: a taken port fails here, not after a minute of setup.
  const metrics = new Metrics();
  const listening = await listenMetrics(metrics);
  server = listening.server;
  const metricsPort = listening.port;

  // Never reuse a failed run's etcd data: its nodes and objects make this run's creates fail (409).
  rmSync(runDir, { recursive: true, force: true });
  say("starting the local control plane (the first run builds it: several minutes)");
  planeStarting = ControlPlane.start({ dir: runDir, kubeconfigPath: kubeconfig, log: say });
  await planeStarting;

  const kubectl = (...args: string[]) =>
    execFileSync("kubectl", ["--kubeconfig", kubeconfig, ...args], { cwd: ROOT }).toString();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const lendable = await addGpuNodes(core, {
    count: Number(values.nodes),
    prefix: "gpu-node",
    lendable: true,
  });
  const internal = await addGpuNodes(core, {
    count: Number(values["internal-nodes"]),
    prefix: "internal-gpu-node",
    lendable: false,
  });
  await waitForNodesReady(core, [...lendable, ...internal]);
  say(`${lendable.length} lendable and ${internal.length} internal simulated 8×H100 nodes are Ready`);
  kubectl("apply", "--server-side", "-k", "crds/");
  kubectl("wait", "--for=condition=Established", "crd/gpuleases.gpulease.io", "crd/tenantquotas.gpulease.io");
  // The tenant admission ConfigMap (allowed priority classes) lives in the operator's namespace.
  kubectl("create", "namespace", "gpulease-system");
  kubectl("apply", "--server-side", "-k", "config/policies/");
  say("CRDs and admission policies installed");

  // The operator's log (JSON, one line per decision and Event) goes to a file: the terminal keeps
  // the demo's own lines and the next steps readable.
  const operatorLog = resolve(clusterDir, "operator.log");
  const log = createLogger("info", createWriteStream(operatorLog, { flags: "a" }));
  const config = operatorConfigSchema.parse({
    idlePeriod: "10s",
    expiryWarning: "1m",
    metricsPort,
  });
  const rest = new KubeRest(clientNodeAccess(kc));
  operator = new Operator(rest, config, log, metrics);
  await operator.start();
  say(`operator running (nodes are lent after 10 s without internal GPU pods); its log: ${operatorLog}`);
  say(`operator metrics: http://localhost:${metricsPort}/metrics`);
  // Give the policies a moment to load before tenants create pods.
  await new Promise((r) => setTimeout(r, 2000));
  // Established is not yet served: a busy API server can answer "Resource kind … not found" for a
  // moment after the CRD says Established. Retry that, and only that.
  for (let attempt = 1; ; attempt++) {
    try {
      kubectl("apply", "-f", "config/samples/");
      break;
    } catch (error) {
      const text = String((error as { stderr?: Buffer }).stderr ?? error);
      if (attempt >= 20 || !text.includes("There can be a delay")) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  say("sample tenants acme and globex and their leases applied");
  kubectl("apply", "-f", "config/samples/demo/acme-finetune-pods.yaml");

  say("try, in another terminal:");
  const lines = readFileSync(resolve(ROOT, "hack/demo-next-steps.txt"), "utf8")
    .replaceAll("KUBECONFIG_PATH", kubeconfig)
    .replaceAll("METRICS_PORT", String(metricsPort))
    .replaceAll("OPERATOR_LOG", operatorLog);
  process.stdout.write(`${lines}\n`);

  if (values.smoke) {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const leases = kubectl(
        "get",
        "gpuleases",
        "-A",
        "-o",
        'jsonpath={range .items[*]}{.status.phase}{"\\n"}{end}',
      );
      const pods = kubectl(
        "get",
        "pods",
        "-n",
        "acme-prod",
        "-o",
        'jsonpath={range .items[*]}{.status.phase}{"\\n"}{end}',
      );
      if (leases.includes("Active") && pods.includes("Running")) {
        process.stdout.write(kubectl("get", "gpuleases", "-A"));
        say("smoke: leases admitted and a tenant pod runs on a lent node");
        await shutdown(0);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    say("smoke: timed out");
    await shutdown(1);
  }
  say("Ctrl-C stops the operator and the cluster");
}

const fail = (error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  void shutdown(1);
};
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
main().catch(fail);

/**
 * `make demo`: the operator's main job on a local control plane with simulated GPU nodes.
 * Builds or finds the control plane, adds GPU nodes, installs the CRDs and admission policies, starts
 * the operator, applies the sample tenants and leases, and prints what to try. Ctrl-C stops it all.
 *
 *   tsx hack/demo.ts [--nodes 4] [--internal-nodes 2] [--smoke]
 *
 * --smoke exits 0 once the sample leases are admitted and a tenant pod runs (used to check the demo).
 */
import { execFileSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { operatorConfigSchema } from "../src/config/operator-config.ts";
import { Operator } from "../src/controller/operator.ts";
import { KubeRest } from "../src/kube/rest.ts";
import { startHttpServer } from "../src/observability/http-server.ts";
import { createLogger } from "../src/observability/logger.ts";
import { Metrics } from "../src/observability/metrics.ts";
import { ControlPlane } from "../test/harness/controlplane.ts";
import { addGpuNodes, waitForNodesReady } from "../test/harness/gpu-nodes.ts";

const ROOT = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "4" },
    "internal-nodes": { type: "string", default: "2" },
    "metrics-port": { type: "string", default: "8080" },
    smoke: { type: "boolean", default: false },
  },
});

const say = (line: string) => process.stdout.write(`\x1b[1m[demo]\x1b[0m ${line}\n`);

async function main(): Promise<void> {
  const clusterDir = resolve(ROOT, ".cluster");
  if (existsSync(resolve(clusterDir, "pid"))) {
    say("a cluster from `make cluster-up` is running: stop it first with `make cluster-down`");
    process.exit(1);
  }
  mkdirSync(clusterDir, { recursive: true });
  const kubeconfig = resolve(clusterDir, "kubeconfig");
  say("starting the local control plane (the first run builds it: several minutes)");
  const plane = await ControlPlane.start({
    dir: resolve(clusterDir, "run"),
    kubeconfigPath: kubeconfig,
    log: say,
  });
  let operator: Operator | undefined;
  let server: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  const shutdown = async (code: number) => {
    say("stopping");
    await operator?.stop();
    server?.close();
    await plane.stop();
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));

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
  kubectl("apply", "--server-side", "-k", "config/policies/");
  say("CRDs and admission policies installed");

  // The operator's log (JSON, one line per decision and Event) goes to a file: the terminal keeps
  // the demo's own lines and the next steps readable.
  const operatorLog = resolve(clusterDir, "operator.log");
  const log = createLogger("info", createWriteStream(operatorLog, { flags: "a" }));
  const metrics = new Metrics();
  const config = operatorConfigSchema.parse({
    idlePeriod: "10s",
    expiryWarning: "1m",
    metricsPort: Number(values["metrics-port"]),
  });
  const rest = new KubeRest(kc);
  operator = new Operator(rest, config, log, metrics);
  if (config.metricsPort > 0) {
    server = await startHttpServer(config.metricsPort, metrics, {
      live: () => true,
      ready: () => ({ ok: operator?.cachesSynced ?? false, detail: "demo" }),
    });
  }
  await operator.start();
  say(`operator running (nodes are lent after 10 s without internal GPU pods); its log: ${operatorLog}`);
  // Give the policies a moment to load before tenants create pods.
  await new Promise((r) => setTimeout(r, 2000));
  kubectl("apply", "-f", "config/samples/");
  say("sample tenants acme and globex and their leases applied");
  kubectl("apply", "-f", "config/samples/demo/acme-finetune-pods.yaml");

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

  say("try, in another terminal:");
  const lines = readFileSync(resolve(ROOT, "hack/demo-next-steps.txt"), "utf8").replaceAll(
    "KUBECONFIG_PATH",
    kubeconfig,
  );
  process.stdout.write(`${lines}\n`);
  say("Ctrl-C stops the operator and the cluster");
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

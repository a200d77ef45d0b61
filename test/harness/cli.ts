/**
 * `make cluster-up` / `make cluster-down`: the local control plane with simulated GPU nodes, in the
 * background, with its kubeconfig at .cluster/kubeconfig.
 *
 *   tsx test/harness/cli.ts up [--nodes 4] [--gpus 8] [--product NVIDIA-H100-80GB-HBM3] [--cpu 96] [--memory 1Ti]
 *                              [--internal-nodes 0] [--foreground]
 *   tsx test/harness/cli.ts down
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { serveControl } from "./control-server.ts";
import { ControlPlane } from "./controlplane.ts";
import { addGpuNodes, waitForNodesReady } from "./gpu-nodes.ts";

const CLUSTER_DIR = resolve(import.meta.dirname, "../../.cluster");
const PID_FILE = resolve(CLUSTER_DIR, "pid");
const READY_FILE = resolve(CLUSTER_DIR, "ready");
const LOG_FILE = resolve(CLUSTER_DIR, "cluster.log");
const KUBECONFIG = resolve(CLUSTER_DIR, "kubeconfig");
/** The fault-injection endpoint, for e2e runs against this cluster (test/support/global-setup.ts). */
const CONTROL_FILE = resolve(CLUSTER_DIR, "control.json");

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    nodes: { type: "string", default: "4" },
    "internal-nodes": { type: "string", default: "0" },
    gpus: { type: "string", default: "8" },
    product: { type: "string", default: "NVIDIA-H100-80GB-HBM3" },
    cpu: { type: "string", default: "96" },
    memory: { type: "string", default: "1Ti" },
    foreground: { type: "boolean", default: false },
  },
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runningPid(): number | undefined {
  if (!existsSync(PID_FILE)) return undefined;
  const pid = Number(readFileSync(PID_FILE, "utf8"));
  return Number.isInteger(pid) && alive(pid) ? pid : undefined;
}

function positiveInt(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a whole number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

async function foreground(): Promise<void> {
  mkdirSync(CLUSTER_DIR, { recursive: true });
  writeFileSync(PID_FILE, String(process.pid));
  const lendable = positiveInt("nodes", values.nodes);
  const internal = positiveInt("internal-nodes", values["internal-nodes"]);
  const gpus = positiveInt("gpus", values.gpus);
  // Never reuse a failed run's etcd data: its nodes make this run's creates fail with 409 AlreadyExists.
  const runDir = resolve(CLUSTER_DIR, "run");
  rmSync(runDir, { recursive: true, force: true });
  const starting = ControlPlane.start({
    dir: runDir,
    kubeconfigPath: KUBECONFIG,
    log: (line) => console.log(line),
  });
  let control: Awaited<ReturnType<typeof serveControl>> | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("stopping the control plane");
    await control?.close();
    rmSync(CONTROL_FILE, { force: true });
    // A start still under way is awaited, so no component it launched is left behind. After a
    // failure the component logs stay for reading; the next run removes them first.
    await (await starting.catch(() => undefined))?.stop({ keepDir: code !== 0 });
    rmSync(READY_FILE, { force: true });
    rmSync(PID_FILE, { force: true });
    process.exit(code);
  };
  process.on("SIGTERM", () => void stop(0));
  process.on("SIGINT", () => void stop(0));
  const fail = (error: unknown) => {
    console.error(`cluster failed: ${error instanceof Error ? error.stack : String(error)}`);
    void stop(1);
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
  try {
    const plane = await starting;
    control = await serveControl(plane);
    writeFileSync(CONTROL_FILE, JSON.stringify({ url: control.url, dir: plane.dir }));
    await setUp(plane, { lendable, internal, gpus }, stop);
  } catch (error) {
    fail(error);
  }
}

async function setUp(
  plane: ControlPlane,
  counts: { lendable: number; internal: number; gpus: number },
  stop: (code: number) => Promise<void>,
): Promise<void> {
  const { lendable, internal, gpus } = counts;
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const core = kc.makeApiClient(CoreV1Api);
  const shape = { gpus, product: values.product, cpu: values.cpu, memory: values.memory };
  const names = [
    ...(await addGpuNodes(core, { ...shape, count: lendable, prefix: "gpu-node", lendable: true })),
    ...(await addGpuNodes(core, { ...shape, count: internal, prefix: "internal-gpu-node", lendable: false })),
  ];
  await waitForNodesReady(core, names);
  writeFileSync(READY_FILE, JSON.stringify({ server: plane.server, kubeconfig: KUBECONFIG, nodes: names }));
  console.log(`ready: ${names.length} GPU nodes; kubectl --kubeconfig ${KUBECONFIG} get nodes`);
  // Stay alive until told to stop; a component that dies (not stopped on purpose through the control
  // endpoint) takes the cluster down with a message.
  setInterval(() => {
    const crashed = plane.crashed();
    if (crashed.length > 0) {
      console.error(`component exited: ${crashed.join(", ")}; see ${plane.dir}/logs`);
      void stop(1);
    }
  }, 2000);
}

async function up(): Promise<void> {
  const pid = runningPid();
  if (pid) {
    console.log(`already running (pid ${pid}); kubeconfig ${KUBECONFIG}`);
    return;
  }
  mkdirSync(CLUSTER_DIR, { recursive: true });
  rmSync(READY_FILE, { force: true });
  const out = openSync(LOG_FILE, "w");
  const args = [...process.execArgv, resolve(import.meta.dirname, "cli.ts"), "up", "--foreground"];
  for (const [key, value] of Object.entries(values)) {
    if (key !== "foreground") args.push(`--${key}`, String(value));
  }
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", out, out] });
  child.unref();
  console.log(`starting the control plane in the background (log: ${LOG_FILE}); the first run builds it`);
  while (!existsSync(READY_FILE)) {
    if (child.pid === undefined || !alive(child.pid)) {
      console.error(
        `cluster failed to start:\n${readFileSync(LOG_FILE, "utf8").split("\n").slice(-30).join("\n")}`,
      );
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`ready. kubectl --kubeconfig ${KUBECONFIG} get nodes`);
}

async function down(): Promise<void> {
  const pid = runningPid();
  if (!pid) {
    console.log("no cluster running");
    return;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 60_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(pid)) process.kill(pid, "SIGKILL");
  rmSync(PID_FILE, { force: true });
  rmSync(READY_FILE, { force: true });
  console.log("cluster stopped");
}

const command = positionals[0];
if (command === "up") await (values.foreground ? foreground() : up());
else if (command === "down") await down();
else {
  console.error("usage: cli.ts up|down [--nodes N] [--gpus G] [--product P] [--internal-nodes N]");
  process.exit(2);
}

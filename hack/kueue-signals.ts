/**
 * What Kueue reports for a workload that fits its quota but no node, and for one over its quota, with
 * plain quota ("plain"), with waitForPodsReady ("wfpr") or with Topology-Aware Scheduling ("tas"): the
 * probe behind docs/kueue.md. Starts its own control plane and Kueue; prints what kubectl shows.
 *
 * Usage: npx tsx hack/kueue-signals.ts [plain|wfpr|tas]
 */
import { execFileSync } from "node:child_process";
import { stringify } from "yaml";
import { ControlPlane } from "../test/harness/controlplane.ts";
import { KueueProcess } from "../test/harness/kueue.ts";
import { addPool } from "../test/support/gpulease.ts";
import { createTestNamespace, kubeClients } from "../test/support/kube.ts";

const plane = await ControlPlane.start({ keepDir: true });
const clients = kubeClients(plane.kubeconfigPath);
const mode = process.argv[2] ?? "plain";
const kueue = await KueueProcess.start({
  dir: plane.dir,
  kubeconfig: plane.kubeconfigPath,
  pki: plane.pki,
  config:
    mode === "wfpr"
      ? {
          waitForPodsReady: {
            timeout: "15s",
            blockAdmission: false,
            requeuingStrategy: { timestamp: "Eviction", backoffBaseSeconds: 5 },
          },
        }
      : {},
});
const k = (...a: string[]) =>
  execFileSync("kubectl", ["--kubeconfig", plane.kubeconfigPath, ...a], { stdio: "pipe" }).toString();
const apply = (...o: object[]) =>
  execFileSync("kubectl", ["--kubeconfig", plane.kubeconfigPath, "apply", "--server-side", "-f", "-"], {
    input: o.map((x) => stringify(x)).join("---\n"),
  });
await addPool(clients, "p", 1, { labels: { grp: "g" } });
const ns = await createTestNamespace(clients, "probe");
apply(
  ...(mode === "tas"
    ? [
        {
          apiVersion: "kueue.x-k8s.io/v1beta2",
          kind: "Topology",
          metadata: { name: "hosts" },
          spec: { levels: [{ nodeLabel: "kubernetes.io/hostname" }] },
        },
      ]
    : []),
  {
    apiVersion: "kueue.x-k8s.io/v1beta2",
    kind: "ResourceFlavor",
    metadata: { name: "g" },
    spec: { nodeLabels: { grp: "g" }, ...(mode === "tas" ? { topologyName: "hosts" } : {}) },
  },
  {
    apiVersion: "kueue.x-k8s.io/v1beta2",
    kind: "ClusterQueue",
    metadata: { name: "g" },
    spec: {
      namespaceSelector: {},
      resourceGroups: [
        {
          coveredResources: ["nvidia.com/gpu"],
          flavors: [{ name: "g", resources: [{ name: "nvidia.com/gpu", nominalQuota: 32 }] }],
        },
      ],
    },
  },
  {
    apiVersion: "kueue.x-k8s.io/v1beta2",
    kind: "LocalQueue",
    metadata: { name: "g", namespace: ns },
    spec: { clusterQueue: "g" },
  },
);
const job = (name: string, pods: number, gpus = 8) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name, namespace: ns, labels: { "kueue.x-k8s.io/queue-name": "g" } },
  spec: {
    parallelism: pods,
    completions: pods,
    template: {
      metadata: { labels: { app: name } },
      spec: {
        restartPolicy: "Never",
        containers: [
          {
            name: "c",
            image: "x",
            command: ["sleep", "1000"],
            resources: { limits: { "nvidia.com/gpu": String(gpus) } },
          },
        ],
      },
    },
  },
});
apply(job("over-capacity", 1, 16));
await new Promise((r) => setTimeout(r, 2000));
apply(job("over-quota", 1, 40));
for (const t of mode === "tas" ? [3] : [3, 20, 15]) {
  console.log(
    k(
      "get",
      "workloads",
      "-n",
      ns,
      "-o",
      "jsonpath={range .items[*]}{.metadata.name}: {.status.conditions[?(@.type=='QuotaReserved')].message}{'\\n'}{end}",
    ),
  );
  await new Promise((r) => setTimeout(r, t * 1000));
  console.log(`==== after ${t}s more`);
  console.log(
    k("get", "workloads", "-n", ns, "-o", "yaml")
      .split("\n")
      .filter((l) => /name: job|type:|status:|reason:|message:|state:|requeue|count:|clusterQueue/.test(l))
      .join("\n"),
  );
  console.log(k("get", "pods", "-n", ns, "-o", "wide"));
  console.log(
    k(
      "get",
      "pods",
      "-n",
      ns,
      "-o",
      "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.conditions[?(@.type=='PodScheduled')].reason} {.metadata.labels}{'\\n'}{end}",
    ),
  );
  console.log(k("get", "localqueue", "-n", ns, "g", "-o", "jsonpath={.status}"));
  console.log(
    k(
      "get",
      "clusterqueue",
      "g",
      "-o",
      "jsonpath={.status.pendingWorkloads} {.status.admittedWorkloads} {.status.flavorsUsage}",
    ),
  );
}
await kueue.stop();
await plane.stop({ keepDir: true });
process.exit(0);

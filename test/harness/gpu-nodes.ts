import type { CoreV1Api, V1Node } from "@kubernetes/client-node";
import { KWOK_NODE_ANNOTATION } from "./controlplane.ts";

export interface GpuNodeShape {
  /** How many nodes to add. */
  count: number;
  /** Name prefix; nodes are named `<prefix>-<index>`. */
  prefix?: string;
  /** First index (to add more nodes of the same prefix later). */
  startIndex?: number;
  gpus?: number;
  /** Value of the `nvidia.com/gpu.product` label, as GPU feature discovery sets it. */
  product?: string;
  resourceName?: string;
  cpu?: string;
  memory?: string;
  /** Mark the node lendable (label `gpulease.io/lendable=true`). */
  lendable?: boolean;
  labels?: Record<string, string>;
}

export const DEFAULT_GPU_PRODUCT = "NVIDIA-H100-80GB-HBM3";

/** Builds a Node as the NVIDIA device plugin and GPU feature discovery would make it look. */
export function gpuNodeManifest(name: string, shape: Omit<GpuNodeShape, "count">): V1Node {
  const gpus = String(shape.gpus ?? 8);
  const resources = {
    cpu: shape.cpu ?? "96",
    memory: shape.memory ?? "1Ti",
    pods: "110",
    [shape.resourceName ?? "nvidia.com/gpu"]: gpus,
  };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        type: "kwok",
        "nvidia.com/gpu.product": shape.product ?? DEFAULT_GPU_PRODUCT,
        "nvidia.com/gpu.count": gpus,
        ...(shape.lendable === false ? {} : { "gpulease.io/lendable": "true" }),
        ...shape.labels,
      },
    },
    spec: {},
    status: { allocatable: resources, capacity: resources },
  };
}

/** Adds simulated GPU nodes that kwok keeps Ready. Returns their names. */
export async function addGpuNodes(core: CoreV1Api, shape: GpuNodeShape): Promise<string[]> {
  const prefix = shape.prefix ?? "gpu-node";
  const start = shape.startIndex ?? 0;
  const names: string[] = [];
  for (let i = start; i < start + shape.count; i++) {
    const name = `${prefix}-${i}`;
    await core.createNode({ body: gpuNodeManifest(name, shape) });
    names.push(name);
  }
  return names;
}

/** Waits until every named node reports Ready=True (kwok has taken it over). */
export async function waitForNodesReady(core: CoreV1Api, names: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  while (pending.size > 0) {
    for (const name of [...pending]) {
      const node = await core.readNode({ name });
      if (node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
        pending.delete(name);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline)
      throw new Error(`nodes not Ready after ${timeoutMs} ms: ${[...pending].join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

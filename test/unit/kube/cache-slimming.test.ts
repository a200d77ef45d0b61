import { describe, expect, it } from "vitest";
import { StringTable, slimNode, slimPod, toNodeView, toPodView } from "../../../src/kube/convert.ts";
import type { KubeObject } from "../../../src/kube/rest.ts";

const GPU = "nvidia.com/gpu";
const settings = {
  lendableSelector: { "gpulease.io/lendable": "true" },
  resourceNames: [GPU],
  gpuModelLabel: "nvidia.com/gpu.product",
};

/** A pod as the API server returns it: much the operator never reads, and what it does. */
function apiPod(
  name: string,
  overrides: { annotations?: Record<string, string>; conditions?: object[] } = {},
) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: "acme",
      uid: `uid-${name}`,
      resourceVersion: `${name.length}42`,
      creationTimestamp: "2026-12-05T04:45:10Z",
      labels: { app: "train", "gpulease.io/lease": "work", "batch.kubernetes.io/job-name": "train" },
      annotations: overrides.annotations ?? {
        "kubernetes.io/limit-ranger": "LimitRanger plugin set: cpu, memory request for container c",
        "gpulease.io/reclaim-deadline": "2026-12-05T05:00:00Z",
        "kueue.x-k8s.io/pod-group-total-count": "4",
      },
      ownerReferences: [
        { apiVersion: "batch/v1", kind: "Job", name: "train", uid: "job-uid", controller: true },
      ],
      generateName: "train-",
    },
    spec: {
      nodeName: "n1",
      nodeSelector: { "nvidia.com/gpu.product": "H100" },
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: ["n1"] }] }],
          },
        },
      },
      tolerations: [
        {
          key: "node.kubernetes.io/not-ready",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
        { key: "gpulease.io/lent", operator: "Exists", effect: "NoSchedule" },
      ],
      schedulingGates: [{ name: "gpulease.io/lease" }],
      volumes: [{ name: "data", emptyDir: {} }],
      containers: [
        {
          name: "c",
          image: "trainer:1",
          env: [{ name: "A", value: "b" }],
          resources: { limits: { [GPU]: "4" }, requests: { cpu: "2", memory: "1Gi" } },
        },
      ],
    },
    status: {
      phase: "Pending",
      conditions: overrides.conditions ?? [
        { type: "Initialized", status: "True", lastTransitionTime: "2026-12-05T04:45:11Z" },
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/8 nodes are available",
          lastTransitionTime: "2026-12-05T04:45:12Z",
        },
      ],
      containerStatuses: [{ name: "c", ready: false, restartCount: 0 }],
    },
  } as KubeObject;
}

function apiNode(name: string) {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: `uid-${name}`,
      resourceVersion: "7",
      labels: { "gpulease.io/lendable": "true", "nvidia.com/gpu.product": "H100" },
      annotations: { "gpulease.io/lent": "true", "gpulease.io/idle-since": "2026-12-05T04:00:00Z" },
    },
    spec: {
      taints: [
        { key: "gpulease.io/lent", value: "true", effect: "NoSchedule" },
        { key: "maintenance", value: "x", effect: "NoExecute" },
      ],
      unschedulable: true,
      podCIDR: "10.0.0.0/24",
    },
    status: {
      allocatable: { [GPU]: "8", cpu: "64", memory: "512Gi", pods: "110" },
      capacity: { [GPU]: "8", cpu: "64", memory: "512Gi", pods: "110" },
      conditions: [
        { type: "MemoryPressure", status: "False", lastHeartbeatTime: "2026-12-05T04:45:10Z" },
        {
          type: "Ready",
          status: "True",
          lastHeartbeatTime: "2026-12-05T04:45:10Z",
          message: "kubelet is ready",
        },
      ],
      images: [{ names: ["registry/trainer:1"], sizeBytes: 123 }],
      nodeInfo: { kubeletVersion: "v1.37.2" },
      addresses: [{ type: "InternalIP", address: "10.0.0.1" }],
    },
  } as KubeObject;
}

describe("what the caches keep", () => {
  it("keeps every pod field the planner reads: the view of a slimmed pod is the view of the pod", () => {
    for (const pod of [
      apiPod("a"),
      apiPod("b", { annotations: {} }),
      apiPod("c", { conditions: [] }),
      apiPod("d", { conditions: [{ type: "PodScheduled", status: "True" }] }),
    ]) {
      const slim = slimPod(pod, new StringTable());
      expect(toPodView(slim, [GPU])).toEqual(toPodView(pod, [GPU]));
    }
  });

  it("keeps what binding a pod rewrites, and drops what nothing reads", () => {
    const slim = slimPod(apiPod("a"), new StringTable()) as KubeObject & {
      spec: Record<string, unknown>;
      status: { conditions: { type: string }[] };
    };
    expect(slim.metadata?.resourceVersion).toBe("142");
    const { affinity, tolerations } = apiPod("a").spec as Record<string, unknown>;
    expect(slim.spec.affinity).toEqual(affinity);
    expect(slim.spec.tolerations).toEqual(tolerations);
    expect(slim.spec.schedulingGates).toEqual([{ name: "gpulease.io/lease" }]);
    expect(slim.metadata?.annotations).toEqual({
      "gpulease.io/reclaim-deadline": "2026-12-05T05:00:00Z",
      "kueue.x-k8s.io/pod-group-total-count": "4",
    });
    expect(slim.status.conditions.map((c) => c.type)).toEqual(["PodScheduled"]);
    expect(slim.spec.volumes).toBeUndefined();
    expect(JSON.stringify(slim)).not.toContain("trainer:1");
  });

  it("keeps every node field the planner and the node patch read", () => {
    const node = apiNode("n1");
    const slim = slimNode(node, new StringTable());
    expect(toNodeView(slim, settings)).toEqual(toNodeView(node, settings));
    expect(slim.metadata?.resourceVersion).toBe("7");
    expect(slim.spec).toEqual({ taints: (node.spec as { taints: unknown }).taints, unschedulable: true });
    expect(JSON.stringify(slim)).not.toMatch(/images|nodeInfo|addresses|lastHeartbeatTime/);
  });

  it("shares repeated strings, and never fills its table with names, UIDs or versions", () => {
    const table = new StringTable();
    slimPod(apiPod("p0"), table);
    const afterOne = table.size;
    expect(afterOne).toBeGreaterThan(10);
    for (let i = 1; i < 500; i++) slimPod(apiPod(`p${i}`), table);
    expect(table.size).toBe(afterOne);
  });

  it("starts its table again when full", () => {
    const table = new StringTable(3);
    for (const value of ["a", "b", "c"]) table.intern(value);
    expect(table.size).toBe(3);
    expect(table.intern("d")).toBe("d");
    expect(table.size).toBe(1);
  });
});

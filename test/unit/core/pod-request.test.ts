import { describe, expect, it } from "vitest";
import { planBindings } from "../../../src/core/binding.ts";
import { type PodResourceSpec, podRequest } from "../../../src/core/pod-request.ts";
import { slimPod, toPodView } from "../../../src/kube/convert.ts";
import { lease, pod } from "../../support/snapshot-builder.ts";

const GPU = "nvidia.com/gpu";
const gpus = (n: number) => ({ requests: { [GPU]: n } });
const sidecar = (n: number) => ({ ...gpus(n), sidecar: true });
const init = (n: number) => ({ ...gpus(n), sidecar: false });
const spec = (parts: Partial<PodResourceSpec>): PodResourceSpec => ({
  containers: [],
  initContainers: [],
  podLevel: {},
  overhead: {},
  ...parts,
});

describe("a pod's request, as the scheduler computes it", () => {
  it.each<[string, PodResourceSpec, string, number]>([
    ["one app container", spec({ containers: [gpus(4)] }), GPU, 4],
    ["app containers add up", spec({ containers: [gpus(4), gpus(2)] }), GPU, 6],
    [
      "a regular init container runs alone: the larger wins",
      spec({ containers: [gpus(2)], initContainers: [init(4)] }),
      GPU,
      4,
    ],
    [
      "regular init containers do not add up",
      spec({ containers: [gpus(1)], initContainers: [init(3), init(2)] }),
      GPU,
      3,
    ],
    [
      "a sidecar runs beside the app containers: it adds",
      spec({ containers: [gpus(4)], initContainers: [sidecar(4)] }),
      GPU,
      8,
    ],
    ["a sidecar alone counts", spec({ initContainers: [sidecar(2)] }), GPU, 2],
    [
      "a regular init container after a sidecar runs beside it",
      spec({ containers: [gpus(1)], initContainers: [sidecar(2), init(5)] }),
      GPU,
      7,
    ],
    [
      "a regular init container before a sidecar runs alone",
      spec({ containers: [gpus(1)], initContainers: [init(5), sidecar(2)] }),
      GPU,
      5,
    ],
    [
      "overhead comes on top",
      spec({ containers: [{ requests: { cpu: 2 } }], overhead: { cpu: 0.25 } }),
      "cpu",
      2.25,
    ],
    [
      "pod-level cpu replaces the containers' sum",
      spec({ containers: [{ requests: { cpu: 1 } }, { requests: { cpu: 1 } }], podLevel: { cpu: 8 } }),
      "cpu",
      8,
    ],
    [
      "pod-level resources cannot set GPUs: the containers count",
      spec({ containers: [gpus(4)], podLevel: { [GPU]: 1 } }),
      GPU,
      4,
    ],
    ["no request", spec({ containers: [{ requests: {} }] }), GPU, 0],
  ])("%s", (_, resources, resource, expected) => {
    expect(podRequest(resources, resource)).toBe(expected);
  });

  it("reads sidecars, pod-level resources, overhead and limit-only containers from a cached pod", () => {
    const cached = slimPod({
      metadata: { name: "p", namespace: "ns" },
      spec: {
        initContainers: [
          { name: "side", restartPolicy: "Always", resources: { limits: { [GPU]: "4" } } },
          { name: "setup", resources: { requests: { cpu: "500m" } } },
        ],
        containers: [{ name: "main", resources: { limits: { [GPU]: "4" }, requests: { memory: "1Gi" } } }],
        resources: { requests: { cpu: "3" } },
        overhead: { cpu: "100m", memory: "64Mi" },
      },
    });
    const view = toPodView(cached, [GPU]);
    expect(view.gpus).toEqual({ [GPU]: 8 });
    expect(view.cpuMillis).toBe(3100);
    expect(view.memoryBytes).toBe(2 ** 30 + 64 * 2 ** 20);
  });

  it("does not bind a pod whose sidecar's GPUs would exceed its lease", () => {
    const work = lease(
      "acme",
      "work",
      { gpus: 4 },
      {
        status: { phase: "Active", allocations: [{ node: "n1", gpus: 4 }] },
      },
    );
    const attack = toPodView(
      {
        metadata: { name: "greedy", namespace: "acme", labels: { "gpulease.io/lease": "work" } },
        spec: {
          schedulingGates: [{ name: "gpulease.io/lease" }],
          initContainers: [{ name: "side", restartPolicy: "Always", resources: { limits: { [GPU]: "4" } } }],
          containers: [{ name: "main", resources: { limits: { [GPU]: "4" } } }],
        },
      },
      [GPU],
    );
    const fits = pod("acme", "fits", { lease: "work", gated: true, gpus: { [GPU]: 4 } });
    expect(planBindings(work, [attack], new Set(["n1"])).unbindable.map((u) => u.reason)).toEqual([
      "ExceedsLease",
    ]);
    expect(planBindings(work, [fits], new Set(["n1"])).bindings.map((b) => b.node)).toEqual(["n1"]);
  });
});

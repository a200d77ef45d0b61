import { describe, expect, it } from "vitest";
import { toNodeView } from "../../../src/kube/convert.ts";

const settings = {
  lendableSelector: { "gpulease.io/lendable": "true" },
  resourceNames: ["nvidia.com/gpu"],
  gpuModelLabel: "nvidia.com/gpu.product",
};

const raw = (annotations: Record<string, string>, taints: { key: string; effect: string }[]) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: "n1", labels: { "gpulease.io/lendable": "true" }, annotations },
  spec: { taints },
  status: { allocatable: { "nvidia.com/gpu": "8" }, conditions: [{ type: "Ready", status: "True" }] },
});

describe("a node's lent state", () => {
  it("comes from the operator's own annotation too: a taint removed by hand does not un-lend the node", () => {
    const view = toNodeView(raw({ "gpulease.io/lent": "true" }, []), settings);
    expect(view).toMatchObject({ lent: true, lentTaint: false, lentMark: true });
  });

  it("reads a node tainted before the annotation existed as lent, its record missing", () => {
    const view = toNodeView(raw({}, [{ key: "gpulease.io/lent", effect: "NoSchedule" }]), settings);
    expect(view).toMatchObject({ lent: true, lentTaint: true, lentMark: false });
  });

  it("reads a node with neither as not lent", () => {
    expect(toNodeView(raw({}, []), settings)).toMatchObject({ lent: false });
  });
});

import { describe, expect, it } from "vitest";
import { SnapshotBuilder } from "../../../src/controller/snapshot.ts";
import type { KubeObject } from "../../../src/kube/rest.ts";
import { BUILDER_CONVERT, BUILDER_SETTINGS, cachedInformer } from "../../support/informer-cache.ts";

const quota = (name: string, spec: Record<string, unknown>): KubeObject => ({
  metadata: { name, namespace: "acme-ns", resourceVersion: "1" },
  spec,
});
const priorityScope = (values: string[]) => ({
  hard: { pods: "0" },
  scopeSelector: {
    matchExpressions: [
      { scopeName: "PriorityClass", operator: "Exists" },
      { scopeName: "PriorityClass", operator: "NotIn", values },
    ],
  },
});

function build(resourceQuotas: KubeObject[], configMaps: KubeObject[] = [], limitRanges: KubeObject[] = []) {
  const builder = new SnapshotBuilder(
    {
      nodes: cachedInformer([]),
      pods: cachedInformer([]),
      namespaces: cachedInformer([]),
      leases: cachedInformer([]),
      quotas: cachedInformer([]),
      resourceQuotas: cachedInformer(resourceQuotas),
      limitRanges: cachedInformer(limitRanges),
      tenantAdmission: { informer: cachedInformer(configMaps), namespace: "gpulease-system" },
    },
    BUILDER_CONVERT,
    BUILDER_SETTINGS,
  );
  return builder.build(0).snapshot;
}

describe("the snapshot of the operator's ResourceQuotas and allow-list", () => {
  it("reads the GPU quota and the priority quota of one namespace apart", () => {
    const snapshot = build([
      quota("gpulease", { hard: { "requests.nvidia.com/gpu": "4" } }),
      quota("gpulease-priority", priorityScope(["gpulease-tenant", "high"])),
    ]);
    expect(snapshot.resourceQuotas).toEqual([
      { namespace: "acme-ns", hard: { "requests.nvidia.com/gpu": "4" } },
    ]);
    expect(snapshot.priorityQuotas).toEqual([
      { namespace: "acme-ns", allowedClasses: ["gpulease-tenant", "high"] },
    ]);
  });

  it("reads the quota's limits as the API server writes them back, in the operator's own notation", () => {
    // The server canonicalizes: 48000m CPU comes back as "48", 2^39 bytes as "512Gi".
    const snapshot = build([
      quota("gpulease", {
        hard: {
          "requests.nvidia.com/gpu": "4",
          "requests.cpu": "48",
          "requests.memory": "512Gi",
          pods: "55",
        },
      }),
    ]);
    expect(snapshot.resourceQuotas?.[0]?.hard).toEqual({
      "requests.nvidia.com/gpu": "4",
      "requests.cpu": "48000m",
      "requests.memory": String(2 ** 39),
      pods: "55",
    });
  });

  it("reads the operator's LimitRange defaults, and one edited by hand as none", () => {
    const limitRange = (limits: unknown[]): KubeObject => ({
      metadata: { name: "gpulease", namespace: "acme-ns", resourceVersion: "1" },
      spec: { limits },
    });
    const defaults = { cpu: "100m", memory: "128Mi" };
    expect(
      build([], [], [limitRange([{ type: "Container", defaultRequest: defaults }])]).limitRanges,
    ).toEqual([{ namespace: "acme-ns", defaultRequest: defaults }]);
    const widened = [
      { type: "Container", defaultRequest: defaults },
      { type: "Pod", max: { cpu: "1" } },
    ];
    expect(build([], [], [limitRange(widened)]).limitRanges?.[0]?.defaultRequest).toEqual({});
  });

  it("reads a priority quota edited by hand as allowing nothing, so it is written again", () => {
    const widened = { ...priorityScope(["gpulease-tenant"]), hard: { pods: "100" } };
    const narrowed = { hard: { pods: "0" }, scopeSelector: { matchExpressions: [] } };
    expect(build([quota("gpulease-priority", widened)]).priorityQuotas?.[0]?.allowedClasses).toEqual([]);
    expect(build([quota("gpulease-priority", narrowed)]).priorityQuotas?.[0]?.allowedClasses).toEqual([]);
  });

  it("reads the allow-list ConfigMap, and its absence", () => {
    const configMap: KubeObject = {
      metadata: { name: "gpulease-tenant-admission", namespace: "gpulease-system" },
      data: { allowedPriorityClasses: "high" },
    };
    expect(build([], [configMap]).tenantAdmission).toEqual({
      namespace: "gpulease-system",
      exists: true,
      value: "high",
    });
    expect(build([]).tenantAdmission).toEqual({
      namespace: "gpulease-system",
      exists: false,
      value: undefined,
    });
  });
});

import { describe, expect, it } from "vitest";
import { SnapshotBuilder } from "../../../src/controller/snapshot.ts";
import type { KubeObject } from "../../../src/kube/rest.ts";
import { BUILDER_CONVERT, BUILDER_SETTINGS, cachedInformer } from "../../support/informer-cache.ts";

const cache = cachedInformer;

const lease: KubeObject = {
  apiVersion: "gpulease.io/v1alpha1",
  kind: "GpuLease",
  metadata: {
    name: "train",
    namespace: "acme",
    uid: "u-1",
    resourceVersion: "1",
    generation: 1,
    creationTimestamp: "2026-12-01T00:00:00Z",
  },
  spec: { gpus: 1 },
};

describe("a lease deleted under the operator, in the snapshot", () => {
  it("is first seen gone by a whole pass, at that pass's instant, even after a reclaim-first pass", () => {
    const leases = cache([lease]);
    const builder = new SnapshotBuilder(
      { nodes: cache(), pods: cache(), namespaces: cache(), leases, quotas: cache() },
      BUILDER_CONVERT,
      BUILDER_SETTINGS,
    );
    expect(builder.build(1).snapshot.leases.map((l) => l.uid)).toEqual(["u-1"]);
    leases.forget("acme/train");
    // The reclaim-first pass sees it neither live nor vanished, and notes nothing.
    const first = builder.build(2, { noteVanished: false }).snapshot;
    expect(first.leases).toEqual([]);
    expect(first.vanishedLeases).toEqual([]);
    // The whole pass after it notes the vanish at its own instant (its Event is planned for that instant).
    const whole = builder.build(3).snapshot;
    expect(whole.vanishedLeases?.map((v) => [v.lease.uid, v.vanishedAt])).toEqual([["u-1", 3]]);
    expect(
      builder.build(4, { noteVanished: false }).snapshot.vanishedLeases?.map((v) => v.vanishedAt),
    ).toEqual([3]);
  });
});

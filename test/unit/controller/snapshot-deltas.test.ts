/**
 * The snapshot builder keeps its views from the informers' change events instead of reading every
 * cached object each pass. Random sequences of cache changes and builds check it against the plain
 * definition: every object of every cache converted afresh, and vanished leases found by comparing
 * all leases with those the last noting build saw.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SnapshotBuilder } from "../../../src/controller/snapshot.ts";
import type { LeaseView, MalformedObject, VanishedLease } from "../../../src/core/model.ts";
import { isMalformed, toLeaseView, toNodeView, toPodView } from "../../../src/kube/convert.ts";
import type { Informer } from "../../../src/kube/informer.ts";
import { BUILDER_CONVERT, BUILDER_SETTINGS, cachedInformer } from "../../support/informer-cache.ts";

const convert = BUILDER_CONVERT;
const settings = BUILDER_SETTINGS;
const emptyCache = () => cachedInformer();

type Step =
  | { kind: "lease"; slot: number; generation: number; malformed: boolean }
  | { kind: "deleteLease"; slot: number }
  | { kind: "pod"; slot: number; node: number }
  | { kind: "deletePod"; slot: number }
  | { kind: "node"; slot: number; gpus: number }
  | { kind: "deleteNode"; slot: number }
  | { kind: "build"; noting: boolean }
  | { kind: "forgetVanished" };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("lease" as const),
    slot: fc.nat(5),
    // A new generation of a slot is a lease deleted and created again under the same name (a new uid).
    generation: fc.nat(2),
    malformed: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("deleteLease" as const), slot: fc.nat(5) }),
  fc.record({ kind: fc.constant("pod" as const), slot: fc.nat(5), node: fc.nat(3) }),
  fc.record({ kind: fc.constant("deletePod" as const), slot: fc.nat(5) }),
  fc.record({ kind: fc.constant("node" as const), slot: fc.nat(3), gpus: fc.nat(8) }),
  fc.record({ kind: fc.constant("deleteNode" as const), slot: fc.nat(3) }),
  fc.record({ kind: fc.constant("build" as const), noting: fc.boolean() }),
  fc.record({ kind: fc.constant("forgetVanished" as const) }),
);

/** What the builder must give: every cached object converted, vanished leases by a full comparison. */
class Reference {
  private lastLeases = new Map<string, LeaseView>();
  readonly vanished = new Map<string, VanishedLease>();
  /** Leases found vanished, in all. */
  found = 0;

  constructor(private readonly caches: { nodes: Informer; pods: Informer; leases: Informer }) {}

  build(now: number, noting: boolean) {
    const all = [...this.caches.leases.store.values()].map(toLeaseView);
    const leases = all.filter((v): v is LeaseView => !isMalformed(v));
    const malformed = all.filter((v): v is MalformedObject => isMalformed(v));
    if (noting) {
      const current = new Map(leases.map((l) => [l.uid, l]));
      const unreadable = new Set(malformed.map((m) => `${m.namespace}/${m.name}`));
      for (const [uid, lease] of this.lastLeases) {
        if (current.has(uid) || this.vanished.has(uid)) continue;
        if (unreadable.has(`${lease.namespace}/${lease.name}`)) current.set(uid, lease);
        else {
          this.vanished.set(uid, { lease, vanishedAt: now });
          this.found += 1;
        }
      }
      this.lastLeases = current;
    }
    return {
      nodes: [...this.caches.nodes.store.values()].map((raw) => toNodeView(raw, convert)),
      pods: [...this.caches.pods.store.values()].map((raw) => toPodView(raw, convert.resourceNames)),
      leases,
      malformed,
      vanished: [...this.vanished.values()],
    };
  }
}

function run(steps: Step[]): { builds: number; vanished: number; kept: number } {
  const caches = { nodes: emptyCache(), pods: emptyCache(), leases: emptyCache() };
  const builder = new SnapshotBuilder(
    { ...caches, namespaces: emptyCache(), quotas: emptyCache() },
    convert,
    settings,
  );
  const reference = new Reference(caches);
  let version = 0;
  const rv = () => String(++version);
  let builds = 0;
  let kept = 0;
  let changedSinceBuild = true;
  let previous: ReturnType<SnapshotBuilder["build"]>["snapshot"] | undefined;
  for (const s of steps) {
    switch (s.kind) {
      case "lease":
        caches.leases.upsert({
          apiVersion: "gpulease.io/v1alpha1",
          kind: "GpuLease",
          metadata: {
            namespace: "acme",
            name: `lease-${s.slot}`,
            uid: `u-${s.slot}-${s.generation}`,
            resourceVersion: rv(),
            generation: 1,
            creationTimestamp: "2026-12-01T00:00:00Z",
          },
          // A negative count is refused by the parser: the lease is malformed, and still exists.
          spec: { gpus: s.malformed ? -1 : 1 + s.slot },
        });
        break;
      case "deleteLease":
        caches.leases.forget(`acme/lease-${s.slot}`);
        break;
      case "pod":
        caches.pods.upsert({
          metadata: { namespace: "acme", name: `pod-${s.slot}`, uid: `p-${s.slot}`, resourceVersion: rv() },
          spec: { nodeName: `node-${s.node}`, containers: [] },
          status: { phase: "Running" },
        });
        break;
      case "deletePod":
        caches.pods.forget(`acme/pod-${s.slot}`);
        break;
      case "node":
        caches.nodes.upsert({
          metadata: { name: `node-${s.slot}`, resourceVersion: rv() },
          status: { allocatable: { "nvidia.com/gpu": String(s.gpus) } },
        });
        break;
      case "deleteNode":
        caches.nodes.forget(`node-${s.slot}`);
        break;
      case "forgetVanished": {
        const uids = [...reference.vanished.keys()].slice(0, 1);
        for (const uid of uids) reference.vanished.delete(uid);
        builder.forgetVanished(uids);
        break;
      }
      case "build": {
        builds += 1;
        const now = builds * 1000;
        const { snapshot, malformed } = builder.build(now, { noteVanished: s.noting });
        const expected = reference.build(now, s.noting);
        expect(snapshot.nodes).toEqual(expected.nodes);
        expect(snapshot.pods).toEqual(expected.pods);
        expect(snapshot.leases).toEqual(expected.leases);
        expect(malformed).toEqual(expected.malformed);
        expect(snapshot.unreadableLeases).toEqual(expected.malformed.map((m) => `${m.namespace}/${m.name}`));
        const byUid = (v: VanishedLease[]) =>
          [...v].sort((a, b) => a.lease.uid.localeCompare(b.lease.uid)).map((x) => [x.lease, x.vanishedAt]);
        expect(byUid(snapshot.vanishedLeases ?? [])).toEqual(byUid(expected.vanished));
        // What the planner relies on: with no change in between, the very same arrays.
        if (previous && !changedSinceBuild) {
          expect(snapshot.nodes).toBe(previous.nodes);
          expect(snapshot.pods).toBe(previous.pods);
          expect(snapshot.leases).toBe(previous.leases);
          kept += 1;
        }
        previous = snapshot;
        changedSinceBuild = false;
        continue;
      }
    }
    changedSinceBuild = true;
  }
  return { builds, vanished: reference.found, kept };
}

describe("the snapshot builder kept from change events", () => {
  it("builds what converting every cached object afresh gives, with the same vanished leases", () => {
    let vanishedSeen = 0;
    let keptSeen = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 80, size: "max" }), (steps) => {
        const { vanished, kept } = run(steps);
        vanishedSeen += vanished;
        keptSeen += kept;
      }),
      { numRuns: 1000 },
    );
    // The sequences reached what the test is about.
    expect(vanishedSeen).toBeGreaterThan(50);
    expect(keptSeen).toBeGreaterThan(50);
  });

  it("gives the same arrays while nothing changes, and converts only a changed object", () => {
    const caches = { nodes: emptyCache(), pods: emptyCache(), leases: emptyCache() };
    for (let i = 0; i < 3; i++) {
      caches.pods.upsert({
        metadata: { namespace: "acme", name: `pod-${i}`, uid: `p-${i}`, resourceVersion: "1" },
        spec: { containers: [] },
      });
    }
    const builder = new SnapshotBuilder(
      { ...caches, namespaces: emptyCache(), quotas: emptyCache() },
      convert,
      settings,
    );
    const first = builder.build(1).snapshot;
    const second = builder.build(2).snapshot;
    expect(second.pods).toBe(first.pods);
    caches.pods.upsert({
      metadata: { namespace: "acme", name: "pod-1", uid: "p-1", resourceVersion: "2" },
      spec: { nodeName: "node-a", containers: [] },
    });
    const third = builder.build(3).snapshot;
    expect(third.pods).not.toBe(first.pods);
    expect(third.pods[0]).toBe(first.pods[0]);
    expect(third.pods[1]?.nodeName).toBe("node-a");
    expect(third.pods[2]).toBe(first.pods[2]);
    expect(third.nodes).toBe(first.nodes);
    // A new version the planner reads the same (here: the pod's IP, which it does not read) keeps
    // the view and the array: the planner sees that nothing changed.
    caches.pods.upsert({
      metadata: { namespace: "acme", name: "pod-2", uid: "p-2", resourceVersion: "3" },
      spec: { containers: [] },
      status: { podIP: "10.0.0.2" },
    });
    expect(builder.build(4).snapshot.pods).toBe(third.pods);
  });

  it("shows a change to a handler that builds at once, even one registered before the builder", () => {
    // The operator's handlers start a pass synchronously (the work queue runs its first key at once),
    // and they are registered before the snapshot builder exists.
    const leases = emptyCache();
    const seen: boolean[] = [];
    let builder: SnapshotBuilder | undefined;
    leases.onChange(() => {
      seen.push(builder?.build(2).snapshot.leases[0]?.deleting ?? false);
    });
    builder = new SnapshotBuilder(
      { nodes: emptyCache(), pods: emptyCache(), namespaces: emptyCache(), leases, quotas: emptyCache() },
      convert,
      settings,
    );
    const raw = {
      apiVersion: "gpulease.io/v1alpha1",
      kind: "GpuLease",
      metadata: { namespace: "acme", name: "work", uid: "u-1", resourceVersion: "1", generation: 1 },
      spec: { gpus: 1 },
    };
    leases.upsert(raw);
    builder.build(1);
    leases.upsert({
      ...raw,
      metadata: { ...raw.metadata, resourceVersion: "2", deletionTimestamp: "2026-12-05T00:00:00Z" },
    });
    expect(seen.at(-1)).toBe(true);
  });
});

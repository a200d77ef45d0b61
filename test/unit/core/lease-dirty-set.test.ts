/**
 * The dirty set decides which lease plans the incremental planner looks at. Each rule is tested on its
 * own: after a quiet pass, one change must mark the lease it touches, and only that lease (so a test
 * cannot pass by marking everything). The property test of the incremental planner checks the whole.
 */
import { describe, expect, it } from "vitest";
import { accountNodes } from "../../../src/core/accounting.ts";
import type { AdmissionDecision } from "../../../src/core/admission.ts";
import { arrayChanges, LeaseDirtySet, type WalkInputs } from "../../../src/core/lease-dirty-set.ts";
import type { ClusterSnapshot, LeaseView } from "../../../src/core/model.ts";
import { lease, node, pod, quota, snapshot, T0, tenantNs } from "../../support/snapshot-builder.ts";

const active = (name: string, nodeName: string) =>
  lease(
    "acme-ns",
    name,
    { gpus: 2 },
    { status: { phase: "Active", allocations: [{ node: nodeName, gpus: 2 }] } },
  );

function world(): ClusterSnapshot {
  const base = snapshot({});
  return snapshot({
    now: T0,
    // Metered by the minute: a plan does not change with every instant.
    settings: { ...base.settings, meteringIntervalMs: 60_000 },
    nodes: [node("n1", { lent: true }), node("n2", { lent: true })],
    namespaces: [tenantNs("acme-ns", "acme")],
    quotas: [quota("acme", { limits: [{ maxGpus: 16 }] })],
    leases: [active("on-n1", "n1"), active("on-n2", "n2")],
    pods: [pod("acme-ns", "p1", { lease: "on-n1", nodeName: "n1", phase: "Running" })],
  });
}

const byKey = (s: ClusterSnapshot) => new Map(s.leases.map((l) => [`${l.namespace}/${l.name}`, l]));

interface Pass {
  decisions?: AdmissionDecision[];
  hits?: Set<string>;
  atRisk?: Set<string>;
}

/** One pass of the walk: the dirty set, then every lease remembered as kept (waking at `wakeAt`). */
function pass(set: LeaseDirtySet, s: ClusterSnapshot, extra: Pass = {}, wakeAt?: (l: LeaseView) => number) {
  const inputs: WalkInputs = {
    snapshot: s,
    leaseByKey: byKey(s),
    accounts: accountNodes(s),
    decisions: extra.decisions ?? [],
    hits: extra.hits ?? new Set(),
    atRisk: extra.atRisk ?? new Set(),
  };
  const dirty = set.dirty(inputs);
  set.remember(
    inputs,
    s.leases.map((l) => ({ uid: l.uid, kept: true, wakeAt: wakeAt?.(l) })),
  );
  return dirty === undefined
    ? "everything"
    : [...dirty].map((uid) => s.leases.find((l) => l.uid === uid)?.name);
}

/** A walker that has seen `s` twice: the second pass found nothing changed. */
function settled(s: ClusterSnapshot, extra: Pass = {}) {
  const set = new LeaseDirtySet();
  expect(pass(set, s, extra)).toBe("everything");
  expect(pass(set, { ...s, now: s.now + 1 }, extra)).toEqual([]);
  return set;
}

describe("the lease dirty set", () => {
  it("marks a lease whose object changed, and a lease added", () => {
    const s = world();
    const set = settled(s);
    const [first, second] = s.leases as [LeaseView, LeaseView];
    const changed = { ...second, annotations: { edited: "yes" } };
    expect(pass(set, { ...s, now: s.now + 2, leases: [first, changed] })).toEqual(["on-n2"]);
    const added = active("new", "n1");
    expect(pass(set, { ...s, now: s.now + 3, leases: [first, changed, added] })).toEqual(["new"]);
  });

  it("marks the lease of a pod that came, changed or went", () => {
    const s = world();
    const set = settled(s);
    const came = pod("acme-ns", "p2", { lease: "on-n2" });
    expect(pass(set, { ...s, now: s.now + 2, pods: [...s.pods, came] })).toEqual(["on-n2"]);
    expect(pass(set, { ...s, now: s.now + 3, pods: [...s.pods] })).toEqual(["on-n2"]);
    expect(pass(set, { ...s, now: s.now + 4, pods: [] })).toEqual(["on-n1"]);
  });

  it("marks the leases on a node whose account changed, and on a node that went", () => {
    const s = world();
    const set = settled(s);
    const [n1, n2] = s.nodes as [ClusterSnapshot["nodes"][number], ClusterSnapshot["nodes"][number]];
    const cordoned = { ...n2, unschedulable: true };
    expect(pass(set, { ...s, now: s.now + 2, nodes: [n1, cordoned] })).toEqual(["on-n2"]);
    expect(pass(set, { ...s, now: s.now + 3, nodes: [cordoned] })).toEqual(["on-n1"]);
  });

  it("marks a lease whose admission decision changed or went", () => {
    const s = world();
    const [first] = s.leases as [LeaseView];
    const wait = (message: string): AdmissionDecision => ({
      kind: "wait",
      lease: first,
      refusal: { reason: "InsufficientCapacity", message },
    });
    const before = [wait("a")];
    const set = settled(s, { decisions: before });
    // A new decision object saying the same (admission ran whole) is not a change to the plan.
    expect(pass(set, { ...s, now: s.now + 2 }, { decisions: [wait("a")] })).toEqual([]);
    expect(pass(set, { ...s, now: s.now + 3 }, { decisions: [wait("b")] })).toEqual(["on-n1"]);
    expect(pass(set, { ...s, now: s.now + 4 }, { decisions: [] })).toEqual(["on-n1"]);
  });

  it("marks a lease hit by a reclaim, the pass of the hit and the one after", () => {
    const s = world();
    const set = settled(s);
    expect(pass(set, { ...s, now: s.now + 2 }, { hits: new Set(["acme-ns/on-n2"]) })).toEqual(["on-n2"]);
    expect(pass(set, { ...s, now: s.now + 3 })).toEqual(["on-n2"]);
    expect(pass(set, { ...s, now: s.now + 4 })).toEqual([]);
  });

  it("marks a lease whose AtRisk mark is set or cleared", () => {
    const s = world();
    const set = settled(s);
    expect(pass(set, { ...s, now: s.now + 2 }, { atRisk: new Set(["acme-ns/on-n1"]) })).toEqual(["on-n1"]);
    expect(pass(set, { ...s, now: s.now + 3 }, { atRisk: new Set(["acme-ns/on-n1"]) })).toEqual([]);
    expect(pass(set, { ...s, now: s.now + 4 })).toEqual(["on-n1"]);
  });

  it("marks a lease whose plan's wakeAt has come, once", () => {
    const s = world();
    const set = new LeaseDirtySet();
    const wakes = (l: LeaseView) => (l.name === "on-n1" ? T0 + 100 : T0 + 1_000_000);
    expect(pass(set, s, {}, wakes)).toBe("everything");
    expect(pass(set, { ...s, now: T0 + 99 }, {}, wakes)).toEqual([]);
    expect(pass(set, { ...s, now: T0 + 100 })).toEqual(["on-n1"]);
    expect(pass(set, { ...s, now: T0 + 200 })).toEqual([]);
  });

  it("marks next pass a lease whose plan was not kept", () => {
    const s = world();
    const set = settled(s);
    const inputs: WalkInputs = {
      snapshot: { ...s, now: s.now + 2 },
      leaseByKey: byKey(s),
      accounts: accountNodes(s),
      decisions: [],
      hits: new Set(),
      atRisk: new Set(),
    };
    expect(set.dirty(inputs)).toEqual(new Set());
    const [first] = s.leases as [LeaseView];
    set.remember(inputs, [{ uid: first.uid, kept: false, wakeAt: undefined }]);
    expect(pass(set, { ...s, now: s.now + 3 })).toEqual(["on-n1"]);
  });

  it("marks everything when what every plan reads changed", () => {
    const s = world();
    const changes: [string, (x: ClusterSnapshot) => ClusterSnapshot][] = [
      ["settings", (x) => ({ ...x, settings: { ...x.settings } })],
      ["namespaces", (x) => ({ ...x, namespaces: [...x.namespaces] })],
      ["quotas", (x) => ({ ...x, quotas: [...x.quotas] })],
      ["time going back", (x) => ({ ...x, now: T0 - 1 })],
      ["a bind backoff", (x) => ({ ...x, bindBackoff: new Map([["some-pod", { until: T0 + 60_000 }]]) })],
    ];
    for (const [what, change] of changes) {
      const set = settled(s);
      expect({ what, dirty: pass(set, change({ ...s, now: s.now + 2 })) }).toEqual({
        what,
        dirty: "everything",
      });
    }
    // Metering up to the instant: every plan changes with time.
    const toTheInstant = { ...s, settings: { ...s.settings, meteringIntervalMs: 0 } };
    const set = new LeaseDirtySet();
    pass(set, toTheInstant);
    expect(pass(set, { ...toTheInstant, now: T0 + 1 })).toBe("everything");
  });
});

describe("array changes", () => {
  const id = (x: { id: string }) => x.id;
  it("finds an update in place, an addition and a deletion", () => {
    const [a, b, c] = [{ id: "a" }, { id: "b" }, { id: "c" }];
    const b2 = { id: "b" };
    const d = { id: "d" };
    expect(arrayChanges([a, b, c], [a, b2, d], id)).toEqual({ gone: [b, c], came: [b2, d] });
    expect(arrayChanges([a, b, c], [a, c], id)).toEqual({ gone: [b], came: [] });
  });

  it("takes items out of step as gone and come again", () => {
    const [a, b] = [{ id: "a" }, { id: "b" }];
    const { gone, came } = arrayChanges([a, b], [b, a], id);
    expect(new Set([...gone, ...came])).toContain(a);
  });
});

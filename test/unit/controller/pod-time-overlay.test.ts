import { describe, expect, it } from "vitest";
import { PodTimeOverlay } from "../../../src/controller/pod-time-overlay.ts";
import { pod, T0 } from "../../support/snapshot-builder.ts";

describe("the Unschedulable time overlay", () => {
  const waiting = pod("training", "w", { unschedulable: true, unschedulableSince: T0 + 1000 });
  const running = pod("training", "r", { phase: "Running", nodeName: "n1" });

  it("plans with the later, exact time the operator saw, copying only that pod", () => {
    const overlay = new PodTimeOverlay();
    const pods = [running, waiting];
    const out = overlay.apply(pods, new Map([[waiting.uid, T0 + 1400]]));
    expect(out[0]).toBe(running);
    expect(out[1]).toEqual({ ...waiting, unschedulableSince: T0 + 1400 });
    expect(pods[1]).toBe(waiting); // the view cache's object is not touched
    // A time before the condition's (which is truncated, so never later than the truth) is left alone.
    expect(overlay.apply(pods, new Map([[waiting.uid, T0 + 500]]))).toBe(pods);
  });

  it("hands back the same array and copies while nothing changed", () => {
    const overlay = new PodTimeOverlay();
    const pods = [running, waiting];
    const seen = new Map([[waiting.uid, T0 + 1400]]);
    const first = overlay.apply(pods, seen);
    expect(overlay.apply(pods, seen)).toBe(first);
    // The pod changed: a new copy, a new array.
    const changed = { ...waiting, annotations: { x: "y" } };
    const second = overlay.apply([running, changed], seen);
    expect(second).not.toBe(first);
    expect(second[1]).toEqual({ ...changed, unschedulableSince: T0 + 1400 });
    // The operator forgot the time: the pods as they are.
    const plain = [running, changed];
    expect(overlay.apply(plain, new Map())).toBe(plain);
  });

  it("gives the pods array itself when no pod needs a time", () => {
    const pods = [running];
    expect(new PodTimeOverlay().apply(pods, new Map([[running.uid, T0]]))).toBe(pods);
  });
});

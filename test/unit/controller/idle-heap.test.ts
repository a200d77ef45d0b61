import { afterEach, describe, expect, it, vi } from "vitest";
import { type HeapFigures, IdleHeap } from "../../../src/controller/idle-heap.ts";

const MB = 2 ** 20;

function heap(figures: HeapFigures[]) {
  const collected: number[] = [];
  let now = figures[0] as HeapFigures;
  const idle = new IdleHeap(
    () => {
      collected.push(Date.now());
      now = figures[1] ?? now;
    },
    () => {},
    10_000,
    () => now,
  );
  return { idle, collected };
}

afterEach(() => vi.useRealTimers());

describe("giving back the heap when idle", () => {
  it("collects once the operator has run no pass for the idle period, not before", () => {
    vi.useFakeTimers();
    const { idle, collected } = heap([
      { heapUsed: 90 * MB, heapTotal: 500 * MB },
      { heapUsed: 90 * MB, heapTotal: 120 * MB },
    ]);
    idle.passRan();
    vi.advanceTimersByTime(9_000);
    idle.passRan(); // another pass: the idle period starts again
    vi.advanceTimersByTime(9_000);
    expect(collected).toHaveLength(0);
    vi.advanceTimersByTime(1_000);
    expect(collected).toHaveLength(1);
  });

  it("does not collect a heap that is mostly live, or has little to give back", () => {
    expect(heap([{ heapUsed: 300 * MB, heapTotal: 500 * MB }]).idle.compactIfWorthIt()).toBe(false);
    expect(heap([{ heapUsed: 20 * MB, heapTotal: 70 * MB }]).idle.compactIfWorthIt()).toBe(false);
    expect(heap([{ heapUsed: 90 * MB, heapTotal: 500 * MB }]).idle.compactIfWorthIt()).toBe(true);
  });

  it("does nothing without --expose-gc", () => {
    const idle = new IdleHeap(undefined, () => {});
    expect(idle.compactIfWorthIt()).toBe(false);
  });
});

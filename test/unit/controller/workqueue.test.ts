import { describe, expect, it } from "vitest";
import { WorkQueue } from "../../../src/controller/workqueue.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function recorder(work: (key: string) => Promise<void> = async () => {}) {
  const seen: string[] = [];
  let concurrent = 0;
  let maxConcurrentPerKey = 0;
  const active = new Map<string, number>();
  const queue = new WorkQueue<string>({
    workers: 4,
    baseDelayMs: 20,
    maxDelayMs: 200,
    process: async (key) => {
      seen.push(key);
      concurrent++;
      active.set(key, (active.get(key) ?? 0) + 1);
      maxConcurrentPerKey = Math.max(maxConcurrentPerKey, active.get(key) ?? 0);
      try {
        await work(key);
      } finally {
        active.set(key, (active.get(key) ?? 1) - 1);
        concurrent--;
      }
    },
  });
  return { queue, seen, maxPerKey: () => maxConcurrentPerKey, concurrent: () => concurrent };
}

describe("the work queue", () => {
  it("processes a key added many times while waiting once", async () => {
    const { queue, seen } = recorder();
    for (let i = 0; i < 10; i++) queue.add("a");
    queue.add("b");
    queue.start();
    await queue.drained();
    expect(seen.sort()).toEqual(["a", "b"]);
  });

  it("runs an urgent key before the keys already waiting, once the running one is done", async () => {
    const seen: string[] = [];
    let release: () => void = () => {};
    const queue = new WorkQueue<string>({
      workers: 1,
      baseDelayMs: 20,
      maxDelayMs: 200,
      isUrgent: (key) => key === "reclaim",
      process: async (key) => {
        seen.push(key);
        if (key === "plan" && seen.length === 1) await new Promise<void>((r) => (release = r));
      },
    });
    queue.start();
    queue.add("plan"); // running, held
    queue.add("other");
    queue.add("plan"); // dirty: runs again after
    queue.add("reclaim");
    release();
    await queue.drained();
    expect(seen).toEqual(["plan", "reclaim", "other", "plan"]);
  });

  it("never runs one key on two workers, and reruns a key added while it ran", async () => {
    const { queue, seen, maxPerKey } = recorder(() => sleep(30));
    queue.start();
    queue.add("a");
    await sleep(5);
    queue.add("a");
    queue.add("a");
    await queue.drained();
    expect(maxPerKey()).toBe(1);
    expect(seen).toEqual(["a", "a"]);
  });

  it("retries with a growing backoff and forgets it after success", async () => {
    let attempts = 0;
    const times: number[] = [];
    const queue = new WorkQueue<string>({
      workers: 1,
      baseDelayMs: 20,
      maxDelayMs: 1000,
      process: async (key) => {
        times.push(Date.now());
        attempts++;
        if (attempts < 4) queue.addRateLimited(key);
        else queue.forget(key);
      },
    });
    queue.start();
    queue.add("k");
    await sleep(400);
    expect(attempts).toBe(4);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? t));
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[2]).toBeGreaterThanOrEqual(70); // 20, 40, 80
    expect(queue.failuresOf("k")).toBe(0);
  });

  it("keeps the earliest of two schedules for a key", async () => {
    const { queue, seen } = recorder();
    queue.start();
    queue.addAfter("k", 300);
    queue.addAfter("k", 20);
    await sleep(80);
    expect(seen).toEqual(["k"]);
  });

  it("finishes in-flight work on shutdown and takes no more", async () => {
    let finished = false;
    const { queue, seen } = recorder(async () => {
      await sleep(50);
      finished = true;
    });
    queue.start();
    queue.add("a");
    await sleep(5);
    await queue.shutdown();
    expect(finished).toBe(true);
    queue.add("b");
    await sleep(20);
    expect(seen).toEqual(["a"]);
  });

  it("works again when started after a shutdown (a leader that won its lease back)", async () => {
    const { queue, seen } = recorder();
    queue.start();
    await queue.shutdown();
    queue.start();
    queue.add("c");
    await queue.drained();
    expect(seen).toEqual(["c"]);
  });
});

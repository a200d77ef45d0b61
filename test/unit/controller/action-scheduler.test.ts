import { describe, expect, it } from "vitest";
import { runWhenReady, type Scheduled } from "../../../src/controller/action-scheduler.ts";

/** A task whose calls finish only when released, recording starts and ends in order. */
function heldTasks() {
  const log: string[] = [];
  const release = new Map<string, () => void>();
  const running = new Set<string>();
  let most = 0;
  const task = (id: string) =>
    new Promise<void>((resolve) => {
      log.push(`start ${id}`);
      running.add(id);
      most = Math.max(most, running.size);
      release.set(id, () => {
        running.delete(id);
        log.push(`end ${id}`);
        resolve();
      });
    });
  const finish = async (id: string) => {
    const done = release.get(id);
    if (!done) throw new Error(`${id} has not started`);
    done();
    await new Promise((r) => setImmediate(r));
  };
  return { log, task, finish, most: () => most };
}

const item = (id: string, requires: string[] = [], lane = 0): Scheduled<string> => ({
  item: id,
  id,
  requires,
  lane,
});

describe("running a batch's actions", () => {
  it("starts a notice when its own lease's status is written, not when every status is", async () => {
    const { log, task, finish } = heldTasks();
    const run = runWhenReady(
      [item("status a"), item("status b"), item("notice a", ["status a"]), item("notice b", ["status b"])],
      [8],
      task,
    );
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(["start status a", "start status b"]);
    // Lease a's status is slow; b's notice goes out meanwhile.
    await finish("status b");
    expect(log).toContain("start notice b");
    await finish("notice b");
    expect(log).not.toContain("start notice a");
    await finish("status a");
    await finish("notice a");
    await run;
    expect(log.indexOf("end notice b")).toBeLessThan(log.indexOf("end status a"));
  });

  it("keeps each lane within its limit, and starts the ready ones in the order given", async () => {
    const { log, task, finish, most } = heldTasks();
    const ids = ["e1", "e2", "e3", "w1", "w2"];
    const run = runWhenReady(
      ids.map((id) => item(id, [], id.startsWith("e") ? 0 : 1)),
      [2, 1],
      task,
    );
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(["start e1", "start e2", "start w1"]);
    await finish("e2");
    expect(log.at(-1)).toBe("start e3");
    for (const id of ["e1", "e3", "w1"]) await finish(id);
    await finish("w2");
    await run;
    expect(most()).toBe(3);
  });

  it("runs a dependent after a prerequisite that failed (the task decides), then reports the failure", async () => {
    const ran: string[] = [];
    const run = runWhenReady([item("status"), item("notice", ["status"])], [4], async (id) => {
      ran.push(id);
      if (id === "status") throw new Error("write failed");
    });
    await expect(run).rejects.toThrow("write failed");
    expect(ran).toEqual(["status", "notice"]);
  });

  it("takes a prerequisite outside the set as done, and finishes an empty set", async () => {
    const ran: string[] = [];
    await runWhenReady([item("notice", ["done earlier"])], [1], async (id) => void ran.push(id));
    expect(ran).toEqual(["notice"]);
    await expect(runWhenReady([], [1], async () => {})).resolves.toBeUndefined();
  });

  it("refuses actions that wait on each other instead of hanging", async () => {
    await expect(runWhenReady([item("a", ["b"]), item("b", ["a"])], [1], async () => {})).rejects.toThrow(
      "2 actions wait on each other",
    );
  });
});

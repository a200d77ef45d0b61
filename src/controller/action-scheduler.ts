/**
 * Runs a set of actions as soon as each one's prerequisites in the set have settled (succeeded or
 * not: the task decides what a failed prerequisite means), at most `limits[lane]` at once per lane,
 * and among the ready ones of a lane in the order given.
 *
 * Waves would wait for the slowest write of a wave before starting any of the next: a reclaim's pod
 * notices would wait for every other reclaim's lease status, on an API server where one write can
 * take ten times another. Here a notice starts when its own lease's status is written.
 */
export interface Scheduled<T> {
  item: T;
  id: string;
  /** Ids this one runs after; ids outside the set are taken as settled. */
  requires: readonly string[];
  /** Index into `limits`. */
  lane: number;
}

export function runWhenReady<T>(
  scheduled: readonly Scheduled<T>[],
  limits: readonly number[],
  task: (item: T) => Promise<void>,
): Promise<void> {
  const position = new Map(scheduled.map((s, index) => [s.id, index]));
  const waitingOn = scheduled.map((s) => s.requires.filter((id) => position.has(id)).length);
  const dependents = new Map<string, number[]>();
  scheduled.forEach((s, index) => {
    for (const id of s.requires) {
      if (!position.has(id)) continue;
      const list = dependents.get(id) ?? [];
      list.push(index);
      dependents.set(id, list);
    }
  });
  // Ready positions per lane, ascending: the next to start is the first.
  const ready: number[][] = limits.map(() => []);
  const running = limits.map(() => 0);
  let settled = 0;
  let failure: unknown;

  const makeReady = (index: number) => {
    const lane = ready[(scheduled[index] as Scheduled<T>).lane] as number[];
    let at = lane.length;
    while (at > 0 && (lane[at - 1] as number) > index) at--;
    lane.splice(at, 0, index);
  };
  waitingOn.forEach((count, index) => {
    if (count === 0) makeReady(index);
  });

  return new Promise<void>((resolve, reject) => {
    const finish = () => (failure === undefined ? resolve() : reject(failure));
    const pump = () => {
      for (let lane = 0; lane < limits.length; lane++) {
        const queue = ready[lane] as number[];
        while (queue.length > 0 && (running[lane] as number) < (limits[lane] as number)) {
          const index = queue.shift() as number;
          running[lane] = (running[lane] as number) + 1;
          start(index, lane);
        }
      }
      if (settled === scheduled.length) finish();
      else if (running.every((n) => n === 0) && ready.every((q) => q.length === 0))
        // Only a cycle gets here; the batch selector never lets one through.
        reject(new Error(`${scheduled.length - settled} actions wait on each other`));
    };
    const start = (index: number, lane: number) => {
      const entry = scheduled[index] as Scheduled<T>;
      task(entry.item)
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          running[lane] = (running[lane] as number) - 1;
          settled += 1;
          for (const dependent of dependents.get(entry.id) ?? []) {
            waitingOn[dependent] = (waitingOn[dependent] as number) - 1;
            if (waitingOn[dependent] === 0) makeReady(dependent);
          }
          pump();
        });
    };
    pump();
  });
}

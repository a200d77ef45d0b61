/**
 * Gives back the heap a burst of work grew. V8 keeps the pages it grew to (at 1,000 nodes, after a
 * binding burst: about 500 MB of heap holding under 100 MB of live objects), and Node never tells it the
 * process has gone idle, so the resident size stays at its peak. Once the operator has run no pass for
 * `idleMs` and the heap is mostly empty, one full garbage collection returns the free pages to the
 * system. It needs `--expose-gc` (the image and the scripts start Node with it); without it, nothing.
 */
export interface HeapFigures {
  heapUsed: number;
  heapTotal: number;
}

export class IdleHeap {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly gc: (() => void) | undefined,
    private readonly onCompacted: (before: HeapFigures, after: HeapFigures) => void,
    private readonly idleMs = 10_000,
    private readonly usage: () => HeapFigures = () => process.memoryUsage(),
  ) {}

  /** A pass ran: compact once no other pass has run for `idleMs`. */
  passRan(): void {
    if (!this.gc) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.compactIfWorthIt(), this.idleMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Collects only when at least half the heap and 64 MB are free: a GC pause with nothing to return is waste. */
  compactIfWorthIt(): boolean {
    const before = this.usage();
    const free = before.heapTotal - before.heapUsed;
    if (!this.gc || free < 64 * 2 ** 20 || free < before.heapTotal / 2) return false;
    this.gc();
    this.onCompacted(before, this.usage());
    return true;
  }
}

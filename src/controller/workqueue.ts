/**
 * A work queue in the manner of client-go's: a key waiting in the queue is there once (dedup); a key
 * being processed is never processed by a second worker at the same time (added again meanwhile, it
 * runs once more afterwards); failures come back after a per-key exponential backoff; keys can be
 * scheduled for a future instant (deadlines, expiries). Urgent keys (new internal demand) go to the front.
 */

export interface WorkQueueHooks {
  onAdd?: () => void;
  onDepth?: (depth: number) => void;
  onQueueLatency?: (seconds: number) => void;
  onWorkDuration?: (seconds: number) => void;
  onRetry?: () => void;
}

export interface WorkQueueOptions<K> {
  process: (key: K) => Promise<void>;
  workers: number;
  baseDelayMs: number;
  maxDelayMs: number;
  hooks?: WorkQueueHooks;
  now?: () => number;
  /** Keys that go to the front of the queue when added, ahead of every other waiting key. */
  isUrgent?: (key: K) => boolean;
}

export class WorkQueue<K> {
  private readonly queue: K[] = [];
  private readonly queued = new Set<K>();
  private readonly addedAt = new Map<K, number>();
  private readonly processing = new Set<K>();
  private readonly dirty = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly idleWaiters: (() => void)[] = [];
  private running = 0;
  private shuttingDown = false;
  private started = false;
  private readonly now: () => number;

  constructor(private readonly options: WorkQueueOptions<K>) {
    this.now = options.now ?? (() => performance.now());
  }

  get depth(): number {
    return this.queue.length;
  }

  /** Adds the key now (deduplicated). */
  add(key: K): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.addedAt.set(key, this.now());
    if (this.options.isUrgent?.(key)) this.queue.unshift(key);
    else this.queue.push(key);
    this.options.hooks?.onAdd?.();
    this.options.hooks?.onDepth?.(this.queue.length);
    this.pump();
  }

  /** Whether the key waits in the queue (not counting a run in progress). */
  isQueued(key: K): boolean {
    return this.queued.has(key);
  }

  /** Adds the key after `delayMs`; an earlier pending schedule for the same key wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Adds the key after its backoff: base · 2^failures, capped. */
  addRateLimited(key: K): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.options.hooks?.onRetry?.();
    this.addAfter(key, Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** failures));
  }

  /** Forgets the key's failures (after a success). */
  forget(key: K): void {
    this.failures.delete(key);
  }

  failuresOf(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** Starts (or, after a shutdown, restarts: a leader that lost its lease and won it back) the work. */
  start(): void {
    this.started = true;
    this.shuttingDown = false;
    this.pump();
  }

  /** Stops taking new work and resolves when every in-flight item has finished. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    if (this.running === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves when nothing is queued or running (for tests and benchmarks). */
  async drained(): Promise<void> {
    while (this.queue.length > 0 || this.running > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  private pump(): void {
    if (!this.started) return;
    while (this.running < this.options.workers && this.queue.length > 0 && !this.shuttingDown) {
      const key = this.queue.shift() as K;
      this.queued.delete(key);
      this.processing.add(key);
      this.running++;
      const added = this.addedAt.get(key);
      this.addedAt.delete(key);
      if (added !== undefined) this.options.hooks?.onQueueLatency?.((this.now() - added) / 1000);
      this.options.hooks?.onDepth?.(this.queue.length);
      void this.work(key);
    }
  }

  private async work(key: K): Promise<void> {
    const started = this.now();
    try {
      await this.options.process(key);
    } catch {
      // The process function owns error handling; a throw is treated as a failure to retry.
      this.addRateLimited(key);
    } finally {
      this.options.hooks?.onWorkDuration?.((this.now() - started) / 1000);
      this.processing.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
      if (this.running === 0 && (this.queue.length === 0 || this.shuttingDown)) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    }
  }
}

/**
 * Exponential backoff with jitter for reconnecting watches: the first retry comes in well under a
 * second (a restarted API server is back in seconds), the delay doubles up to a cap, and each delay
 * is drawn from [delay/2, delay] so that many informers (and many replicas) do not reconnect in step.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A number in [0, 1); Math.random by default (tests pass their own). */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next attempt; each call doubles the next one, up to the cap. */
  next(): number {
    const ceiling = Math.min(this.options.maxMs, this.options.initialMs * 2 ** this.attempt);
    if (ceiling < this.options.maxMs) this.attempt++;
    const random = this.options.random ?? Math.random;
    return Math.round(ceiling / 2 + (ceiling / 2) * random());
  }

  /** After a healthy period: the next delay starts again from the initial one. */
  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics, and leadership as a
 * write fence.
 *
 * - Expiry is judged by observation, never by the holder's clock: a candidate records the local
 *   monotonic time at which it last saw the Lease record change (holder, renewTime, resourceVersion)
 *   and takes over only when the holder's leaseDuration has passed since then. A holder whose clock
 *   runs ahead or behind ours cannot make us take over early or late.
 * - Every write carries the resourceVersion it read, so two candidates can never both win.
 * - The leader holds the lease for renewDeadline (shorter than leaseDuration) from the start of its
 *   last successful renewal, on the monotonic clock: each renewal is aborted when that time is up, and
 *   then the leader steps down, before any candidate may take over (its lease duration counts from
 *   when it saw that renewal, which is later than its start).
 * - As a WriteFence (see KubeRest), the elector permits a write only while that time holds: the check
 *   is a clock comparison, so a process resumed after a freeze refuses writes before any timer has run.
 *   Losing the lease aborts the writes in flight.
 */
import { hostname } from "node:os";
import { ConflictError, NotFoundError, NotLeaderError } from "./errors.ts";
import { type CallOptions, type KubeObject, paths, type WriteFence } from "./rest.ts";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** A monotonic clock in milliseconds (tests); performance.now() by default. */
  now?: () => number;
}

/** The calls the elector makes on the Lease (KubeRest has them; unit tests pass a fake). */
export interface LeaseClient {
  get(path: string, query: undefined, options: CallOptions): Promise<KubeObject>;
  create(path: string, body: unknown, options: CallOptions): Promise<KubeObject>;
  replace(path: string, body: unknown, options: CallOptions): Promise<KubeObject>;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

const microTime = (ms: number) => new Date(ms).toISOString().replace("Z", "000Z");

export class LeaderElector implements WriteFence {
  readonly identity: string;
  private leading = false;
  private stopped = false;
  /** Monotonic time at which the last successful renewal (or acquisition) was sent. */
  private renewedAt = Number.NEGATIVE_INFINITY;
  /** The Lease record as last seen, and the monotonic time at which it was seen to change. */
  private observed: { record: string; holder: string; durationMs: number; at: number } | undefined;
  private fence = new AbortController();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private attempt: AbortController | undefined;
  /** Leadership callbacks run one after the other: a new term starts only after the last one stopped. */
  private transitions: Promise<void> = Promise.resolve();
  private looping: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly client: LeaseClient,
    private readonly options: LeaderElectionOptions,
  ) {
    if (options.renewDeadlineMs >= options.leaseDurationMs) {
      throw new Error("leader election: renewDeadline must be shorter than leaseDuration");
    }
    this.identity =
      options.identity ?? `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    this.now = options.now ?? (() => performance.now());
  }

  /** Whether this replica may act as the leader now: it renewed the lease within renewDeadline. */
  get isLeader(): boolean {
    return this.leading && this.now() - this.renewedAt < this.options.renewDeadlineMs;
  }

  permit(method: string, path: string): AbortSignal {
    if (!this.isLeader) throw new NotLeaderError(method, path);
    return this.fence.signal;
  }

  start(): void {
    this.looping ??= this.loop();
  }

  /**
   * Stops competing. A leader closes its fence first (writes still in flight are aborted), then
   * releases the lease so another replica takes over at once, then runs onStoppedLeading.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.attempt?.abort();
    clearTimeout(this.sleepTimer);
    this.wake?.();
    await this.looping;
    if (!this.leading) {
      await this.transitions;
      return;
    }
    this.stepDown("stopping: releasing the leader lease");
    const path = paths.coordinationLease(this.options.namespace, this.options.name);
    const options: CallOptions = {
      unfenced: true,
      signal: AbortSignal.timeout(this.options.renewDeadlineMs),
    };
    try {
      const lease = await this.client.get(path, undefined, options);
      const spec = (lease.spec ?? {}) as LeaseSpec;
      if (spec.holderIdentity === this.identity) {
        await this.client.replace(
          path,
          {
            ...lease,
            spec: { ...spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(Date.now()) },
          },
          options,
        );
      }
    } catch (error) {
      this.options.log?.("could not release the leader lease", { error: String(error) });
    }
    await this.transitions;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      // Its time ran out while no timer could run (the process was frozen): a term ends before a
      // new one may start.
      if (this.leading && !this.isLeader) this.stepDown("could not renew the leader lease in time");
      // A candidate does not start a new term while the last one is still stopping.
      if (!this.leading) await this.transitions;
      const started = this.now();
      // A renewal must land before the leader's time is up; a candidate's attempt gets as long.
      const budget = this.leading
        ? this.renewedAt + this.options.renewDeadlineMs - started
        : this.options.renewDeadlineMs;
      const attempt = new AbortController();
      this.attempt = attempt;
      const timer = setTimeout(() => attempt.abort(), Math.max(0, budget));
      timer.unref();
      let acquired = false;
      try {
        acquired = await this.tryAcquireOrRenew(attempt.signal);
      } catch (error) {
        if (!this.stopped) {
          const reason = attempt.signal.aborted ? "renew deadline passed" : String(error);
          this.options.log?.("leader election request failed", { error: reason });
        }
      } finally {
        clearTimeout(timer);
      }
      if (this.stopped) break;
      if (acquired) this.renewed(started);
      else if (this.leading && !this.isLeader) this.stepDown("could not renew the leader lease in time");
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.sleepTimer = setTimeout(resolve, this.options.retryPeriodMs);
        this.sleepTimer.unref();
      });
    }
  }

  /** A renewal (or acquisition) sent at `at` succeeded: leading until at + renewDeadline. */
  private renewed(at: number): void {
    this.renewedAt = at;
    clearTimeout(this.deadlineTimer);
    const left = at + this.options.renewDeadlineMs - this.now();
    if (left <= 0) {
      if (this.leading) this.stepDown("could not renew the leader lease in time");
      return;
    }
    // The fence closes by itself (it compares clocks); this timer aborts writes in flight and stops
    // the work even if the renew loop is stuck.
    this.deadlineTimer = setTimeout(() => this.stepDown("could not renew the leader lease in time"), left);
    this.deadlineTimer.unref();
    if (this.leading) return;
    this.leading = true;
    this.fence = new AbortController();
    this.options.log?.("became the leader", { identity: this.identity });
    const onStarted = this.options.onStartedLeading;
    this.transitions = this.transitions.then(() => onStarted());
  }

  private stepDown(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    clearTimeout(this.deadlineTimer);
    this.fence.abort();
    this.options.log?.(reason.startsWith("stopping") ? reason : `lost the leader lease: ${reason}`, {
      identity: this.identity,
    });
    const onStopped = this.options.onStoppedLeading;
    this.transitions = this.transitions.then(() => onStopped());
  }

  /** Remembers the record; the observation time moves only when the record changed. */
  private observe(lease: KubeObject): void {
    const spec = (lease.spec ?? {}) as LeaseSpec;
    const holder = spec.holderIdentity ?? "";
    const record = JSON.stringify([holder, spec.renewTime ?? "", lease.metadata?.resourceVersion ?? ""]);
    if (this.observed?.record === record) return;
    if (holder && holder !== this.observed?.holder) this.options.onNewLeader?.(holder);
    this.observed = {
      record,
      holder,
      durationMs: (spec.leaseDurationSeconds ?? this.options.leaseDurationMs / 1000) * 1000,
      at: this.now(),
    };
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const path = paths.coordinationLease(this.options.namespace, this.options.name);
    const options: CallOptions = { signal, unfenced: true };
    const wallNow = Date.now();
    const durationSeconds = Math.ceil(this.options.leaseDurationMs / 1000);
    let lease: KubeObject;
    try {
      lease = await this.client.get(path, undefined, options);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      try {
        const created = await this.client.create(
          paths.coordinationLeases(this.options.namespace),
          {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: this.options.name, namespace: this.options.namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: microTime(wallNow),
              renewTime: microTime(wallNow),
              leaseTransitions: 0,
            },
          },
          options,
        );
        this.observe(created);
        return true;
      } catch (createError) {
        if (createError instanceof ConflictError) return false;
        throw createError;
      }
    }
    this.observe(lease);
    const spec = (lease.spec ?? {}) as LeaseSpec;
    const holder = spec.holderIdentity ?? "";
    if (holder !== this.identity) {
      if (this.leading) {
        this.stepDown(`${holder || "nobody"} holds it now`);
        return false;
      }
      // Held by another replica: free only once its lease duration has passed since the record last
      // changed under our eyes. Its renewTime is its clock's word, not ours.
      const observed = this.observed;
      if (holder && observed && this.now() - observed.at < observed.durationMs) return false;
    }
    const taking = holder !== this.identity;
    try {
      const updated = await this.client.replace(
        path,
        {
          ...lease,
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: taking ? microTime(wallNow) : (spec.acquireTime ?? microTime(wallNow)),
            renewTime: microTime(wallNow),
            leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && holder ? 1 : 0),
          },
        },
        options,
      );
      this.observe(updated);
      return true;
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
  }
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews the
 * lease every retry period; a candidate takes it over only after leaseDuration has passed without a
 * renewal; every write carries the resourceVersion it read, so two candidates can never both win.
 * A leader that cannot renew within renewDeadline (shorter than leaseDuration) steps down before
 * anyone else may take over, so two replicas never both act.
 */
import { hostname } from "node:os";
import { ConflictError, NotFoundError } from "./errors.ts";
import { type KubeObject, type KubeRest, paths } from "./rest.ts";

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
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

const microTime = (ms: number) => new Date(ms).toISOString().replace("Z", "000Z");

export class LeaderElector {
  readonly identity: string;
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  private observedHolder: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly rest: KubeRest,
    private readonly options: LeaderElectionOptions,
  ) {
    this.identity =
      options.identity ?? `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.loop();
  }

  /** Steps down and, if leading, releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      try {
        const lease = await this.rest.get<KubeObject>(
          paths.coordinationLease(this.options.namespace, this.options.name),
        );
        const spec = (lease.spec ?? {}) as LeaseSpec;
        if (spec.holderIdentity === this.identity) {
          await this.rest.replace(paths.coordinationLease(this.options.namespace, this.options.name), {
            ...lease,
            spec: { ...spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(Date.now()) },
          });
        }
      } catch (error) {
        this.options.log?.("could not release the leader lease", { error: String(error) });
      }
      await this.options.onStoppedLeading();
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const acquired = await this.tryAcquireOrRenew().catch((error: unknown) => {
        this.options.log?.("leader election request failed", { error: String(error) });
        return false;
      });
      const now = Date.now();
      if (acquired) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.options.log?.("became the leader", { identity: this.identity });
          await this.options.onStartedLeading();
        }
      } else if (this.leading && now - this.lastRenew > this.options.renewDeadlineMs) {
        this.leading = false;
        this.options.log?.("lost the leader lease: stepping down", { identity: this.identity });
        await this.options.onStoppedLeading();
      }
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, this.options.retryPeriodMs);
        this.timer.unref();
      });
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const path = paths.coordinationLease(this.options.namespace, this.options.name);
    const now = Date.now();
    const durationSeconds = Math.ceil(this.options.leaseDurationMs / 1000);
    let lease: KubeObject;
    try {
      lease = await this.rest.get<KubeObject>(path);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      try {
        await this.rest.create(paths.coordinationLeases(this.options.namespace), {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.options.name, namespace: this.options.namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (createError) {
        if (createError instanceof ConflictError) return false;
        throw createError;
      }
    }
    const spec = (lease.spec ?? {}) as LeaseSpec;
    const holder = spec.holderIdentity ?? "";
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder) this.options.onNewLeader?.(holder);
    }
    const renewed = Date.parse(spec.renewTime ?? "") || 0;
    const expired = renewed + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 < now;
    if (holder && holder !== this.identity && !expired) return false;
    const taking = holder !== this.identity;
    try {
      await this.rest.replace(path, {
        ...lease,
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: taking ? microTime(now) : (spec.acquireTime ?? microTime(now)),
          renewTime: microTime(now),
          leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && holder ? 1 : 0),
        },
      });
      return true;
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
  }
}

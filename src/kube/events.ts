/**
 * Kubernetes Events (core/v1), deduplicated: the same reason and message for the same object is
 * recorded once per window, so a plan that is recomputed many times does not flood the API server.
 */
import type { PlannedEvent } from "../core/lease-lifecycle.ts";
import { type KubeRest, paths } from "./rest.ts";

const API_VERSIONS: Record<PlannedEvent["kind"], string> = {
  GpuLease: "gpulease.io/v1alpha1",
  TenantQuota: "gpulease.io/v1alpha1",
  Pod: "v1",
  Node: "v1",
};

export interface EventRecorderHooks {
  /** Every event queued (not a duplicate), so the log tells the same story as the Events. */
  onQueued?: (event: PlannedEvent) => void;
  /** Events dropped because the backlog was full (the API server is too slow or unreachable). */
  onDropped?: () => void;
  /** Events queued or in flight, for a gauge. */
  onBacklog?: (size: number) => void;
}

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private counter = 0;
  private readonly backlog: PlannedEvent[] = [];
  private sending = 0;

  constructor(
    private readonly rest: KubeRest,
    private readonly hooks: EventRecorderHooks = {},
    private readonly windowMs = 10 * 60_000,
    private readonly component = "gpulease-operator",
  ) {}

  /**
   * Queues the event and returns at once: Events are best effort and must never hold up a plan's
   * writes (thousands of pods bound in one pass would otherwise wait for thousands of Event writes).
   * Duplicates within the window are dropped here. Returns whether the event was queued.
   */
  enqueue(event: PlannedEvent, now = Date.now()): boolean {
    const key = this.keyOf(event);
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.windowMs) return false;
    if (this.backlog.length >= 10_000) {
      this.hooks.onDropped?.();
      return false;
    }
    this.recent.set(key, now);
    this.hooks.onQueued?.(event);
    this.backlog.push(event);
    this.drain();
    return true;
  }

  /** Resolves when every queued event has been sent (for tests and shutdown). */
  async flush(): Promise<void> {
    while (this.backlog.length > 0 || this.sending > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private drain(): void {
    while (this.sending < 4 && this.backlog.length > 0) {
      const event = this.backlog.shift() as PlannedEvent;
      this.sending++;
      void this.send(event).finally(() => {
        this.sending--;
        this.drain();
      });
    }
    this.hooks.onBacklog?.(this.backlog.length + this.sending);
  }

  private keyOf(event: PlannedEvent): string {
    return `${event.kind}/${event.namespace ?? ""}/${event.name}/${event.uid ?? ""}|${event.reason}|${event.message}`;
  }

  private async send(event: PlannedEvent): Promise<void> {
    const now = Date.now();
    const namespace = event.namespace ?? "default";
    const timestamp = new Date(now).toISOString();
    try {
      await this.rest.create(paths.events(namespace), {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `${event.name}.${now.toString(16)}${(++this.counter).toString(16)}`, namespace },
        involvedObject: {
          apiVersion: API_VERSIONS[event.kind],
          kind: event.kind,
          name: event.name,
          ...(event.namespace ? { namespace: event.namespace } : {}),
          ...(event.uid ? { uid: event.uid } : {}),
        },
        reason: event.reason,
        message: event.message.slice(0, 1024),
        type: event.type,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
      });
    } catch {
      // A lost Event is a lost hint, not a lost decision: the status carries the truth.
      this.recent.delete(this.keyOf(event));
    }
    if (this.recent.size > 20_000) this.prune(now);
  }

  private prune(now: number): void {
    for (const [key, at] of this.recent) if (now - at >= this.windowMs) this.recent.delete(key);
  }
}

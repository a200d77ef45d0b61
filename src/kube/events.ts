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

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  private counter = 0;

  constructor(
    private readonly rest: KubeRest,
    private readonly windowMs = 10 * 60_000,
    private readonly component = "gpulease-operator",
  ) {}

  /** Records the event unless an identical one was recorded within the window. Never throws. */
  async record(event: PlannedEvent, now = Date.now()): Promise<boolean> {
    const key = `${event.kind}/${event.namespace ?? ""}/${event.name}/${event.uid ?? ""}|${event.reason}|${event.message}`;
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.windowMs) return false;
    this.recent.set(key, now);
    if (this.recent.size > 20_000) this.prune(now);
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
      return true;
    } catch {
      this.recent.delete(key);
      return false;
    }
  }

  private prune(now: number): void {
    for (const [key, at] of this.recent) if (now - at >= this.windowMs) this.recent.delete(key);
  }
}

/**
 * A list-then-watch cache of one resource, on raw objects. It lists (paged) and watches from the
 * list's resourceVersion with bookmarks. When a watch fails in any way (410 Gone, an ERROR event, an
 * error answer, a dropped connection: after an API server or etcd restart the resourceVersion it
 * holds may be gone), it relists after a jittered backoff (200 ms doubling to 10 s, reset after a
 * healthy watch). A watch that stays silent longer than the watchdog (client-node #596) is restarted
 * from its resourceVersion. Handlers are synchronous and must only enqueue work.
 */
import { Backoff } from "./backoff.ts";
import { ApiError, type ApiStatus, apiError, GoneError } from "./errors.ts";
import { type KubeObject, type KubeRest, streamWatch, type WatchEvent, WatchSilentError } from "./rest.ts";

/**
 * Why a watch was restarted: `gone` (410: its resourceVersion expired), `error` (the server refused
 * or ended it with an error), `disconnected` (no answer: refused, reset or dropped connection),
 * `watchdog` (silent past the watchdog).
 */
export type RestartReason = "gone" | "error" | "disconnected" | "watchdog";

export function restartReason(error: unknown): RestartReason {
  if (error instanceof GoneError) return "gone";
  if (error instanceof WatchSilentError) return "watchdog";
  if (error instanceof ApiError) return "error";
  return "disconnected";
}

/** Reconnect delays: the first retry well under a second, doubling to 10 s. */
const BACKOFF = { initialMs: 200, maxMs: 10_000 };
/** A watch open this long was healthy: the next failure's backoff starts from the beginning again. */
const HEALTHY_WATCH_MS = 2_000;

export type ChangeType = "add" | "update" | "delete";
export type ChangeHandler = (type: ChangeType, object: KubeObject, old: KubeObject | undefined) => void;

export interface InformerOptions {
  /** Applied to every object before it is cached (drop what the operator never reads). */
  transform?: (object: KubeObject) => KubeObject;
  labelSelector?: string;
  fieldSelector?: string;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. */
  watchdogMs: number;
  pageSize?: number;
  log?: (level: "debug" | "info" | "warn", message: string, fields?: Record<string, unknown>) => void;
  /** Every restart of the watch, with its reason (for metrics). */
  onRestart?: (reason: RestartReason) => void;
  /**
   * After a relist that follows a failure (not the first list): events may have been missed and
   * writes may have failed while the watch was down, so the owner may want to act on the whole cache.
   */
  onResync?: () => void;
}

export function objectKey(object: KubeObject): string {
  const ns = object.metadata?.namespace;
  return ns ? `${ns}/${object.metadata?.name}` : (object.metadata?.name ?? "");
}

/**
 * What the cache keeps of an object: everything but managedFields and the last-applied annotation,
 * which the operator never reads and which make up much of a pod's size (controller-runtime's
 * TransformStripManagedFields does the same).
 */
export function stripForCache(object: KubeObject): KubeObject {
  const metadata = object.metadata;
  if (!metadata) return object;
  const { managedFields: _managed, ...rest } = metadata as Record<string, unknown>;
  const annotations = rest.annotations as Record<string, string> | undefined;
  if (annotations?.["kubectl.kubernetes.io/last-applied-configuration"] !== undefined) {
    const { "kubectl.kubernetes.io/last-applied-configuration": _applied, ...kept } = annotations;
    rest.annotations = kept;
  }
  return { ...object, metadata: rest as KubeObject["metadata"] };
}

function newer(candidate: string | undefined, current: string | undefined): boolean {
  if (!candidate || !current) return true;
  try {
    return BigInt(candidate) >= BigInt(current);
  } catch {
    return true;
  }
}

export class Informer {
  readonly store = new Map<string, KubeObject>();
  private handlers: ChangeHandler[] = [];
  private storeHandlers: ChangeHandler[] = [];
  private resourceVersion: string | undefined;
  private stopped = false;
  private abort: AbortController | undefined;
  private syncedOnce = false;
  private syncWaiters: (() => void)[] = [];
  private lastActivity = Date.now();
  /** Since when no watch has been open (set until the first watch opens), in ms since the epoch. */
  private disconnectedAt: number | undefined = Date.now();
  private wakeFromBackoff: (() => void) | undefined;
  /** Restarts of the watch, by reason, for metrics and tests. */
  readonly restarts: Record<RestartReason, number> = { gone: 0, error: 0, disconnected: 0, watchdog: 0 };

  constructor(
    readonly name: string,
    private readonly rest: KubeRest,
    private readonly path: string,
    private readonly options: InformerOptions,
  ) {}

  private keep(object: KubeObject): KubeObject {
    const stripped = stripForCache(object);
    return this.options.transform ? this.options.transform(stripped) : stripped;
  }

  onChange(handler: ChangeHandler): void {
    this.handlers.push(handler);
  }

  /**
   * For caches derived from the store (the snapshot builder's views): called on every change before
   * any `onChange` handler, so a handler that starts a pass at once already finds them marked.
   */
  onStoreChange(handler: ChangeHandler): void {
    this.storeHandlers.push(handler);
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  /** Milliseconds since the watch last delivered anything. */
  get silenceMs(): number {
    return Date.now() - this.lastActivity;
  }

  /** Milliseconds since the informer last had an open watch; 0 while one is open. */
  get disconnectedMs(): number {
    return this.disconnectedAt === undefined ? 0 : Date.now() - this.disconnectedAt;
  }

  waitForSync(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  list(): KubeObject[] {
    return [...this.store.values()];
  }

  get(key: string): KubeObject | undefined {
    return this.store.get(key);
  }

  /**
   * Write-through: after our own successful write, put the answer in the cache at once so the next
   * plan sees it (no GPU promised twice while the watch event is in flight). Older versions are ignored.
   */
  upsert(written: KubeObject): void {
    const object = this.keep(written);
    const key = objectKey(object);
    const old = this.store.get(key);
    if (old && !newer(object.metadata?.resourceVersion, old.metadata?.resourceVersion)) return;
    this.store.set(key, object);
    this.emit(old ? "update" : "add", object, old);
  }

  /** After our own successful delete (or a 404), forget the object. */
  forget(key: string): void {
    const old = this.store.get(key);
    if (!old) return;
    this.store.delete(key);
    this.emit("delete", old, undefined);
  }

  start(): void {
    this.disconnectedAt = Date.now();
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.wakeFromBackoff?.();
  }

  private emit(type: ChangeType, object: KubeObject, old: KubeObject | undefined): void {
    for (const handler of this.storeHandlers) handler(type, object, old);
    for (const handler of this.handlers) handler(type, object, old);
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(BACKOFF);
    let needList = true;
    let listedOnce = false;
    while (!this.stopped) {
      let openedAt: number | undefined;
      try {
        if (needList) {
          await this.relist();
          needList = false;
          if (listedOnce) this.options.onResync?.();
          listedOnce = true;
        }
        await this.watchOnce(() => {
          openedAt = Date.now();
          this.disconnectedAt = undefined;
        });
        // The server ended the watch (its timeout) or the watchdog restarted it: resume from the last
        // version seen, at once if the watch was healthy.
        if (openedAt !== undefined && Date.now() - openedAt >= HEALTHY_WATCH_MS) {
          backoff.reset();
          continue;
        }
        await this.sleep(backoff.next());
      } catch (error) {
        if (this.stopped) return;
        this.disconnectedAt ??= Date.now();
        if (openedAt !== undefined && Date.now() - openedAt >= HEALTHY_WATCH_MS) backoff.reset();
        const reason = restartReason(error);
        this.countRestart(reason);
        // Whatever failed, the resourceVersion held may be gone (compacted, or from before an API
        // server restart): a fresh list is the one safe starting point.
        needList = true;
        const delayMs = backoff.next();
        this.options.log?.(reason === "gone" ? "info" : "warn", "watch failed: relisting", {
          informer: this.name,
          reason,
          error: String(error),
          backoffMs: delayMs,
        });
        await this.sleep(delayMs);
      }
    }
  }

  private countRestart(reason: RestartReason): void {
    this.restarts[reason]++;
    this.options.onRestart?.(reason);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeFromBackoff = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async relist(): Promise<void> {
    const seen = new Map<string, KubeObject>();
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.rest.list(this.path, {
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
        limit: this.options.pageSize ?? 500,
        continue: continueToken,
      });
      for (const item of page.items) seen.set(objectKey(item), this.keep(item));
      continueToken = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion;
    } while (continueToken);
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit("delete", old, undefined);
      }
    }
    for (const [key, object] of seen) {
      const old = this.store.get(key);
      this.store.set(key, object);
      if (!old) this.emit("add", object, undefined);
      else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion)
        this.emit("update", object, old);
    }
    this.resourceVersion = resourceVersion;
    this.lastActivity = Date.now();
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private async watchOnce(onOpen: () => void): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    if (this.stopped) return;
    this.lastActivity = Date.now();
    try {
      await streamWatch(
        this.rest,
        this.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
          // The server ends the watch after a while; we resume from the last version seen.
          timeoutSeconds: 240 + Math.floor(Math.random() * 120),
        },
        this.options.watchdogMs,
        (event) => this.apply(event),
        abort.signal,
        onOpen,
      );
    } catch (error) {
      if (error instanceof WatchSilentError) {
        this.disconnectedAt ??= Date.now();
        this.countRestart("watchdog");
        this.options.log?.("warn", "watch silent past the watchdog: restarting", { informer: this.name });
        return;
      }
      throw error;
    }
  }

  private apply(event: WatchEvent): void {
    this.lastActivity = Date.now();
    const { type } = event;
    if (type === "ERROR") {
      // The object is a Status: read it before any transform, which would drop its code.
      const status = event.object as ApiStatus;
      throw apiError(status.code ?? 500, status, "WATCH", this.path);
    }
    const object = this.keep(event.object);
    const rv = object.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === "BOOKMARK") return;
    const key = objectKey(object);
    const old = this.store.get(key);
    if (type === "DELETED") {
      this.store.delete(key);
      this.emit("delete", object, old);
    } else if (!old || newer(rv, old.metadata?.resourceVersion)) {
      this.store.set(key, object);
      this.emit(old ? "update" : "add", object, old);
    }
  }
}

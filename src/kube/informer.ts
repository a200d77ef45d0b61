/**
 * A list-then-watch cache of one resource, on raw objects. It lists (paged), watches from the list's
 * resourceVersion with bookmarks, relists on 410 Gone, restarts with backoff on any other error, and
 * restarts a watch that has been silent longer than the watchdog allows (client-node #596). Handlers
 * are synchronous and must only enqueue work.
 */
import { GoneError } from "./errors.ts";
import { type KubeObject, type KubeRest, streamWatch, type WatchEvent, WatchSilentError } from "./rest.ts";

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
  private resourceVersion: string | undefined;
  private stopped = false;
  private abort: AbortController | undefined;
  private syncedOnce = false;
  private syncWaiters: (() => void)[] = [];
  private lastActivity = Date.now();
  /** Restarts of the watch, by cause, for metrics and tests. */
  readonly restarts = { gone: 0, error: 0, watchdog: 0 };

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

  get synced(): boolean {
    return this.syncedOnce;
  }

  /** Milliseconds since the watch last delivered anything. */
  get silenceMs(): number {
    return Date.now() - this.lastActivity;
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
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private emit(type: ChangeType, object: KubeObject, old: KubeObject | undefined): void {
    for (const handler of this.handlers) handler(type, object, old);
  }

  private async run(): Promise<void> {
    let backoffMs = 500;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        await this.watchOnce();
        backoffMs = 500;
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof GoneError) {
          this.restarts.gone++;
          this.options.log?.("info", "watch expired (410 Gone): relisting", { informer: this.name });
          needList = true;
          continue;
        }
        this.restarts.error++;
        this.options.log?.("warn", "watch failed: restarting", {
          informer: this.name,
          error: String(error),
          backoffMs,
        });
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 30_000);
      }
    }
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

  private async watchOnce(): Promise<void> {
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
      );
    } catch (error) {
      if (error instanceof WatchSilentError) {
        this.restarts.watchdog++;
        this.options.log?.("warn", "watch silent past the watchdog: restarting", { informer: this.name });
        return;
      }
      throw error;
    }
  }

  private apply(event: WatchEvent): void {
    this.lastActivity = Date.now();
    const { type } = event;
    const object = this.keep(event.object);
    if (type === "ERROR") {
      const status = object as { code?: number; message?: string };
      if (status.code === 410) throw new GoneError(410, status, "WATCH", this.path);
      throw new Error(`watch error ${status.code}: ${status.message}`);
    }
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

/**
 * A small JSON client over the API server: raw objects in and out (no model serialization), the patch
 * content types spelled out, and non-2xx answers turned into typed errors. Authentication and TLS
 * come from a ClusterAccess (cluster-access.ts).
 */
import { createHash } from "node:crypto";
import { Agent, type Dispatcher, fetch } from "undici";
import type { ClusterAccess } from "./cluster-access.ts";
import { type ApiStatus, apiError, NotLeaderError } from "./errors.ts";

export type HttpMethod = "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT" | "PATCH" | "DELETE";

/** How to reach the API server for one request: the headers to send and the pool to send them on. */
export interface Connection {
  headers: Record<string, string>;
  dispatcher: Dispatcher | undefined;
}

export type PatchType = "merge" | "json" | "strategic" | "apply";

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Replaces the default 30 s timeout. */
  signal?: AbortSignal;
  /** A write that does not pass the write fence: only the leader election's own Lease writes. */
  unfenced?: boolean;
}

/** Options of one call: an abort signal, and (for the leader election only) bypassing the fence. */
export type CallOptions = Pick<RequestOptions, "signal" | "unfenced">;

/**
 * Consulted before every mutating request (POST, PUT, PATCH, DELETE), synchronously and right before
 * it is sent. `permit` throws NotLeaderError when this replica may not write; otherwise it returns a
 * signal that is aborted when that right is lost, which aborts the request if it is still in flight.
 */
export interface WriteFence {
  permit(method: string, path: string): AbortSignal;
}

/**
 * What became of a write (not the leader election's): sent to the server, refused by the fence
 * without being sent, or sent and then aborted in flight by the fence.
 */
export type WriteOutcome = "sent" | "refused" | "aborted";

const READ_METHODS = new Set<string>(["GET", "HEAD", "OPTIONS"]);

export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    [k: string]: unknown;
  };
};

export interface KubeList {
  metadata?: { resourceVersion?: string; continue?: string };
  items: KubeObject[];
}

/** Counts requests by verb, for write-amplification figures and metrics. */
export type RequestObserver = (method: string, path: string, statusCode: number, ms: number) => void;

export class KubeRest {
  /**
   * Names this process in the API server's audit log and logs, so the writes of two replicas running
   * as one user can be told apart (which one wrote what, and when).
   */
  readonly userAgent = `gpulease-operator (pid ${process.pid})`;
  private unreachable = false;
  private readonly recoveryListeners: (() => void)[] = [];
  private observer: RequestObserver | undefined;
  private writeObserver: ((outcome: WriteOutcome) => void) | undefined;
  private fence: WriteFence | undefined;
  private pool: { key: string; dispatcher: Dispatcher } | undefined;

  constructor(
    readonly access: ClusterAccess,
    readonly fieldManager = "gpulease-operator",
  ) {}

  /**
   * Headers and a keep-alive connection pool for the next request. client-node's own
   * applySecurityAuthentication builds a new connection pool for every request (a TLS handshake per
   * request: the largest CPU cost in the operator's profile at 300 nodes), so this reuses one pool for
   * as long as the TLS material is the same, and opens a new one when it changes (a rotated client
   * certificate).
   */
  async connection(url: string, method: HttpMethod): Promise<Connection> {
    if (this.access.proxied) {
      const { headers, dispatcher } = await this.access.proxied(url, method);
      return { headers, dispatcher };
    }
    const { tls, headers } = await this.access.credentials();
    const key = createHash("sha256")
      .update(
        JSON.stringify(
          Object.entries(tls).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString("base64") : v]),
        ),
      )
      .digest("hex");
    if (this.pool?.key !== key) {
      const previous = this.pool?.dispatcher;
      // Keep-alive probes after 30 s, as client-go: undici's 60 s default can race a cloud load
      // balancer's idle timeout.
      const dispatcher = new Agent({ connect: { ...tls, keepAlive: true, keepAliveInitialDelay: 30_000 } });
      this.pool = { key, dispatcher };
      // Requests in flight on the old pool finish; it closes after them.
      void previous?.close().catch(() => undefined);
    }
    return { headers, dispatcher: this.pool.dispatcher };
  }

  /** Closes the connection pool (at shutdown). */
  async close(): Promise<void> {
    await this.pool?.dispatcher.close().catch(() => undefined);
    this.pool = undefined;
  }

  observe(observer: RequestObserver): void {
    this.observer = observer;
  }

  /** Counts writes by outcome (metrics, and the witness that a fenced replica sends nothing). */
  observeWrites(observer: (outcome: WriteOutcome) => void): void {
    this.writeObserver = observer;
  }

  /** From now on every write (but an unfenced one) must pass this fence. */
  setWriteFence(fence: WriteFence | undefined): void {
    this.fence = fence;
  }

  /** The fence's signal for this write, or NotLeaderError (counted as refused) if it may not be sent. */
  private permit(method: string, path: string): AbortSignal | undefined {
    if (!this.fence) return undefined;
    try {
      return this.fence.permit(method, path);
    } catch (error) {
      if (error instanceof NotLeaderError) this.writeObserver?.("refused");
      throw error;
    }
  }

  get server(): string {
    return this.access.server;
  }

  /**
   * Calls `listener` each time the API server answers again after it could not be reached (or
   * answered 5xx): work that backed off during the outage can start at once.
   */
  onRecovered(listener: () => void): void {
    this.recoveryListeners.push(listener);
  }

  private reachability(answered: boolean): void {
    if (!answered) {
      this.unreachable = true;
      return;
    }
    if (!this.unreachable) return;
    this.unreachable = false;
    for (const listener of this.recoveryListeners) listener();
  }

  async request<T>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const write = !READ_METHODS.has(method) && !options.unfenced;
    // Refused early, so a fenced replica does not even compute credentials for a write it cannot send.
    if (write) this.permit(method, path);
    const connection = await this.connection(url.toString(), method);
    const headers: Record<string, string> = {
      ...connection.headers,
      Accept: "application/json",
      "User-Agent": this.userAgent,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["Content-Type"] = options.contentType ?? "application/json";
    }
    // Asked again after the await above, synchronously before the request goes out: leadership may
    // have been lost meanwhile (or the process frozen and resumed).
    const fenceSignal = write ? this.permit(method, path) : undefined;
    const timeout = options.signal ?? AbortSignal.timeout(30_000);
    const signal = fenceSignal ? AbortSignal.any([timeout, fenceSignal]) : timeout;
    if (write) this.writeObserver?.("sent");
    const started = performance.now();
    let response: Awaited<ReturnType<typeof fetch>>;
    let text: string;
    try {
      response = await fetch(url, { method, headers, body, dispatcher: connection.dispatcher, signal });
      text = await response.text();
    } catch (error) {
      if (fenceSignal?.aborted) {
        this.writeObserver?.("aborted");
        throw new NotLeaderError(method, path, true);
      }
      this.reachability(false);
      throw error;
    }
    this.reachability(response.status < 500);
    this.observer?.(method, path, response.status, performance.now() - started);
    if (response.status >= 200 && response.status < 300) {
      return (text ? JSON.parse(text) : {}) as T;
    }
    let status: ApiStatus = { message: text.slice(0, 500) };
    try {
      status = JSON.parse(text) as ApiStatus;
    } catch {
      // not a Status object
    }
    throw apiError(response.status, status, method, path);
  }

  get<T = KubeObject>(path: string, query?: RequestOptions["query"], options: CallOptions = {}): Promise<T> {
    return this.request<T>("GET", path, { query, ...options });
  }

  list(path: string, query?: RequestOptions["query"]): Promise<KubeList> {
    return this.request<KubeList>("GET", path, { query });
  }

  create<T = KubeObject>(path: string, body: unknown, options: CallOptions = {}): Promise<T> {
    return this.request<T>("POST", path, {
      body,
      query: { fieldManager: this.fieldManager },
      ...options,
    });
  }

  replace<T = KubeObject>(path: string, body: unknown, options: CallOptions = {}): Promise<T> {
    return this.request<T>("PUT", path, {
      body,
      query: { fieldManager: this.fieldManager },
      ...options,
    });
  }

  patch<T = KubeObject>(path: string, type: PatchType, body: unknown, force = false): Promise<T> {
    return this.request<T>("PATCH", path, {
      body,
      contentType: PATCH_CONTENT_TYPES[type],
      query: { fieldManager: this.fieldManager, ...(type === "apply" && force ? { force: true } : {}) },
    });
  }

  delete<T = KubeObject>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("DELETE", path, { body });
  }
}

export const paths = {
  nodes: () => "/api/v1/nodes",
  node: (name: string) => `/api/v1/nodes/${name}`,
  pods: () => "/api/v1/pods",
  jobs: () => "/apis/batch/v1/jobs",
  roleBindings: () => "/apis/rbac.authorization.k8s.io/v1/rolebindings",
  pod: (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${name}`,
  eviction: (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${name}/eviction`,
  namespaces: () => "/api/v1/namespaces",
  resourceQuotas: () => "/api/v1/resourcequotas",
  limitRanges: () => "/api/v1/limitranges",
  limitRange: (ns: string, name: string) => `/api/v1/namespaces/${ns}/limitranges/${name}`,
  namespacedLimitRanges: (ns: string) => `/api/v1/namespaces/${ns}/limitranges`,
  configMap: (ns: string, name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`,
  namespacedConfigMaps: (ns: string) => `/api/v1/namespaces/${ns}/configmaps`,
  resourceQuota: (ns: string, name: string) => `/api/v1/namespaces/${ns}/resourcequotas/${name}`,
  namespacedResourceQuotas: (ns: string) => `/api/v1/namespaces/${ns}/resourcequotas`,
  events: (ns: string) => `/api/v1/namespaces/${ns}/events`,
  gpuLeases: () => "/apis/gpulease.io/v1alpha1/gpuleases",
  gpuLease: (ns: string, name: string) => `/apis/gpulease.io/v1alpha1/namespaces/${ns}/gpuleases/${name}`,
  tenantQuotas: () => "/apis/gpulease.io/v1alpha1/tenantquotas",
  tenantQuota: (name: string) => `/apis/gpulease.io/v1alpha1/tenantquotas/${name}`,
  coordinationLease: (ns: string, name: string) =>
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
  coordinationLeases: (ns: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
};

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject;
}

export class WatchSilentError extends Error {
  constructor(readonly silentMs: number) {
    super(`watch delivered nothing for ${silentMs} ms`);
    this.name = "WatchSilentError";
  }
}

/**
 * Streams a watch until the server ends it (resolves), it fails (rejects with a typed error), it stays
 * silent longer than `silenceMs` (rejects with WatchSilentError), or `signal` aborts it (resolves).
 * `onOpen` runs once the server has accepted the watch (its 200 answer), before the first event.
 */
export async function streamWatch(
  rest: KubeRest,
  path: string,
  query: RequestOptions["query"],
  silenceMs: number,
  onEvent: (event: WatchEvent) => void,
  signal: AbortSignal,
  onOpen?: () => void,
): Promise<void> {
  const url = new URL(rest.server + path);
  url.searchParams.set("watch", "true");
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const connection = await rest.connection(url.toString(), "GET");
  const local = new AbortController();
  const onAbort = () => local.abort();
  signal.addEventListener("abort", onAbort);
  let silent = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      silent = true;
      local.abort();
    }, silenceMs);
    timer.unref();
  };
  try {
    arm();
    const response = await fetch(url, {
      headers: { ...connection.headers, Accept: "application/json" },
      dispatcher: connection.dispatcher,
      signal: local.signal,
    });
    if (response.status !== 200) {
      const text = await response.text();
      let status: ApiStatus = { message: text.slice(0, 500) };
      try {
        status = JSON.parse(text) as ApiStatus;
      } catch {
        // not a Status object
      }
      throw apiError(response.status, status, "WATCH", path);
    }
    onOpen?.();
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of response.body) {
      arm();
      buffered += decoder.decode(chunk, { stream: true });
      // One event per line; a chunk may carry many (a relist's worth) or part of one.
      let start = 0;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(start, newline).trim();
        if (line) onEvent(JSON.parse(line) as WatchEvent);
        start = newline + 1;
        newline = buffered.indexOf("\n", start);
      }
      buffered = buffered.slice(start);
    }
  } catch (error) {
    if (silent) throw new WatchSilentError(silenceMs);
    if (signal.aborted) return;
    throw error;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

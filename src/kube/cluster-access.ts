/**
 * How the operator reaches the API server: its URL, and the TLS material and auth headers of the next
 * request. Two kinds:
 *
 * - `staticAccess`: what a kubeconfig or the in-cluster service account states directly (certificates,
 *   a token or a token file, basic auth). Read by this project, without loading client-node.
 * - `clientNodeAccess`: anything else (exec plugins, auth providers, proxies) through client-node's
 *   KubeConfig, which the operator then loads on demand.
 *
 * Why two: loading client-node costs about 25 MB of heap and 85 MB of resident memory (its generated API
 * for every kind), which the operator never calls. See ADR 0001.
 */
import { readFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Dispatcher } from "undici";

/** TLS options for the connection pool (undici `connect` options). */
export interface TlsMaterial {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  pfx?: Buffer | string;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface Credentials {
  tls: TlsMaterial;
  headers: Record<string, string>;
}

export interface ClusterAccess {
  /** The API server's URL, without a trailing slash. */
  readonly server: string;
  /** TLS material and auth headers for the next request (rotated tokens and certificates are re-read). */
  credentials(): Promise<Credentials>;
  /** Set when requests go through a proxy: a dispatcher per request, built by client-node. */
  proxied?: (
    url: string,
    method: string,
  ) => Promise<{ headers: Record<string, string>; dispatcher?: Dispatcher }>;
}

/** Where each piece of a static credential comes from: inline data, or a file read when needed. */
export interface StaticCredentialSource {
  server: string;
  ca?: { data?: Buffer; file?: string };
  cert?: { data?: Buffer; file?: string };
  key?: { data?: Buffer; file?: string };
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
}

function basicAuthorization(username: string, password: string | undefined): string {
  return `Basic ${Buffer.from(`${username}:${password ?? ""}`).toString("base64")}`;
}

/** A token file (a projected service-account token) is read again at most this often, as client-go does. */
const TOKEN_FILE_REREAD_MS = 60_000;

export function staticAccess(source: StaticCredentialSource, now: () => number = Date.now): ClusterAccess {
  const server = source.server.replace(/\/+$/, "");
  if (server.startsWith("http:") && !source.insecureSkipTlsVerify) {
    throw new Error(`the API server ${server} is plain HTTP: set insecure-skip-tls-verify to allow it`);
  }
  let token: { value: string; readAt: number } | undefined;
  const bearer = (): string | undefined => {
    if (source.token) return source.token;
    if (!source.tokenFile) return undefined;
    if (!token || now() - token.readAt >= TOKEN_FILE_REREAD_MS) {
      token = { value: readFileSync(source.tokenFile, "utf8").trim(), readAt: now() };
    }
    return token.value;
  };
  const material = (piece: { data?: Buffer; file?: string } | undefined): Buffer | undefined =>
    piece?.data ?? (piece?.file ? readFileSync(piece.file) : undefined);
  return {
    server,
    credentials: async () => {
      const tls: TlsMaterial = {};
      const ca = material(source.ca);
      const cert = material(source.cert);
      const key = material(source.key);
      if (ca) tls.ca = ca;
      if (cert) tls.cert = cert;
      if (key) tls.key = key;
      if (source.insecureSkipTlsVerify) tls.rejectUnauthorized = false;
      if (source.tlsServerName) tls.servername = source.tlsServerName;
      const headers: Record<string, string> = {};
      const value = bearer();
      if (value) headers.Authorization = `Bearer ${value}`;
      else if (source.username) headers.Authorization = basicAuthorization(source.username, source.password);
      return { tls, headers };
    },
  };
}

/** client-node's applyOptions argument, as far as it is read here. */
type AppliedOptions = TlsMaterial & { headers?: Record<string, string | number | string[] | undefined> };

/** Access through a loaded client-node KubeConfig (exec plugins, auth providers, proxies; and tests). */
export function clientNodeAccess(config: KubeConfig): ClusterAccess {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const applyOptions = (config as unknown as { applyOptions?: (o: AppliedOptions) => Promise<void> })
    .applyOptions;
  if (typeof applyOptions !== "function") {
    throw new Error("@kubernetes/client-node no longer has KubeConfig.applyOptions: update clientNodeAccess");
  }
  const access: ClusterAccess = {
    server: cluster.server.replace(/\/+$/, ""),
    credentials: async () => {
      const options: AppliedOptions = {};
      await applyOptions.call(config, options);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(options.headers ?? {}))
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : String(value);
      const user = config.getCurrentUser();
      if (user?.username) headers.Authorization = basicAuthorization(user.username, user.password);
      const { headers: _headers, ...tls } = options;
      const kept: TlsMaterial = {};
      for (const [name, value] of Object.entries(tls))
        if (value !== undefined) Object.assign(kept, { [name]: value });
      return { tls: kept, headers };
    },
  };
  if (cluster.proxyUrl) {
    // Through a proxy: client-node's own path (a pool per request; proxies are rare for operators).
    access.proxied = async (url, method) => {
      const { RequestContext } = await import("@kubernetes/client-node");
      const ctx = new RequestContext(url, method as ConstructorParameters<typeof RequestContext>[1]);
      await config.applySecurityAuthentication(ctx);
      const dispatcher = ctx.getDispatcher();
      return { headers: ctx.getHeaders(), ...(dispatcher ? { dispatcher } : {}) };
    };
  }
  return access;
}

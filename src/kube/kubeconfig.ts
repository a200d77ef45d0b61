/**
 * Loads the kubeconfig the way kubectl does. `--kubeconfig` names one file. `$KUBECONFIG` may name
 * several, separated like PATH (':' on Unix): they are merged, and the first file that sets a cluster,
 * user or context (by name) or the current-context wins; files that do not exist are skipped.
 * With neither: ~/.kube/config, then the in-cluster service account.
 *
 * Certificates, tokens, token files and basic auth are read here (staticAccess). A user with an exec
 * plugin or an auth provider, or a cluster behind a proxy, is handed to client-node, loaded only then.
 */
import { existsSync, readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { parse, stringify } from "yaml";
import {
  type ClusterAccess,
  clientNodeAccess,
  type StaticCredentialSource,
  staticAccess,
} from "./cluster-access.ts";

type Fields = Record<string, unknown>;
interface Named {
  name: string;
  [kind: string]: unknown;
}

/** The merged kubeconfig: every cluster, user and context by name (first file wins), and the current context. */
export interface MergedKubeConfig {
  clusters: Named[];
  users: Named[];
  contexts: Named[];
  "current-context": string;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Path fields of a kubeconfig, resolved against the directory of the file that names them. */
const PATH_FIELDS = ["certificate-authority", "client-certificate", "client-key", "tokenFile"];

function resolvePaths(section: Fields, base: string): Fields {
  const out: Fields = { ...section };
  for (const field of PATH_FIELDS) {
    const value = out[field];
    if (typeof value === "string" && value !== "" && !isAbsolute(value)) out[field] = join(base, value);
  }
  return out;
}

function readOne(file: string): MergedKubeConfig {
  const doc = (parse(readFileSync(file, "utf8")) ?? {}) as Fields;
  const base = dirname(file);
  const list = (kind: "clusters" | "users" | "contexts", inner: "cluster" | "user" | "context"): Named[] =>
    (Array.isArray(doc[kind]) ? (doc[kind] as Fields[]) : []).flatMap((entry) => {
      if (typeof entry?.name !== "string") return [];
      const section = (entry[inner] ?? {}) as Fields;
      return [{ name: entry.name, [inner]: inner === "context" ? section : resolvePaths(section, base) }];
    });
  return {
    clusters: list("clusters", "cluster"),
    users: list("users", "user"),
    contexts: list("contexts", "context"),
    "current-context": typeof doc["current-context"] === "string" ? doc["current-context"] : "",
  };
}

/** Merges kubeconfig files, the first to set a name (or the current context) winning. */
export function mergeKubeConfigs(files: string[]): MergedKubeConfig {
  const merged: MergedKubeConfig = { clusters: [], users: [], contexts: [], "current-context": "" };
  for (const file of files) {
    const one = readOne(file);
    for (const kind of ["clusters", "users", "contexts"] as const) {
      const known = new Set(merged[kind].map((n) => n.name));
      for (const entry of one[kind]) if (!known.has(entry.name)) merged[kind].push(entry);
    }
    if (!merged["current-context"]) merged["current-context"] = one["current-context"];
  }
  return merged;
}

/** The kubeconfig files to read, or undefined for the in-cluster service account. */
export function kubeConfigFiles(file: string | undefined, env: NodeJS.ProcessEnv): string[] | undefined {
  if (file) return [file];
  const list = (env.KUBECONFIG ?? "").split(delimiter).filter((f) => f !== "");
  if (list.length > 0) {
    const present = list.filter((f) => existsSync(f));
    if (present.length === 0) throw new Error(`none of the files in KUBECONFIG exists: ${list.join(", ")}`);
    return present;
  }
  const home = join(env.HOME ?? homedir(), ".kube", "config");
  return existsSync(home) ? [home] : undefined;
}

const bytes = (data: unknown): Buffer | undefined =>
  typeof data === "string" && data !== "" ? Buffer.from(data, "base64") : undefined;
const text = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

function piece(data: unknown, file: unknown): { data?: Buffer; file?: string } | undefined {
  const inline = bytes(data);
  if (inline) return { data: inline };
  const path = text(file);
  return path ? { file: path } : undefined;
}

/** How to reach the API server with the current context of the merged kubeconfig. */
export async function accessFromKubeConfig(config: MergedKubeConfig): Promise<ClusterAccess> {
  const contextName = config["current-context"];
  const context = config.contexts.find((c) => c.name === contextName)?.context as Fields | undefined;
  if (!context)
    throw new Error(`the kubeconfig has no current context${contextName ? ` named ${contextName}` : ""}`);
  const cluster = config.clusters.find((c) => c.name === context.cluster)?.cluster as Fields | undefined;
  if (!cluster || typeof cluster.server !== "string") {
    throw new Error(`the kubeconfig's context ${contextName} names no cluster with a server`);
  }
  const user = (config.users.find((u) => u.name === context.user)?.user ?? {}) as Fields;
  if (user.exec !== undefined || user["auth-provider"] !== undefined || cluster["proxy-url"] !== undefined) {
    // Exec plugins, auth providers and proxies: client-node's, loaded only for such a kubeconfig.
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromString(
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: config.clusters,
        users: config.users,
        contexts: config.contexts,
        "current-context": contextName,
      }),
    );
    return clientNodeAccess(kc);
  }
  const source: StaticCredentialSource = { server: cluster.server };
  const ca = piece(cluster["certificate-authority-data"], cluster["certificate-authority"]);
  const cert = piece(user["client-certificate-data"], user["client-certificate"]);
  const key = piece(user["client-key-data"], user["client-key"]);
  if (ca) source.ca = ca;
  if (cert) source.cert = cert;
  if (key) source.key = key;
  const token = text(user.token);
  const tokenFile = text(user.tokenFile);
  if (token) source.token = token;
  else if (tokenFile) source.tokenFile = tokenFile;
  const username = text(user.username);
  if (username) {
    source.username = username;
    source.password = text(user.password) ?? "";
  }
  if (cluster["insecure-skip-tls-verify"] === true) source.insecureSkipTlsVerify = true;
  const serverName = text(cluster["tls-server-name"]);
  if (serverName) source.tlsServerName = serverName;
  return staticAccess(source);
}

/** The in-cluster service account: the API server from the environment, a token file kubelet rotates. */
export function inClusterAccess(env: NodeJS.ProcessEnv, root = SERVICE_ACCOUNT): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error(
      "no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account",
    );
  }
  return staticAccess({
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    ca: { file: join(root, "ca.crt") },
    tokenFile: join(root, "token"),
  });
}

export async function loadClusterAccess(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ClusterAccess> {
  const files = kubeConfigFiles(file, env);
  return files ? accessFromKubeConfig(mergeKubeConfigs(files)) : inClusterAccess(env);
}

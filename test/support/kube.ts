import {
  ApiextensionsV1Api,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PolicyV1Api,
} from "@kubernetes/client-node";
import { clientNodeAccess } from "../../src/kube/cluster-access.ts";
import { Informer } from "../../src/kube/informer.ts";
import { KubeRest } from "../../src/kube/rest.ts";

export interface KubeClients {
  config: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  policy: PolicyV1Api;
  custom: CustomObjectsApi;
  apiextensions: ApiextensionsV1Api;
}

export function kubeClients(kubeconfigPath: string): KubeClients {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return clientsFor(config);
}

/** The typed API clients of one kubeconfig (its current context). */
export function clientsFor(config: KubeConfig): KubeClients {
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    batch: config.makeApiClient(BatchV1Api),
    policy: config.makeApiClient(PolicyV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
    apiextensions: config.makeApiClient(ApiextensionsV1Api),
  };
}

/** Polls until `check` returns a value other than undefined, or fails with the last reason. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
  );
}

let namespaceCounter = 0;

/** Creates a namespace unique to this test run and waits for its default ServiceAccount. */
export async function createTestNamespace(
  clients: KubeClients,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = `${prefix}-${process.pid}-${++namespaceCounter}-${Math.random().toString(36).slice(2, 6)}`;
  await clients.core.createNamespace({ body: { metadata: { name, labels } } });
  await eventually(`ServiceAccount default in ${name}`, async () =>
    (await clients.core.readNamespacedServiceAccount({ name: "default", namespace: name }))
      ? true
      : undefined,
  );
  return name;
}

/**
 * Applies `manifests` with a server-side dry run (creating the gpulease-system namespace they go in
 * first) and returns kubectl's output: what the API server would accept, nothing written.
 */
export async function serverDryRun(kubeconfig: string, manifests: string): Promise<string> {
  await kubeClients(kubeconfig)
    .core.createNamespace({ body: { metadata: { name: "gpulease-system" } } })
    .catch(() => undefined); // the namespace exists when another test made it
  const { execFileSync } = await import("node:child_process");
  return execFileSync(
    "kubectl",
    [
      "--kubeconfig",
      kubeconfig,
      "apply",
      "--server-side",
      "--dry-run=server",
      "--force-conflicts",
      "-f",
      "-",
    ],
    { input: manifests },
  ).toString();
}

/** Records when each pod of a namespace is first seen terminating (eviction or deletion), in ms. */
export function watchTerminations(clients: KubeClients, namespace: string) {
  const seen = new Map<string, number>();
  const informer = new Informer(
    "pods",
    new KubeRest(clientNodeAccess(clients.config)),
    `/api/v1/namespaces/${namespace}/pods`,
    { watchdogMs: 60_000 },
  );
  informer.onChange((type, object) => {
    const name = object.metadata?.name ?? "";
    if (!seen.has(name) && (type === "delete" || object.metadata?.deletionTimestamp))
      seen.set(name, Date.now());
  });
  informer.start();
  return { seen, stop: () => informer.stop(), synced: informer.waitForSync() };
}

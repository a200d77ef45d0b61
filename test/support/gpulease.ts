/** Helpers for end-to-end tests: tenants, pools of GPU nodes, leases, and waiting on what users see. */
import { API_GROUP, API_VERSION, type GpuLease, type TenantQuota } from "../../src/api/index.ts";
import { addGpuNodes, waitForNodesReady } from "../harness/gpu-nodes.ts";
import { createTestNamespace, eventually, type KubeClients } from "./kube.ts";

let counter = 0;
export const uniqueId = (prefix: string) =>
  `${prefix}-${process.pid.toString(36)}${(++counter).toString(36)}${Math.random().toString(36).slice(2, 5)}`;

/** A pool of GPU nodes only this test file's operator lends (label gpulease.io/pool=<pool>). */
export async function addPool(
  clients: KubeClients,
  pool: string,
  count: number,
  shape: {
    gpus?: number;
    product?: string;
    prefix?: string;
    labels?: Record<string, string>;
    cpu?: string;
  } = {},
) {
  const names = await addGpuNodes(clients.core, {
    count,
    prefix: shape.prefix ?? uniqueId(pool),
    gpus: shape.gpus ?? 8,
    product: shape.product ?? "NVIDIA-H100-80GB-HBM3",
    labels: { "gpulease.io/pool": pool, ...shape.labels },
    ...(shape.cpu ? { cpu: shape.cpu } : {}),
  });
  await waitForNodesReady(clients.core, names);
  return names;
}

export async function createTenant(
  clients: KubeClients,
  spec: Record<string, unknown> = {},
  namespaces = 1,
): Promise<{ tenant: string; namespaces: string[] }> {
  const tenant = uniqueId("tenant");
  await clients.custom.createClusterCustomObject({
    group: API_GROUP,
    version: API_VERSION,
    plural: "tenantquotas",
    body: {
      apiVersion: `${API_GROUP}/${API_VERSION}`,
      kind: "TenantQuota",
      metadata: { name: tenant },
      spec: { limits: [{ maxGpus: 64, maxReservedGpus: 16 }], reclaimNotice: "3s", ...spec },
    },
  });
  const created: string[] = [];
  for (let i = 0; i < namespaces; i++)
    created.push(await createTestNamespace(clients, tenant.slice(0, 30), { "gpulease.io/tenant": tenant }));
  return { tenant, namespaces: created };
}

export async function createLease(
  clients: KubeClients,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  // A kube-apiserver that was just restarted answers 503 until it has its CRDs' schemas again (the
  // admission policies need them): retried for a while, as any client retries 503.
  for (let attempt = 0; ; attempt++) {
    try {
      await clients.custom.createNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        namespace,
        plural: "gpuleases",
        body: {
          apiVersion: `${API_GROUP}/${API_VERSION}`,
          kind: "GpuLease",
          metadata: { name, namespace },
          spec,
        },
      });
      return;
    } catch (error) {
      if ((error as { code?: number }).code !== 503 || attempt >= 100) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function getLease(clients: KubeClients, namespace: string, name: string): Promise<GpuLease> {
  return (await clients.custom.getNamespacedCustomObject({
    group: API_GROUP,
    version: API_VERSION,
    namespace,
    plural: "gpuleases",
    name,
  })) as GpuLease;
}

/** Every GpuLease in these namespaces. */
export async function leasesIn(clients: KubeClients, namespaces: string[]): Promise<GpuLease[]> {
  const all: GpuLease[] = [];
  for (const namespace of namespaces) {
    const list = (await clients.custom.listNamespacedCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      namespace,
      plural: "gpuleases",
    })) as { items: GpuLease[] };
    all.push(...list.items);
  }
  return all;
}

/** Runs `task` over `items`, at most `limit` at a time. */
export async function inParallel<T>(
  items: T[],
  limit: number,
  task: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

export async function getQuota(clients: KubeClients, name: string): Promise<TenantQuota> {
  return (await clients.custom.getClusterCustomObject({
    group: API_GROUP,
    version: API_VERSION,
    plural: "tenantquotas",
    name,
  })) as TenantQuota;
}

/** Waits until the lease's status satisfies `check`; returns the lease. */
/** Waits for the lease's reclaim notice for internal demand (phase Reclaiming, reason InternalDemand). */
export function reclaimNoticed(clients: KubeClients, namespace: string, name: string): Promise<GpuLease> {
  return leaseWhere(clients, namespace, name, "Reclaiming", phaseIs("Reclaiming", "InternalDemand"));
}

export function leaseWhere(
  clients: KubeClients,
  namespace: string,
  name: string,
  what: string,
  check: (lease: GpuLease) => boolean,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<GpuLease> {
  return eventually(
    `lease ${namespace}/${name} ${what}`,
    async () => {
      const lease = await getLease(clients, namespace, name);
      return check(lease) ? lease : undefined;
    },
    timeoutMs,
    intervalMs,
  );
}

export const phaseIs = (phase: string, reason?: string) => (lease: GpuLease) =>
  lease.status?.phase === phase && (reason === undefined || lease.status?.reason === reason);

/** A pod that asks for GPUs under a lease (the admission policy gates it). */
export async function createLeasedPod(
  clients: KubeClients,
  namespace: string,
  name: string,
  lease: string,
  gpus: number,
  labels: Record<string, string> = {},
) {
  return clients.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { "gpulease.io/lease": lease, ...labels } },
      spec: {
        containers: [
          {
            name: "work",
            image: "registry.example/train:1",
            resources: { limits: { "nvidia.com/gpu": String(gpus) } },
          },
        ],
        terminationGracePeriodSeconds: 1,
      },
    },
  });
}

export async function eventsFor(
  clients: KubeClients,
  namespace: string,
  name: string,
): Promise<{ reason: string; message: string }[]> {
  const list = await clients.core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.map((e) => ({ reason: e.reason ?? "", message: e.message ?? "" }));
}

/**
 * An internal (non-tenant) Job of `pods` pods of `gpus` GPUs each, pinned to nodes with `selector`
 * (none when empty); with `queue`, in that Kueue LocalQueue (Kueue suspends it until admitted).
 */
export async function createInternalJob(
  clients: KubeClients,
  namespace: string,
  name: string,
  pods: number,
  gpus: number,
  selector: Record<string, string>,
  extra: { cpu?: string; queue?: string } = {},
) {
  await clients.batch.createNamespacedJob({
    namespace,
    body: {
      metadata: { name, ...(extra.queue ? { labels: { "kueue.x-k8s.io/queue-name": extra.queue } } : {}) },
      spec: {
        parallelism: pods,
        completions: pods,
        backoffLimit: 0,
        template: {
          metadata: { labels: { app: name } },
          spec: {
            restartPolicy: "Never",
            ...(Object.keys(selector).length > 0 ? { nodeSelector: selector } : {}),
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: "train",
                image: "registry.example/internal/train:1",
                resources: {
                  limits: { "nvidia.com/gpu": String(gpus) },
                  ...(extra.cpu ? { requests: { cpu: extra.cpu } } : {}),
                },
              },
            ],
          },
        },
      },
    },
  });
}

export async function podsOf(clients: KubeClients, namespace: string, labelSelector: string) {
  return (await clients.core.listNamespacedPod({ namespace, labelSelector })).items;
}

/** Waits until the object has Events with every one of these reasons (Events are sent asynchronously). */
export async function expectEvents(
  clients: KubeClients,
  namespace: string,
  name: string,
  reasons: string[],
): Promise<void> {
  await eventually(`Events ${reasons.join(", ")} on ${name}`, async () => {
    const seen = (await eventsFor(clients, namespace, name)).map((e) => e.reason);
    return reasons.every((r) => seen.includes(r)) ? true : undefined;
  });
}

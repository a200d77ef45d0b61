import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { clientNodeAccess } from "../../src/kube/cluster-access.ts";
import { Informer } from "../../src/kube/informer.ts";
import { KubeRest } from "../../src/kube/rest.ts";
import { createTestNamespace, eventually, type KubeClients, kubeClients } from "../support/kube.ts";

let clients: KubeClients;
let rest: KubeRest;
const running: Informer[] = [];

beforeAll(() => {
  clients = kubeClients(inject("kubeconfig"));
  rest = new KubeRest(clientNodeAccess(clients.config));
});

afterEach(() => {
  for (const informer of running.splice(0)) informer.stop();
});

function informer(
  path: string,
  options: Partial<ConstructorParameters<typeof Informer>[3]> = {},
  client = rest,
) {
  const i = new Informer("test", client, path, { watchdogMs: 60_000, ...options });
  running.push(i);
  return i;
}

const configMap = (namespace: string, name: string, value: string) =>
  clients.core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { value } } });

/** A call to etcd's JSON gateway (the test control plane writes its URL beside the kubeconfig). */
async function etcdCall(path: string, body: unknown): Promise<{ header?: { revision?: string } }> {
  const etcd = readFileSync(join(dirname(inject("kubeconfig")), "etcd-url"), "utf8").trim();
  return (await (await fetch(`${etcd}${path}`, { method: "POST", body: JSON.stringify(body) })).json()) as {
    header?: { revision?: string };
  };
}

const base64 = (text: string) => Buffer.from(text).toString("base64");

describe("the informer", () => {
  it("lists, then follows additions, changes and deletions", async () => {
    const ns = await createTestNamespace(clients, "inf");
    await configMap(ns, "before", "1");
    const seen: string[] = [];
    const i = informer(`/api/v1/namespaces/${ns}/configmaps`);
    i.onChange((type, object) => seen.push(`${type}:${object.metadata?.name}`));
    i.start();
    await i.waitForSync();
    expect(i.get(`${ns}/before`)).toBeDefined();
    await configMap(ns, "after", "2");
    await clients.core.deleteNamespacedConfigMap({ namespace: ns, name: "before" });
    await eventually("add and delete seen", async () =>
      i.get(`${ns}/after`) && !i.get(`${ns}/before`) ? true : undefined,
    );
    expect(seen).toEqual(expect.arrayContaining(["add:before", "add:after", "delete:before"]));
  });

  it("relists when the API server answers its watch with 410 Gone (history compacted), and keeps following", async () => {
    // The test control plane watches ConfigMaps straight from etcd: compacting etcd past the
    // informer's resourceVersion makes its next watch expire, as on a busy cluster after a long gap.
    const ns = await createTestNamespace(clients, "inf");
    await configMap(ns, "before", "1");
    const i = informer(`/api/v1/namespaces/${ns}/configmaps`, { watchdogMs: 1500 });
    i.start();
    await i.waitForSync();
    // Changes after the informer's resourceVersion that it does not watch (another namespace), then
    // etcd's history compacted up to them.
    const other = await createTestNamespace(clients, "inf");
    for (let n = 0; n < 3; n++) await configMap(other, `noise-${n}`, "x");
    const revision = (await etcdCall("/v3/kv/range", { key: base64("/") })).header?.revision;
    expect(Number(revision)).toBeGreaterThan(0);
    await etcdCall("/v3/kv/compaction", { revision, physical: true });
    // The watch restarts (the watchdog, or the server ends it) from a compacted resourceVersion.
    await eventually(
      "a 410 Gone and a relist",
      async () => (i.restarts.gone >= 1 ? true : undefined),
      20_000,
    );
    expect(i.get(`${ns}/before`)).toBeDefined();
    await configMap(ns, "after", "2");
    await eventually("events after the relist", async () => (i.get(`${ns}/after`) ? true : undefined));
  });

  it("restarts a watch that goes silent, and keeps following", async () => {
    const ns = await createTestNamespace(clients, "inf");
    const i = informer(`/api/v1/namespaces/${ns}/configmaps`, { watchdogMs: 700 });
    i.start();
    await i.waitForSync();
    await eventually("watchdog restart", async () => (i.restarts.watchdog >= 1 ? true : undefined), 10_000);
    await configMap(ns, "after-silence", "1");
    await eventually("event after the restart", async () =>
      i.get(`${ns}/after-silence`) ? true : undefined,
    );
  });

  it("retries with backoff while forbidden, and syncs once allowed", async () => {
    const ns = await createTestNamespace(clients, "inf");
    await clients.core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: "reader" } },
    });
    const token = await clients.core.createNamespacedServiceAccountToken({
      namespace: ns,
      name: "reader",
      body: { spec: { expirationSeconds: 600, audiences: [] } },
    });
    const config = new KubeConfig();
    const cluster = clients.config.getCurrentCluster();
    if (!cluster) throw new Error("no cluster");
    config.loadFromOptions({
      clusters: [cluster],
      users: [{ name: "reader", token: token.status?.token ?? "" }],
      contexts: [{ name: "reader", cluster: cluster.name, user: "reader" }],
      currentContext: "reader",
    });
    await configMap(ns, "secret-ish", "1");
    const i = informer(`/api/v1/namespaces/${ns}/configmaps`, {}, new KubeRest(clientNodeAccess(config)));
    i.start();
    await eventually(
      "failing while forbidden",
      async () => (i.restarts.error >= 2 ? true : undefined),
      15_000,
    );
    expect(i.synced).toBe(false);
    await clients.config
      .makeApiClient((await import("@kubernetes/client-node")).RbacAuthorizationV1Api)
      .createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: "reader-view" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
          subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns }],
        },
      });
    await i.waitForSync();
    expect(i.get(`${ns}/secret-ish`)).toBeDefined();
  });
});

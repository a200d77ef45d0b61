/**
 * The operator's pods informer across a kube-apiserver restart. Its own file: idle HTTP/2 sessions
 * left by other tests' clients make undici 8.13 throw an uncaught "other side closed" when the API
 * server dies (the operator's one session always carries its watches).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { clientNodeAccess } from "../../src/kube/cluster-access.ts";
import { slimPod } from "../../src/kube/convert.ts";
import { Informer } from "../../src/kube/informer.ts";
import { KubeRest } from "../../src/kube/rest.ts";
import { controlPlaneControl } from "../support/control-plane.ts";
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

function informer(path: string, options: Partial<ConstructorParameters<typeof Informer>[3]> = {}) {
  const i = new Informer("pods", rest, path, { watchdogMs: 60_000, ...options });
  running.push(i);
  return i;
}

/** A call to etcd's JSON gateway (the test control plane writes its URL beside the kubeconfig). */
async function etcdCall(path: string, body: unknown): Promise<{ header?: { revision?: string } }> {
  const etcd = readFileSync(join(dirname(inject("kubeconfig")), "etcd-url"), "utf8").trim();
  return (await (await fetch(`${etcd}${path}`, { method: "POST", body: JSON.stringify(body) })).json()) as {
    header?: { revision?: string };
  };
}

const base64 = (text: string) => Buffer.from(text).toString("base64");

describe("the pods informer", () => {
  it.skipIf(!inject("controlPlane"))(
    "with the operator's pod transform, relists after a kube-apiserver restart and sees pods created after it",
    async () => {
      const control = controlPlaneControl();
      if (!control) return;
      const ns = await createTestNamespace(clients, "inf");
      const pod = (name: string) =>
        clients.core.createNamespacedPod({
          namespace: ns,
          body: {
            metadata: { name },
            // Stays Pending: only the informer's view of it matters.
            spec: {
              nodeSelector: { "gpulease.io/no-such-node": "x" },
              containers: [{ name: "c", image: "x" }],
            },
          },
        });
      await pod("before");
      // As the operator configures its pods informer: slimmed objects, the default watchdog.
      const i = informer("/api/v1/pods", {
        transform: slimPod,
        fieldSelector: `metadata.namespace=${ns}`,
        watchdogMs: 180_000,
      });
      i.start();
      await i.waitForSync();
      expect(i.get(`${ns}/before`)).toBeDefined();

      await control.stop("kube-apiserver", "SIGKILL");
      // While the API server is away etcd's history moves on and is compacted, so the informer's
      // resourceVersion is gone for good: only a relist can bring it back.
      for (let n = 0; n < 3; n++)
        await etcdCall("/v3/kv/put", { key: base64("/gpulease-test/noise"), value: base64(String(n)) });
      const revision = (await etcdCall("/v3/kv/range", { key: base64("/") })).header?.revision;
      expect(Number(revision)).toBeGreaterThan(0);
      await etcdCall("/v3/kv/compaction", { revision, physical: true });
      await control.start("kube-apiserver");
      const apiBackAt = Date.now();

      await pod("after");
      const seenAt = await eventually(
        "the pod created after the restart in the cache",
        async () => (i.get(`${ns}/after`) ? Date.now() : undefined),
        30_000,
        20,
      );
      console.log(
        `[informer] kube-apiserver back → pod created after it in the cache: ${seenAt - apiBackAt} ms ` +
          `(restarts ${JSON.stringify(i.restarts)})`,
      );
      // The reconnect backoff is capped at 10 s.
      expect(seenAt - apiBackAt).toBeLessThan(12_000);
      expect(i.get(`${ns}/before`)).toBeDefined();
    },
  );
});

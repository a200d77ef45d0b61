/**
 * After an API outage the operator's next pass must not wait out the backoff its failed passes built
 * up: KubeRest says when the server answers again, and the work queue runs the key at once.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { WorkQueue } from "../../../src/controller/workqueue.ts";
import { clientNodeAccess } from "../../../src/kube/cluster-access.ts";
import { KubeRest } from "../../../src/kube/rest.ts";

let server: Server | undefined;
let answer: "ok" | "unavailable" = "ok";

async function listen(port = 0): Promise<number> {
  server = createServer((req, res) => {
    req.resume();
    res.writeHead(answer === "ok" ? 200 : 503, { "content-type": "application/json" });
    res.end("{}");
  });
  await new Promise<void>((r) => server?.listen(port, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

async function close(): Promise<void> {
  const open = server;
  if (!open) return;
  server = undefined;
  open.closeAllConnections();
  await new Promise((r) => open.close(r));
}

function restFor(port: number): KubeRest {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return new KubeRest(clientNodeAccess(kc));
}

afterEach(close);

describe("recovery after an API outage", () => {
  it("tells once when the API server answers again after refusing connections or answering 5xx", async () => {
    const port = await listen();
    const rest = restFor(port);
    let recovered = 0;
    rest.onRecovered(() => recovered++);
    await rest.get("/api");
    expect(recovered).toBe(0); // never down: nothing to tell

    await close(); // connection refused
    await expect(rest.get("/api")).rejects.toThrow();
    await listen(port);
    answer = "unavailable"; // up, but not serving yet
    await expect(rest.get("/api")).rejects.toThrow();
    expect(recovered).toBe(0);
    answer = "ok";
    await rest.get("/api");
    await rest.get("/api");
    expect(recovered).toBe(1);
    await rest.close();
  });

  it("runs the next pass at once on recovery, whatever its backoff had grown to", async () => {
    const runs: number[] = [];
    const queue = new WorkQueue<string>({
      workers: 1,
      baseDelayMs: 1000,
      maxDelayMs: 300_000,
      process: async () => {
        runs.push(Date.now());
      },
    });
    queue.start();
    // Seven failed passes during the outage: the next retry is two minutes away.
    for (let i = 0; i < 7; i++) queue.addRateLimited("plan");
    expect(queue.failuresOf("plan")).toBe(7);
    const recoveredAt = Date.now();
    // What the operator does when KubeRest reports recovery.
    queue.forget("plan");
    queue.add("plan");
    await queue.drained();
    expect(runs).toHaveLength(1);
    expect((runs[0] ?? Infinity) - recoveredAt).toBeLessThan(1000);
    expect(queue.failuresOf("plan")).toBe(0);
    await queue.shutdown();
  });
});

/**
 * The operator's client speaks HTTP/2 to a TLS API server (undici 8 offers h2 through ALPN, and
 * kube-apiserver accepts it). An engineer saw an uncaught "other side closed" from an idle HTTP/2
 * connection in a test process when kube-apiserver died. This kills a real HTTP/2 server process
 * (SIGKILL, as the fault tests kill kube-apiserver) under KubeRest with an idle pooled session, an
 * open watch and a request waiting for its answer: each must fail as a rejected promise, nothing may
 * escape as an uncaught error, and the same client must work again once the server is back.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientNodeAccess } from "../../../src/kube/cluster-access.ts";
import { KubeRest, streamWatch } from "../../../src/kube/rest.ts";
import { freePort } from "../../harness/ports.ts";

const SERVER = `
import http2 from "node:http2";
import { readFileSync } from "node:fs";
const [dir, port] = process.argv.slice(2);
const server = http2.createSecureServer(
  { key: readFileSync(dir + "/key.pem"), cert: readFileSync(dir + "/cert.pem"), allowHTTP1: true },
  (req, res) => {
    if (req.url.startsWith("/slow")) return; // never answers
    res.writeHead(200, { "content-type": "application/json" });
    if (req.url.includes("watch=true")) {
      res.write(JSON.stringify({ type: "ADDED", object: { metadata: { name: "a" } } }) + "\\n");
      return; // the watch stays open
    }
    res.end(JSON.stringify({ httpVersion: req.httpVersion }));
  },
);
server.listen(Number(port), "127.0.0.1", () => console.log("listening"));
`;

let dir: string;
let port: number;
let server: ChildProcess | undefined;

async function startServer(): Promise<void> {
  const child = spawn(process.execPath, [join(dir, "server.mjs"), dir, String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  server = child;
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("listening")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

async function killServer(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.on("exit", r));
  child.kill("SIGKILL");
  await exited;
}

function restFor(ca: string): KubeRest {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [
      { name: "c", server: `https://127.0.0.1:${port}`, caData: Buffer.from(ca).toString("base64") },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return new KubeRest(clientNodeAccess(config));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gpulease-h2-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  writeFileSync(join(dir, "server.mjs"), SERVER);
  port = await freePort();
});

afterAll(async () => {
  await killServer();
});

describe("KubeRest over HTTP/2 when the API server dies", () => {
  it("rejects what was in flight, throws nothing uncaught, and works again after a restart", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUncaught);
    try {
      await startServer();
      const rest = restFor(readFileSync(join(dir, "cert.pem"), "utf8"));
      // The trigger: the client negotiates HTTP/2.
      expect(await rest.get<{ httpVersion: string }>("/version")).toEqual({ httpVersion: "2.0" });

      const events: string[] = [];
      const watch = streamWatch(
        rest,
        "/api/v1/pods",
        {},
        60_000,
        (e) => events.push(e.type),
        new AbortController().signal,
      );
      const slow = rest.request("GET", "/slow");
      const watchOutcome = watch.then(
        () => "ended",
        (error: Error) =>
          `rejected: ${error.message} (${String((error.cause as Error | undefined)?.message)})`,
      );
      const slowOutcome = slow.then(
        () => "answered",
        (error: Error) =>
          `rejected: ${error.message} (${String((error.cause as Error | undefined)?.message)})`,
      );
      await expect.poll(() => events).toEqual(["ADDED"]);
      // One more request, so an idle session sits in the pool beside the open streams.
      await rest.get("/version");

      await killServer();
      expect(await watchOutcome).toMatch(/^rejected: terminated \(other side closed\)$/);
      expect(await slowOutcome).toMatch(/^rejected: fetch failed/);
      await expect(rest.get("/version")).rejects.toThrow(/fetch failed/);
      await new Promise((r) => setTimeout(r, 500)); // room for a late error from a dead session

      await startServer();
      expect(await rest.get<{ httpVersion: string }>("/version")).toEqual({ httpVersion: "2.0" });
      await rest.close();
      expect(uncaught).toEqual([]);
    } finally {
      process.off("uncaughtException", onUncaught);
      process.off("unhandledRejection", onUncaught);
    }
  });
});

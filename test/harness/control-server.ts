/**
 * Fault injection across processes. vitest runs the global setup (which owns the control plane) and
 * the test files in different processes, so the owner serves a tiny loopback HTTP endpoint and test
 * files ask it to stop, start, freeze or thaw one component. The owner keeps the processes: a
 * restarted component is still stopped with the cluster and still dies with its owner, which a
 * component re-spawned by a test worker would not.
 *
 *   POST /components/<name>/<stop|start|restart|freeze|thaw>[?signal=SIGKILL]
 *   → 200 {"ms": <how long it took>} | 400/500 {"error": "..."}
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { COMPONENTS, type ControlPlane } from "./controlplane.ts";

const ACTIONS = ["stop", "start", "restart", "freeze", "thaw"] as const;
type Action = (typeof ACTIONS)[number];
const SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGKILL", "SIGINT"];

/** What a test needs to reach the control plane's owner and its files. */
export interface ControlPlaneHandle {
  /** The control endpoint's base URL. */
  url: string;
  /** The control plane's directory (logs/audit.log, logs/<component>.log). */
  dir: string;
}

export async function serveControl(
  plane: ControlPlane,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const [, prefix, name, action] = url.pathname.split("/");
    const reply = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const signal = (url.searchParams.get("signal") ?? "SIGTERM") as NodeJS.Signals;
    if (
      req.method !== "POST" ||
      prefix !== "components" ||
      !COMPONENTS.some((c) => c === name) ||
      !ACTIONS.some((a) => a === action) ||
      !SIGNALS.includes(signal)
    ) {
      reply(400, {
        error: `POST /components/<${COMPONENTS.join("|")}>/<${ACTIONS.join("|")}>[?signal=${SIGNALS.join("|")}]`,
      });
      return;
    }
    const started = Date.now();
    run(plane, name as string, action as Action, signal).then(
      () => reply(200, { ms: Date.now() - started }),
      (error: unknown) => reply(500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function run(plane: ControlPlane, name: string, action: Action, signal: NodeJS.Signals) {
  switch (action) {
    case "stop":
      return plane.stopComponent(name, signal);
    case "start":
      return plane.startComponent(name);
    case "restart":
      return plane.restartComponent(name, signal);
    case "freeze":
      return plane.freeze(name);
    case "thaw":
      return plane.thaw(name);
  }
}

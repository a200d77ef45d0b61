/** /metrics, /healthz (the process is alive) and /readyz (caches synced; the leader is working). */
import { createServer, type Server } from "node:http";
import type { Metrics } from "./metrics.ts";

export interface HealthProbe {
  live: () => boolean;
  ready: () => { ok: boolean; detail: string };
}

export function startHttpServer(port: number, metrics: Metrics, probe: HealthProbe): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url.startsWith("/metrics")) {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { "Content-Type": metrics.registry.contentType });
          res.end(text);
        })
        .catch((error: unknown) => {
          res.writeHead(500);
          res.end(String(error));
        });
      return;
    }
    if (url.startsWith("/healthz")) {
      const ok = probe.live();
      res.writeHead(ok ? 200 : 500, { "Content-Type": "text/plain" });
      res.end(ok ? "ok" : "not alive");
      return;
    }
    if (url.startsWith("/readyz")) {
      const { ok, detail } = probe.ready();
      res.writeHead(ok ? 200 : 503, { "Content-Type": "text/plain" });
      res.end(detail);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, () => resolve(server));
  });
}

/**
 * gpulease operator entry point: configuration, clients, caches, the work, and a graceful stop on
 * SIGTERM/SIGINT (stop taking work, finish in-flight writes, exit 0).
 */
import { KubeConfig } from "@kubernetes/client-node";
import { ConfigError, loadStartupOptions } from "./config/load-config.ts";
import { Operator } from "./controller/operator.ts";
import { KubeRest } from "./kube/rest.ts";
import { startHttpServer } from "./observability/http-server.ts";
import { createLogger } from "./observability/logger.ts";
import { Metrics } from "./observability/metrics.ts";

async function main(): Promise<void> {
  let options: ReturnType<typeof loadStartupOptions>;
  try {
    options = loadStartupOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { config } = options;
  const log = createLogger(config.logLevel);
  const kubeConfig = new KubeConfig();
  if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
  else kubeConfig.loadFromDefault();
  const rest = new KubeRest(kubeConfig);
  const metrics = new Metrics();
  rest.observe((method, _path, code) => metrics.apiRequests.inc({ method, code: String(code) }));
  const operator = new Operator(rest, config, log, metrics);

  const server =
    config.metricsPort > 0
      ? await startHttpServer(config.metricsPort, metrics, {
          live: () => true,
          ready: () => ({
            ok: operator.cachesSynced,
            detail: operator.cachesSynced
              ? operator.working
                ? "ok: working"
                : "ok: standby"
              : "caches not synced",
          }),
        })
      : undefined;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: finishing in-flight work");
    await operator.stop();
    server?.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  log.info({ config }, "starting");
  await operator.start();
}

main().catch((error: unknown) => {
  process.stderr.write(
    `gpulease: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});

/**
 * gpulease operator entry point: configuration, clients, caches, leader election, the work, and a
 * graceful stop on SIGTERM/SIGINT (stop taking work, finish in-flight writes, exit 0).
 */
import { ConfigError, loadStartupOptions } from "./config/load-config.ts";
import { Operator } from "./controller/operator.ts";
import { loadClusterAccess } from "./kube/kubeconfig.ts";
import { kueueInstalled } from "./kube/kueue.ts";
import { LeaderElector } from "./kube/leader-election.ts";
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
  const rest = new KubeRest(await loadClusterAccess(options.kubeconfig));
  const metrics = new Metrics();
  rest.observe((method, _path, code) => metrics.apiRequests.inc({ method, code: String(code) }));
  rest.observeWrites((outcome) => metrics.apiWrites.inc({ outcome }));
  // Kueue's CRDs, read once: with them the operator also serves its AdmissionCheck gpulease.io/capacity.
  const kueue = await kueueInstalled(rest, (error) =>
    log.warn({ err: String(error) }, "cannot tell whether Kueue is installed yet: asking again"),
  );
  log.info(
    { kueue },
    kueue
      ? "Kueue is installed: serving AdmissionChecks of controller gpulease.io/capacity"
      : "Kueue is not installed: no AdmissionCheck controller",
  );
  const operator = new Operator(rest, config, log, metrics, { kueue });
  let stopping = false;

  const election = config.leaderElection;
  const elector = election.enabled
    ? new LeaderElector(rest, {
        namespace: election.namespace,
        name: election.name,
        leaseDurationMs: election.leaseDuration,
        renewDeadlineMs: election.renewDeadline,
        retryPeriodMs: election.retryPeriod,
        log: (message, fields) => log.info(fields ?? {}, message),
        onNewLeader: (identity) => log.info({ leader: identity }, "leader observed"),
        onStartedLeading: async () => {
          if (stopping) return;
          metrics.leader.set(1);
          await operator.startWork();
        },
        onStoppedLeading: async () => {
          metrics.leader.set(0);
          // The fence already refuses every write; the pass in flight ends quickly. The caches keep
          // running and the elector keeps competing: this replica is a warm standby again.
          await operator.stopWork();
          if (!stopping) log.warn("lost leadership: standing by");
        },
      })
    : undefined;
  // Leadership is a fence: with leader election, no write leaves this process unless the elector
  // can prove it still holds the lease (its own Lease writes bypass the fence).
  if (elector) rest.setWriteFence(elector);

  const server =
    config.metricsPort > 0
      ? await startHttpServer(config.metricsPort, metrics, {
          live: () => true,
          // Ready once the caches are synced and watching; the leader also needs its work loop running.
          ready: () => {
            const leading = elector ? elector.isLeader : true;
            if (!operator.cachesSynced) return { ok: false, detail: "caches not synced" };
            const disconnected = operator.disconnectedCaches();
            if (disconnected.length > 0)
              return { ok: false, detail: `watch down past the watchdog: ${disconnected.join(", ")}` };
            if (!leading) return { ok: true, detail: "ok: standby" };
            return operator.working
              ? { ok: true, detail: "ok: leading" }
              : { ok: false, detail: "starting work" };
          },
        })
      : undefined;

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: finishing in-flight work");
    // In-flight writes finish while this replica still holds the lease (it keeps renewing); then
    // it releases the lease so the standby takes over at once.
    await operator.stopWork();
    await elector?.stop();
    await operator.stop();
    server?.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  log.info({ config }, "starting");
  if (elector) {
    operator.startCaches();
    await operator.waitForCaches();
    log.info({ identity: elector.identity }, "caches synced: standing by for the leader lease");
    elector.start();
  } else {
    metrics.leader.set(1);
    await operator.start();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `gpulease: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});

import { z } from "zod";
import { parseDuration } from "../api/duration.ts";
import { LABEL_LENDABLE } from "../api/labels.ts";
import type { PoolSettings } from "../core/model.ts";
import type { ConvertSettings } from "../kube/convert.ts";

const duration = (field: string) =>
  z.string().refine((text) => parseDuration(text) !== undefined, {
    message: `${field} must be a duration written like 0s, 30s, 5m or 1h`,
  });

/**
 * Usage in lease status is refreshed at most this often: every refresh is a write per Active lease,
 * and a refresh at every pass (0s was accepted once) starved admission of 1,000 leases.
 */
export const MIN_METERING_INTERVAL = "10s";

const durationAtLeast = (field: string, minimum: string) =>
  duration(field).refine((text) => (parseDuration(text) ?? 0) >= (parseDuration(minimum) ?? 0), {
    message: `${field} must be at least ${minimum}`,
  });

/** The operator's configuration file (YAML), every field defaulted. Flags override it. */
export const operatorConfigSchema = z.strictObject({
  /** Nodes whose labels include all of these may be lent. */
  lendableNodeSelector: z.record(z.string(), z.string()).default({ [LABEL_LENDABLE]: "true" }),
  /** A node is lent only after it has had no internal GPU pod for this long. */
  idlePeriod: duration("idlePeriod").default("5m"),
  /** GPUs of idle Internal nodes kept unlent for internal bursts. */
  headroomGpus: z.int().min(0).default(0),
  /** Extended resources counted as GPUs. */
  resourceNames: z.array(z.string().min(1)).min(1).default(["nvidia.com/gpu"]),
  /** Node label carrying the GPU model. */
  gpuModelLabel: z.string().default("nvidia.com/gpu.product"),
  /** How long before expiry a lease is warned (condition ExpiringSoon and an Event). */
  expiryWarning: duration("expiryWarning").default("5m"),
  /** Grace after a reclaim deadline before a PDB-blocked pod is deleted instead of evicted. */
  evictionGrace: duration("evictionGrace").default("30s"),
  /** Lease and tenant usage in status is refreshed at this period (ended leases carry exact figures). */
  meteringInterval: durationAtLeast("meteringInterval", MIN_METERING_INTERVAL).default("1m"),
  /** Full re-reconcile of everything at this period, as a safety net. */
  resyncPeriod: duration("resyncPeriod").default("5m"),
  /** A watch with no event or bookmark for this long is restarted. */
  watchdogTimeout: duration("watchdogTimeout").default("3m"),
  retry: z
    .strictObject({
      baseDelay: duration("retry.baseDelay").default("1s"),
      maxDelay: duration("retry.maxDelay").default("5m"),
    })
    .default({ baseDelay: "1s", maxDelay: "5m" }),
  /** Port of /metrics, /healthz and /readyz (0 disables). */
  metricsPort: z.int().min(0).max(65535).default(8080),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error"]).default("info"),
  leaderElection: z
    .strictObject({
      enabled: z.boolean().default(false),
      namespace: z.string().default("gpulease-system"),
      name: z.string().default("gpulease-operator"),
      leaseDuration: duration("leaderElection.leaseDuration").default("15s"),
      renewDeadline: duration("leaderElection.renewDeadline").default("10s"),
      retryPeriod: duration("leaderElection.retryPeriod").default("2s"),
    })
    // The leader must stop writing before anyone may take over, and get more than one try at it.
    .refine(
      (le) =>
        (parseDuration(le.renewDeadline) ?? 0) < (parseDuration(le.leaseDuration) ?? 0) &&
        (parseDuration(le.retryPeriod) ?? 0) < (parseDuration(le.renewDeadline) ?? 0),
      { message: "needs retryPeriod < renewDeadline < leaseDuration", path: ["renewDeadline"] },
    )
    .default({
      enabled: false,
      namespace: "gpulease-system",
      name: "gpulease-operator",
      leaseDuration: "15s",
      renewDeadline: "10s",
      retryPeriod: "2s",
    }),
});
export type OperatorConfig = z.infer<typeof operatorConfigSchema>;

/** Milliseconds of a configuration duration ("0s" is zero). */
export function configMs(text: string): number {
  return parseDuration(text) ?? 0;
}

/** How raw nodes and pods are read, from the configuration. */
export function convertSettings(config: OperatorConfig): ConvertSettings {
  return {
    lendableSelector: config.lendableNodeSelector,
    resourceNames: config.resourceNames,
    gpuModelLabel: config.gpuModelLabel,
  };
}

/** The core's settings, from the configuration. */
export function poolSettings(config: OperatorConfig): PoolSettings {
  return {
    idlePeriodMs: configMs(config.idlePeriod),
    headroomGpus: config.headroomGpus,
    resourceNames: config.resourceNames,
    expiryWarningMs: configMs(config.expiryWarning),
    meteringIntervalMs: configMs(config.meteringInterval),
    evictionGraceMs: configMs(config.evictionGrace),
  };
}

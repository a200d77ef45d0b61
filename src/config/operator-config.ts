import { z } from "zod";
import { parseDuration, validDurationMs } from "../api/duration.ts";
import { LABEL_LENDABLE } from "../api/labels.ts";
import type { PoolSettings } from "../core/model.ts";
import type { ConvertSettings } from "../kube/convert.ts";

/** A duration written like "5m" in the file or a flag, read as milliseconds. */
const duration = (field: string, minimum?: string) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.issues.push({
        code: "custom",
        input: text,
        message: `${field} must be a duration written like 0s, 30s, 5m or 1h`,
      });
      return z.NEVER;
    }
    if (minimum !== undefined && ms < validDurationMs(minimum)) {
      ctx.issues.push({ code: "custom", input: text, message: `${field} must be at least ${minimum}` });
      return z.NEVER;
    }
    return ms;
  });

/**
 * Usage in lease status is refreshed at most this often: every refresh is a write per Active lease,
 * and a refresh at every pass (0s was accepted once) starved admission of 1,000 leases.
 */
export const MIN_METERING_INTERVAL = "10s";

/**
 * The operator's configuration file (YAML), every field defaulted. Flags override it. Durations are
 * written like "5m" and parsed here, once: the parsed configuration holds them in milliseconds.
 */
export const operatorConfigSchema = z.strictObject({
  /** Nodes whose labels include all of these may be lent. */
  lendableNodeSelector: z.record(z.string(), z.string()).default({ [LABEL_LENDABLE]: "true" }),
  /** A node is lent only after it has had no internal GPU pod for this long. */
  idlePeriod: duration("idlePeriod").prefault("5m"),
  /** GPUs of idle Internal nodes kept unlent for internal bursts. */
  headroomGpus: z.int().min(0).default(0),
  /** Extended resources counted as GPUs. */
  resourceNames: z.array(z.string().min(1)).min(1).default(["nvidia.com/gpu"]),
  /** Node label carrying the GPU model. */
  gpuModelLabel: z.string().default("nvidia.com/gpu.product"),
  /** How long before expiry a lease is warned (condition ExpiringSoon and an Event). */
  expiryWarning: duration("expiryWarning").prefault("5m"),
  /** Grace after a reclaim deadline before a PDB-blocked pod is deleted instead of evicted. */
  evictionGrace: duration("evictionGrace").prefault("30s"),
  /**
   * A tenant pod on a lent node without an Active lease allocating that node (lease label removed,
   * lease gone or ended) is evicted after this grace, and deleted evictionGrace later.
   */
  orphanGrace: duration("orphanGrace").prefault("30s"),
  /** Lease and tenant usage in status is refreshed at this period (ended leases carry exact figures). */
  meteringInterval: duration("meteringInterval", MIN_METERING_INTERVAL).prefault("1m"),
  /**
   * At most this often, a pass also plans from scratch (the reference) beside the incremental plan
   * it executes, and reports any difference (metric gpulease_plan_divergences_total, an error log
   * line; the next pass then plans from scratch). 0s: never. Costs one full plan per check, after the
   * pass's writes, and is put off while new internal demand waits for its reclaim.
   */
  referenceCheckInterval: duration("referenceCheckInterval").prefault("0s"),
  /** Full re-reconcile of everything at this period, as a safety net. */
  resyncPeriod: duration("resyncPeriod").prefault("5m"),
  /** A watch with no event or bookmark for this long is restarted. */
  watchdogTimeout: duration("watchdogTimeout").prefault("3m"),
  retry: z
    .strictObject({
      baseDelay: duration("retry.baseDelay").prefault("1s"),
      maxDelay: duration("retry.maxDelay").prefault("5m"),
    })
    .prefault({}),
  /**
   * Priority classes tenant pods may name besides gpulease-tenant (priority 0). Default none: no
   * tenant pod runs above priority 0. Kept in the ConfigMap gpulease-tenant-admission (the operator's
   * namespace, leaderElection.namespace) and in each tenant namespace's ResourceQuota gpulease-priority.
   */
  tenantPriorityClasses: z
    .array(
      z
        .string()
        .regex(
          /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
          "tenantPriorityClasses: each must be a priority class name",
        ),
    )
    .default([]),
  /** Port of /metrics, /healthz and /readyz (0 disables). */
  metricsPort: z.int().min(0).max(65535).default(8080),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error"]).default("info"),
  leaderElection: z
    .strictObject({
      enabled: z.boolean().default(false),
      namespace: z.string().default("gpulease-system"),
      name: z.string().default("gpulease-operator"),
      leaseDuration: duration("leaderElection.leaseDuration").prefault("15s"),
      renewDeadline: duration("leaderElection.renewDeadline").prefault("10s"),
      retryPeriod: duration("leaderElection.retryPeriod").prefault("2s"),
    })
    // The leader must stop writing before anyone may take over, and get more than one try at it.
    .refine((le) => le.renewDeadline < le.leaseDuration && le.retryPeriod < le.renewDeadline, {
      message: "needs retryPeriod < renewDeadline < leaseDuration",
      path: ["renewDeadline"],
    })
    .prefault({}),
});
export type OperatorConfig = z.infer<typeof operatorConfigSchema>;

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
    idlePeriodMs: config.idlePeriod,
    headroomGpus: config.headroomGpus,
    resourceNames: config.resourceNames,
    expiryWarningMs: config.expiryWarning,
    meteringIntervalMs: config.meteringInterval,
    evictionGraceMs: config.evictionGrace,
    orphanGraceMs: config.orphanGrace,
    tenantPriorityClasses: config.tenantPriorityClasses,
  };
}

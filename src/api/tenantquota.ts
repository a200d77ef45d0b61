import { z } from "zod";
import {
  API_GROUP_VERSION,
  DEFAULT_RESOURCE_NAME,
  durationSchema,
  gpuModelSchema,
  int32,
  objectMetaSchema,
  resourceNameSchema,
} from "./common.ts";
import { conditionSchema } from "./conditions.ts";
import { HOUR_MS, parseDuration, validDurationMs } from "./duration.ts";

/** The notice a tenant gets when its quota names none. */
export const DEFAULT_RECLAIM_NOTICE = "2m";
export const DEFAULT_RECLAIM_NOTICE_MS = validDurationMs(DEFAULT_RECLAIM_NOTICE);

const DECIMAL = /^[0-9]{1,9}(\.[0-9]{1,6})?$/;

export const quotaLimitSchema = z
  .object({
    resourceName: resourceNameSchema("resourceName").default(DEFAULT_RESOURCE_NAME),
    gpuModel: gpuModelSchema("gpuModel").optional(),
    maxGpus: int32("maxGpus", 0, 1_000_000),
    maxReservedGpus: int32("maxReservedGpus", 0, 1_000_000).optional(),
  })
  .check((ctx) => {
    const limit = ctx.value;
    if (limit.maxReservedGpus !== undefined && limit.maxReservedGpus > limit.maxGpus) {
      ctx.issues.push({
        code: "custom",
        input: limit,
        message: "maxReservedGpus cannot be larger than maxGpus",
      });
    }
  });
export type QuotaLimit = z.infer<typeof quotaLimitSchema>;

export const pricingSchema = z.object({
  interruptiblePerGpuHour: z
    .string()
    .regex(DECIMAL, 'pricing.interruptiblePerGpuHour must be a decimal such as "1.20"')
    .default("0"),
  reservedPerGpuHour: z
    .string()
    .regex(DECIMAL, 'pricing.reservedPerGpuHour must be a decimal such as "2.50"')
    .default("0"),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "pricing.currency must be a three-letter ISO 4217 code such as USD")
    .default("USD"),
});
export type Pricing = z.infer<typeof pricingSchema>;

export const tenantQuotaSpecSchema = z
  .object({
    limits: z
      .array(quotaLimitSchema)
      .min(1, "spec.limits must have at least 1 item")
      .max(16, "spec.limits must have at most 16 items"),
    maxLeaseDuration: durationSchema(
      "spec.maxLeaseDuration must be a positive duration written like 30m, 8h or 1h30m, at most 6 digits per unit",
      { min: 1000 },
    ).optional(),
    reclaimNotice: durationSchema(
      "spec.reclaimNotice must be a duration of at most 24h written like 30s, 2m or 1m30s",
      { max: 24 * HOUR_MS },
    ).default(DEFAULT_RECLAIM_NOTICE),
    minRuntime: durationSchema("spec.minRuntime must be a duration written like 30s, 10m or 1h").optional(),
    priority: int32("spec.priority", -1000, 1000).default(0),
    pricing: pricingSchema.default({
      interruptiblePerGpuHour: "0",
      reservedPerGpuHour: "0",
      currency: "USD",
    }),
    suspend: z.boolean().default(false),
    /** Dedicated: no other tenant ever shares a node with this one. */
    isolation: z
      .enum(["Shared", "Dedicated"], { error: 'spec.isolation must be "Shared" or "Dedicated"' })
      .default("Shared"),
  })
  .check((ctx) => {
    const spec = ctx.value;
    const seen = new Set<string>();
    for (const limit of spec.limits) {
      const key = `${limit.resourceName}\u0000${limit.gpuModel ?? ""}`;
      if (seen.has(key)) {
        ctx.issues.push({
          code: "custom",
          input: spec,
          message: "spec.limits has two entries for the same resourceName and gpuModel",
        });
        break;
      }
      seen.add(key);
    }
    if (spec.maxLeaseDuration !== undefined && spec.minRuntime !== undefined) {
      const max = parseDuration(spec.maxLeaseDuration) ?? 0;
      const min = parseDuration(spec.minRuntime) ?? 0;
      if (min > max) {
        ctx.issues.push({
          code: "custom",
          input: spec,
          message: "spec.minRuntime cannot be longer than spec.maxLeaseDuration",
        });
      }
    }
    // A lease is never reclaimed during its minRuntime: unbounded, Interruptible would silently mean never.
    if (spec.maxLeaseDuration === undefined && spec.minRuntime !== undefined) {
      if ((parseDuration(spec.minRuntime) ?? 0) > 24 * HOUR_MS) {
        ctx.issues.push({
          code: "custom",
          input: spec,
          message:
            "spec.minRuntime must be at most 24h, or at most spec.maxLeaseDuration when that is set, because a lease is never reclaimed during its minRuntime",
        });
      }
    }
  });
export type TenantQuotaSpec = z.infer<typeof tenantQuotaSpecSchema>;

/**
 * The spec as the core reads it: the schema's spec, which mirrors the CRD and keeps durations as
 * written (for messages), plus those durations parsed once, here at the boundary.
 */
export interface TenantQuotaSpecView extends TenantQuotaSpec {
  reclaimNoticeMs: number;
  minRuntimeMs: number | undefined;
  maxLeaseDurationMs: number | undefined;
}

export function tenantQuotaSpecView(spec: TenantQuotaSpec): TenantQuotaSpecView {
  const optionalMs = (text: string | undefined) => (text === undefined ? undefined : validDurationMs(text));
  return {
    ...spec,
    reclaimNoticeMs: validDurationMs(spec.reclaimNotice),
    minRuntimeMs: optionalMs(spec.minRuntime),
    maxLeaseDurationMs: optionalMs(spec.maxLeaseDuration),
  };
}

export const tenantQuotaStatusSchema = z.object({
  observedGeneration: z.int().optional(),
  conditions: z.array(conditionSchema).optional(),
  namespaces: z.array(z.string()).optional(),
  allocated: z
    .object({
      gpus: z.int().optional(),
      reservedGpus: z.int().optional(),
      activeLeases: z.int().optional(),
      pendingLeases: z.int().optional(),
    })
    .optional(),
  usage: z
    .object({
      gpuHours: z.string().optional(),
      reclaimedGpuHours: z.string().optional(),
      charges: z.string().optional(),
      currency: z.string().optional(),
    })
    .optional(),
  ledger: z
    .object({
      retiredLeases: z.int().optional(),
      gpuSeconds: z.int().optional(),
      reclaimedGpuSeconds: z.int().optional(),
      chargeMicros: z.string().optional(),
      /** UIDs of deleted leases whose usage is in the ledger, kept while each lease object exists. */
      foldedUids: z.array(z.string()).optional(),
      /** The same, as written by versions before 0.2 (read, never written). */
      recentUids: z.array(z.string()).optional(),
      /**
       * The billing state of each of the tenant's leases not yet in the ledger, as the operator last
       * wrote it: a lease that vanishes without its finalizer while no operator watches (or before the
       * operator that saw it go wrote the ledger) is folded in from here.
       */
      liveLeases: z
        .array(
          z.object({
            uid: z.string().min(1),
            /** `namespace/name`, for the Event that reports it. */
            lease: z.string().min(1),
            gpuSeconds: z.int().nonnegative(),
            perGpuHour: z.string().optional(),
            /** Ended by a reclaim: its GPU-seconds count as reclaimed too. */
            reclaimed: z.boolean().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type TenantQuotaStatus = z.infer<typeof tenantQuotaStatusSchema>;

export const tenantQuotaSchema = z
  .object({
    apiVersion: z.literal(API_GROUP_VERSION).optional(),
    kind: z.literal("TenantQuota").optional(),
    metadata: objectMetaSchema,
    spec: tenantQuotaSpecSchema,
    status: tenantQuotaStatusSchema.optional(),
  })
  .check((ctx) => {
    if (ctx.value.metadata.name.length > 63) {
      ctx.issues.push({
        code: "custom",
        input: ctx.value,
        message:
          "a TenantQuota name must be at most 63 characters, because namespaces name their tenant in a label",
      });
    }
  });
export type TenantQuota = z.infer<typeof tenantQuotaSchema>;

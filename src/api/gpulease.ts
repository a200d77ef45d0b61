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
import { HOUR_MS, validDurationMs } from "./duration.ts";

export const LEASE_CLASSES = ["Interruptible", "Reserved"] as const;
export type LeaseClass = (typeof LEASE_CLASSES)[number];
export const LEASE_PHASES = ["Pending", "Active", "Reclaiming", "Ended"] as const;
export type LeasePhase = (typeof LEASE_PHASES)[number];
export const END_REASONS = ["Expired", "Released", "Reclaimed", "Rejected", "NodeLost"] as const;
export type EndReason = (typeof END_REASONS)[number];

export const gpuLeaseSpecSchema = z
  .object({
    gpus: int32("spec.gpus", 1, 100_000),
    resourceName: resourceNameSchema("spec.resourceName").default(DEFAULT_RESOURCE_NAME),
    gpuModel: gpuModelSchema("spec.gpuModel").optional(),
    gpusPerNode: int32("spec.gpusPerNode", 1, 64).optional(),
    class: z
      .enum(LEASE_CLASSES, { error: 'spec.class must be "Interruptible" or "Reserved"' })
      .default("Interruptible"),
    duration: durationSchema(
      "spec.duration must be a positive duration of at most a year written like 30m, 8h or 1h30m",
      { min: 1000, max: 8760 * HOUR_MS },
    ).optional(),
    priority: int32("spec.priority", -1000, 1000).default(0),
    allowPartialReclaim: z.boolean().default(false),
  })
  .check((ctx) => {
    const spec = ctx.value;
    if (spec.class === "Reserved" && spec.duration === undefined) {
      ctx.issues.push({
        code: "custom",
        input: spec,
        message:
          "a Reserved lease must set spec.duration, because Reserved GPUs are never reclaimed before the lease ends",
      });
    }
    if (spec.gpusPerNode !== undefined && spec.gpusPerNode >= 1 && spec.gpus % spec.gpusPerNode !== 0) {
      ctx.issues.push({
        code: "custom",
        input: spec,
        message: "spec.gpus must be a multiple of spec.gpusPerNode",
      });
    }
  });
export type GpuLeaseSpec = z.infer<typeof gpuLeaseSpecSchema>;

/**
 * The spec as the core reads it: the schema's spec, which mirrors the CRD and keeps the duration as
 * written (for messages), plus that duration parsed once, here at the boundary.
 */
export interface GpuLeaseSpecView extends GpuLeaseSpec {
  durationMs: number | undefined;
}

export function gpuLeaseSpecView(spec: GpuLeaseSpec): GpuLeaseSpecView {
  return { ...spec, durationMs: spec.duration === undefined ? undefined : validDurationMs(spec.duration) };
}

export const allocationSchema = z.object({
  node: z.string(),
  gpus: z.int().min(1),
  since: z.string().optional(),
});
export type Allocation = z.infer<typeof allocationSchema>;

export const gpuLeaseStatusSchema = z.object({
  observedGeneration: z.int().optional(),
  phase: z.enum(LEASE_PHASES).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  conditions: z.array(conditionSchema).optional(),
  allocations: z.array(allocationSchema).optional(),
  allocatedNodes: z.int().optional(),
  admittedAt: z.string().optional(),
  expiresAt: z.string().optional(),
  reclaim: z
    .object({
      requestedAt: z.string().optional(),
      deadline: z.string().optional(),
      reason: z.string().optional(),
      nodes: z.array(z.string()).optional(),
      gpus: z.int().optional(),
      /** When the operator first tried to evict after the deadline; the grace before deletion runs from here. */
      evictingSince: z.string().optional(),
    })
    .optional(),
  endedAt: z.string().optional(),
  endReason: z.enum(END_REASONS).optional(),
  boundPods: z.int().optional(),
  pricing: z.object({ perGpuHour: z.string().optional(), currency: z.string().optional() }).optional(),
  usage: z
    .object({
      gpuSeconds: z.int().optional(),
      closedGpuSeconds: z.int().optional(),
      charges: z.string().optional(),
    })
    .optional(),
});
export type GpuLeaseStatus = z.infer<typeof gpuLeaseStatusSchema>;

export const gpuLeaseSchema = z
  .object({
    apiVersion: z.literal(API_GROUP_VERSION).optional(),
    kind: z.literal("GpuLease").optional(),
    metadata: objectMetaSchema,
    spec: gpuLeaseSpecSchema,
    status: gpuLeaseStatusSchema.optional(),
  })
  .check((ctx) => {
    if (ctx.value.metadata.name.length > 63) {
      ctx.issues.push({
        code: "custom",
        input: ctx.value,
        message: "a GpuLease name must be at most 63 characters, because pods name their lease in a label",
      });
    }
  });
export type GpuLease = z.infer<typeof gpuLeaseSchema>;

/**
 * The transition rules the CRD enforces on update. Returns the messages of every rule the change
 * breaks (empty when the update is allowed).
 */
export function gpuLeaseSpecUpdateErrors(before: GpuLeaseSpec, after: GpuLeaseSpec): string[] {
  const errors: string[] = [];
  const fixed = ["gpus", "resourceName", "gpuModel", "gpusPerNode", "class"] as const;
  for (const field of fixed) {
    if (before[field] !== after[field]) {
      errors.push(`spec.${field} cannot be changed after the lease is created`);
    }
  }
  if (before.class === "Reserved" && after.duration === undefined) {
    errors.push("spec.duration cannot be removed from a Reserved lease");
  }
  return errors;
}

import { z } from "zod";
import { parseDuration } from "./duration.ts";

export const API_GROUP = "gpulease.io";
export const API_VERSION = "v1alpha1";
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;
export const DEFAULT_RESOURCE_NAME = "nvidia.com/gpu";

const EXTENDED_RESOURCE_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function resourceNameSchema(path: string) {
  return z
    .string()
    .max(253)
    .regex(EXTENDED_RESOURCE_NAME, `${path} must be an extended resource name such as nvidia.com/gpu`);
}

export function gpuModelSchema(path: string) {
  return z
    .string()
    .max(63, `${path} must be at most 63 characters`)
    .regex(LABEL_VALUE, `${path} must be a label value such as NVIDIA-H100-80GB-HBM3`);
}

/** A duration string in the CRDs' grammar, with optional bounds in milliseconds. */
export function durationSchema(message: string, bounds: { min?: number; max?: number } = {}) {
  return z
    .string()
    .max(32, message)
    .refine((text) => {
      const ms = parseDuration(text);
      if (ms === undefined) return false;
      if (bounds.min !== undefined && ms < bounds.min) return false;
      if (bounds.max !== undefined && ms > bounds.max) return false;
      return true;
    }, message);
}

export function int32(path: string, min: number, max: number) {
  return z
    .int(`${path} must be a whole number`)
    .min(min, `${path} must be at least ${min}`)
    .max(max, `${path} must be at most ${max}`);
}

/** The part of ObjectMeta the operator reads. */
export const objectMetaSchema = z.object({
  name: z.string().min(1),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.int().optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
});
export type ObjectMeta = z.infer<typeof objectMetaSchema>;

import type { z } from "zod";
import { type GpuLease, gpuLeaseSchema } from "./gpulease.ts";
import { type TenantQuota, tenantQuotaSchema } from "./tenantquota.ts";

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** Turns zod issues into sentences that name the field, as the API server's messages do. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.join(".");
    // Custom and field messages already name their field; bare type errors get the path prefixed.
    return path && !issue.message.includes(path.replace(/^spec\./, ""))
      ? `${path}: ${issue.message}`
      : issue.message;
  });
}

function parseWith<T>(schema: z.ZodType<T>, input: unknown): ParseResult<T> {
  const result = schema.safeParse(input);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, errors: describeIssues(result.error) };
}

export function parseGpuLease(input: unknown): ParseResult<GpuLease> {
  return parseWith(gpuLeaseSchema, input);
}

export function parseTenantQuota(input: unknown): ParseResult<TenantQuota> {
  return parseWith(tenantQuotaSchema, input);
}

import { API_GROUP, API_GROUP_VERSION, API_VERSION } from "../../src/api/index.ts";
import type { ManifestCase } from "../fixtures/manifests.ts";

export const PLURAL = { GpuLease: "gpuleases", TenantQuota: "tenantquotas" } as const;

export function manifestFor(c: ManifestCase, name: string, namespace?: string): Record<string, unknown> {
  return {
    apiVersion: API_GROUP_VERSION,
    kind: c.kind,
    metadata: { name, ...(c.kind === "GpuLease" && namespace ? { namespace } : {}) },
    spec: c.spec,
  };
}

export { API_GROUP, API_VERSION };

/** The Status message inside a client-node ApiException, or the error's text. */
export function apiErrorMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return status.message;
    } catch {
      return body;
    }
  }
  return String(error);
}

export function apiErrorCode(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

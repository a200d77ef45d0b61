import { describe, expect, it } from "vitest";
import {
  formatDuration,
  gpuLeaseSpecUpdateErrors,
  parseDuration,
  parseGpuLease,
  parseTenantQuota,
} from "../../../src/api/index.ts";
import {
  INVALID_CASES,
  LEASE_UPDATE_CASES,
  type ManifestCase,
  VALID_CASES,
} from "../../fixtures/manifests.ts";
import { manifestFor } from "../../support/manifest.ts";

function parse(c: ManifestCase) {
  const manifest = manifestFor(c, c.name ?? "sample", "tenant-a");
  return c.kind === "GpuLease" ? parseGpuLease(manifest) : parseTenantQuota(manifest);
}

describe("the runtime parser", () => {
  it.each(VALID_CASES.map((c) => [c.title, c] as const))("accepts %s", (_title, c) => {
    const result = parse(c);
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  it.each(INVALID_CASES.map((c) => [c.title, c] as const))(
    "refuses %s with a message naming the problem",
    (_title, c) => {
      const result = parse(c);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors.join("; ")).toContain(c.rejectedWith);
    },
  );

  it("applies the same defaults as the CRD", () => {
    const result = parseGpuLease(manifestFor(VALID_CASES[0] as ManifestCase, "one", "ns"));
    expect(result.ok && result.value.spec).toEqual({
      gpus: 1,
      resourceName: "nvidia.com/gpu",
      class: "Interruptible",
      priority: 0,
      allowPartialReclaim: false,
    });
    const quota = parseTenantQuota({ metadata: { name: "acme" }, spec: { limits: [{ maxGpus: 8 }] } });
    expect(quota.ok && quota.value.spec).toEqual({
      limits: [{ resourceName: "nvidia.com/gpu", maxGpus: 8 }],
      reclaimNotice: "2m",
      priority: 0,
      pricing: { interruptiblePerGpuHour: "0", reservedPerGpuHour: "0", currency: "USD" },
      suspend: false,
      isolation: "Shared",
    });
  });

  it.each(LEASE_UPDATE_CASES.map((c) => [c.title, c] as const))("judges the update %s", (_title, c) => {
    const before = parseGpuLease({ metadata: { name: "l" }, spec: c.before });
    const after = parseGpuLease({ metadata: { name: "l" }, spec: c.after });
    expect(before.ok).toBe(true);
    if (!before.ok) return;
    const errors = [
      ...(after.ok ? gpuLeaseSpecUpdateErrors(before.value.spec, after.value.spec) : after.errors),
    ].join("; ");
    if (c.rejectedWith) expect(errors).toContain(c.rejectedWith);
    else expect(errors).toBe("");
  });
});

describe("durations", () => {
  it.each([
    ["30m", 1_800_000],
    ["8h", 28_800_000],
    ["1h30m", 5_400_000],
    ["45s", 45_000],
    ["1h0m5s", 3_605_000],
  ])("reads %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it.each(["", "1d", "8 hours", "1.5h", "m", "30m1h", "-1h", "9999999h"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

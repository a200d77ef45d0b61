import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadStartupOptions } from "../../../src/config/load-config.ts";

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "gpulease-config-")), "config.yaml");
  writeFileSync(path, text);
  return path;
}

describe("operator configuration", () => {
  it("defaults every field", () => {
    const { config, kubeconfig } = loadStartupOptions([]);
    expect(config).toMatchObject({
      idlePeriod: 300_000, // "5m", in milliseconds once parsed
      headroomGpus: 0,
      resourceNames: ["nvidia.com/gpu"],
      metricsPort: 8080,
      tenantPriorityClasses: [], // no tenant pod above priority 0
    });
    expect(kubeconfig).toBeUndefined();
  });

  it("reads the priority classes tenants may use", () => {
    const path = file("tenantPriorityClasses: [tenant-high, batch.low]\n");
    expect(loadStartupOptions(["--config", path]).config.tenantPriorityClasses).toEqual([
      "tenant-high",
      "batch.low",
    ]);
  });

  it("reads the file, and flags win over it", () => {
    const path = file("idlePeriod: 10m\nheadroomGpus: 8\nlendableNodeSelector: { pool: spare }\n");
    const { config } = loadStartupOptions(["--config", path, "--headroom-gpus", "16"]);
    expect(config).toMatchObject({
      idlePeriod: 600_000,
      headroomGpus: 16,
      lendableNodeSelector: { pool: "spare" },
    });
  });

  it.each([
    ["idlePeriod: soon\n", "idlePeriod: idlePeriod must be a duration"],
    ["headroomGpus: -1\n", "headroomGpus"],
    ["meteringInterval: 0s\n", "meteringInterval must be at least 10s"],
    ["unknownSetting: 1\n", 'Unrecognized key: "unknownSetting"'],
    ["- a list\n", "must be a YAML mapping"],
    ["tenantPriorityClasses: ['a,b']\n", "tenantPriorityClasses: each must be a priority class name"],
    [
      "leaderElection: { leaseDuration: 10s, renewDeadline: 10s }\n",
      "leaderElection.renewDeadline: needs retryPeriod < renewDeadline < leaseDuration",
    ],
  ])("stops at start on a bad file (%j), naming the field", (text, message) => {
    expect(() => loadStartupOptions(["--config", file(text)])).toThrow(ConfigError);
    expect(() => loadStartupOptions(["--config", file(text)])).toThrow(message);
  });

  it("refuses unknown flags and bad numbers", () => {
    expect(() => loadStartupOptions(["--no-such-flag"])).toThrow(ConfigError);
    expect(() => loadStartupOptions(["--metrics-port", "eighty"])).toThrow(
      "--metrics-port must be a whole number",
    );
  });
});

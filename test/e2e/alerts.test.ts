/**
 * The alerts of config/prometheus, proven with Prometheus's own tool: `promtool check rules` accepts
 * them and `promtool test rules` runs config/prometheus/tests/alerts.test.yaml (each alert fires when
 * it should and stays silent for what is normal, such as a lease Pending on its own tenant's quota).
 * No control plane is needed, but promtool is built once from the Go module proxy like the control
 * plane, which is why this runs with the end-to-end tests.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { ROOT } from "../support/container.ts";

const TOOL_BUILD_TIMEOUT_MS = 20 * 60_000;

let promtool: string;
let dir: string;

/** The PrometheusRule's groups as a Prometheus rules file. */
function rulesFile(): string {
  const rule = parseAllDocuments(readFileSync(join(ROOT, "config/prometheus/monitor.yaml"), "utf8"))
    .map((d) => d.toJS() as { kind: string; spec?: { groups: unknown[] } })
    .find((d) => d.kind === "PrometheusRule");
  if (!rule?.spec) throw new Error("config/prometheus/monitor.yaml has no PrometheusRule");
  return stringify({ groups: rule.spec.groups });
}

beforeAll(() => {
  const output = execFileSync("bash", ["hack/build-tools.sh", "promtool"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  }).toString();
  promtool = /^PROMTOOL=(.+)$/m.exec(output)?.[1] ?? "";
  expect(promtool).not.toBe("");
  dir = mkdtempSync(join(tmpdir(), "gpulease-alerts-"));
  writeFileSync(join(dir, "rules.yaml"), rulesFile());
  copyFileSync(join(ROOT, "config/prometheus/tests/alerts.test.yaml"), join(dir, "alerts.test.yaml"));
}, TOOL_BUILD_TIMEOUT_MS);

describe("the alerts of config/prometheus", () => {
  it("pass promtool check rules", () => {
    const result = spawnSync(promtool, ["check", "rules", "rules.yaml"], { cwd: dir, encoding: "utf8" });
    expect(result.stdout + result.stderr).toContain("SUCCESS: 4 rules found");
    expect(result.status).toBe(0);
  });

  it("fire and stay silent as their unit tests say (promtool test rules)", () => {
    const result = spawnSync(promtool, ["test", "rules", "alerts.test.yaml"], { cwd: dir, encoding: "utf8" });
    expect(result.stdout + result.stderr).toContain("SUCCESS");
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it("are each tested both firing and silent", () => {
    const tests = readFileSync(join(ROOT, "config/prometheus/tests/alerts.test.yaml"), "utf8");
    const alerts = [...rulesFile().matchAll(/alert: (\w+)/g)].map((m) => m[1] ?? "");
    expect(alerts.length).toBe(4);
    for (const alert of alerts) {
      const cases = [...tests.matchAll(new RegExp(`alertname: ${alert}\\b(.*)`, "g"))].map((m) => m[1] ?? "");
      expect(
        cases.some((c) => c.includes("exp_alerts: []")),
        `${alert} silent`,
      ).toBe(true);
      expect(
        cases.some((c) => !c.includes("exp_alerts: []")),
        `${alert} firing`,
      ).toBe(true);
    }
  });
});

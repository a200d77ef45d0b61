/**
 * config/prometheus: the alert rules read against the series the operator really exports (promtool is
 * not available here, so the rule's selector is matched by hand against the gauge's output).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { Metrics } from "../../../src/observability/metrics.ts";

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
}

function rules(): Rule[] {
  const text = readFileSync(resolve(import.meta.dirname, "../../../config/prometheus/monitor.yaml"), "utf8");
  const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; spec?: unknown });
  const rule = docs.find((d) => d.kind === "PrometheusRule") as {
    spec: { groups: { rules: Rule[] }[] };
  };
  return rule.spec.groups.flatMap((g) => g.rules);
}

type Labels = Record<string, string>;

/** The label matchers of every `metric{...}` selector in a PromQL expression. */
function selectors(expr: string, metric: string): ((labels: Labels) => boolean)[] {
  const found: ((labels: Labels) => boolean)[] = [];
  for (const match of expr.matchAll(new RegExp(`${metric}\\{([^}]*)\\}`, "g"))) {
    const matchers = [...(match[1] ?? "").matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map(
      ([, name = "", op = "", value = ""]) =>
        (labels: Labels) => {
          // Prometheus: a missing label is the empty string; regexes match the whole value.
          const actual = labels[name] ?? "";
          if (op === "=") return actual === value;
          if (op === "!=") return actual !== value;
          const full = new RegExp(`^(?:${value})$`).test(actual);
          return op === "=~" ? full : !full;
        },
    );
    found.push((labels) => matchers.every((m) => m(labels)));
  }
  return found;
}

/** The series of gpulease_leases as the operator exports them for these leases. */
async function leaseSeries(leases: { phase?: string; reason?: string }[]): Promise<Labels[]> {
  const metrics = new Metrics(false);
  metrics.countLeases(
    leases.map((status) => ({ namespace: "acme-prod", status })),
    () => "acme",
  );
  const data = await metrics.leases.get();
  return data.values.map((v) => Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)])));
}

describe("gpulease_leases", () => {
  it("labels Pending leases with their reason, and no other phase (their series are unchanged)", async () => {
    const series = await leaseSeries([
      { phase: "Pending", reason: "QuotaExceeded" },
      { phase: "Pending", reason: "QuotaExceeded" },
      { phase: "Pending", reason: "NoTenantQuota" },
      { phase: "Active", reason: "Admitted" },
      {},
    ]);
    expect(series).toEqual(
      expect.arrayContaining([
        { phase: "Pending", tenant: "acme", reason: "QuotaExceeded" },
        { phase: "Pending", tenant: "acme", reason: "NoTenantQuota" },
        { phase: "Active", tenant: "acme" },
        { phase: "Pending", tenant: "acme" },
      ]),
    );
    expect(series).toHaveLength(4);
  });
});

describe("the GpuLeasesStuckPending alert", () => {
  const rule = rules().find((r) => r.alert === "GpuLeasesStuckPending") as Rule;

  it("exists and waits 30 minutes", () => {
    expect(rule).toBeDefined();
    expect(rule.for).toBe("30m");
  });

  it("has no clause that is always true (the age of a sample just scraped)", () => {
    expect(rule.expr).not.toMatch(/timestamp\(|time\(\)/);
  });

  it("fires for leases Pending for a reason the platform acts on, never for a wait by design", async () => {
    const reasons = {
      platform: ["NoTenantQuota", "NotATenantNamespace", "NoMatchingNodes", "InsufficientCapacity"],
      byDesign: ["QuotaExceeded", "TenantSuspended"],
    };
    const matchers = selectors(rule.expr, "gpulease_leases");
    expect(matchers.length).toBeGreaterThan(0);
    const selected = (labels: Labels) => matchers.every((m) => m(labels));
    for (const reason of reasons.platform) {
      const [series] = await leaseSeries([{ phase: "Pending", reason }]);
      expect(selected(series as Labels), reason).toBe(true);
    }
    for (const reason of reasons.byDesign) {
      const [series] = await leaseSeries([{ phase: "Pending", reason }]);
      expect(selected(series as Labels), reason).toBe(false);
    }
    // A lease the operator never gave a reason is stuck too; other phases are not Pending.
    const [unseen] = await leaseSeries([{}]);
    expect(selected(unseen as Labels)).toBe(true);
    const [active] = await leaseSeries([{ phase: "Active" }]);
    expect(selected(active as Labels)).toBe(false);
  });
});

/**
 * What ships in more than one place stays one thing: the chart's copies of the CRDs, admission
 * policies, aggregated roles and alerts are the project's files byte for byte, and the version of
 * package.json is the chart's, the image tag's and the manifests'.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const ROOT = resolve(import.meta.dirname, "../../..");
const CHART = join(ROOT, "charts/gpulease");
const read = (path: string) => readFileSync(join(ROOT, path));
const yamlFiles = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .sort();
const version = (JSON.parse(read("package.json").toString()) as { version: string }).version;

describe("the Helm chart's copies", () => {
  it.each([
    ["crds", "charts/gpulease/crds"],
    ["config/policies", "charts/gpulease/files/policies"],
  ])("%s is byte-identical in %s", (source, copy) => {
    expect(yamlFiles(copy)).toEqual(yamlFiles(source));
    expect(yamlFiles(source).length).toBeGreaterThan(0);
    for (const file of yamlFiles(source))
      expect(read(join(copy, file)).equals(read(join(source, file))), file).toBe(true);
  });

  it.each([
    ["config/rbac/aggregated-roles.yaml", "charts/gpulease/files/rbac/aggregated-roles.yaml"],
    ["config/prometheus/monitor.yaml", "charts/gpulease/files/prometheus/monitor.yaml"],
  ])("%s is byte-identical in the chart", (source, copy) => {
    expect(read(copy).equals(read(source))).toBe(true);
  });
});

describe("one version: package.json's", () => {
  it("is the chart's version and appVersion", () => {
    const chart = readFileSync(join(CHART, "Chart.yaml"), "utf8");
    expect(chart).toMatch(new RegExp(`^version: ${version.replaceAll(".", "\\.")}$`, "m"));
    expect(chart).toMatch(new RegExp(`^appVersion: "${version.replaceAll(".", "\\.")}"$`, "m"));
  });

  it("tags the image config/manager's Deployment runs, and the Makefile builds", () => {
    const deployment = parseAllDocuments(read("config/manager/manager.yaml").toString())
      .map(
        (d) =>
          d.toJS() as { kind: string; spec?: { template: { spec: { containers: { image: string }[] } } } },
      )
      .find((d) => d.kind === "Deployment");
    expect(deployment?.spec?.template.spec.containers[0]?.image).toBe(`ghcr.io/gpulease/gpulease:${version}`);
    expect(read("Makefile").toString()).toContain("IMG ?= ghcr.io/gpulease/gpulease:$(VERSION)");
  });

  it("heads the CHANGELOG", () => {
    const firstRelease = /^## \[?([0-9][^\]\s]*)/m.exec(read("CHANGELOG.md").toString())?.[1];
    expect(firstRelease).toBe(version);
  });
});

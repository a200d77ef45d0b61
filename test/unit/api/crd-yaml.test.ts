import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const CRD_DIR = resolve(import.meta.dirname, "../../../crds");

/** Every key path whose value is null: in a CRD that is always a YAML slip (an unquoted ", " in a flow map). */
function nullKeys(value: unknown, path = ""): string[] {
  if (value === null) return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => nullKeys(v, `${path}[${i}]`));
  if (typeof value === "object") {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => nullKeys(v, `${path}.${k}`));
  }
  return [];
}

function descriptionsMissing(schema: Record<string, unknown>, path: string): string[] {
  const missing: string[] = [];
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, child] of Object.entries(properties)) {
    const childPath = `${path}.${name}`;
    if (name !== "metadata" && typeof child.description !== "string") missing.push(childPath);
    missing.push(...descriptionsMissing(child, childPath));
    if (child.items && typeof child.items === "object") {
      missing.push(...descriptionsMissing(child.items as Record<string, unknown>, `${childPath}[]`));
    }
  }
  return missing;
}

describe.each(readdirSync(CRD_DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml"))(
  "%s",
  (file) => {
    const crd = parse(readFileSync(join(CRD_DIR, file), "utf8"));

    it("has no YAML slips", () => {
      expect(nullKeys(crd)).toEqual([]);
    });

    it("describes every field, so kubectl explain teaches", () => {
      const schema = crd.spec.versions[0].schema.openAPIV3Schema;
      expect(descriptionsMissing(schema, "")).toEqual([]);
    });
  },
);

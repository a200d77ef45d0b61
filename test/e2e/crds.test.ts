import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gpuLeaseSpecUpdateErrors, parseGpuLease, parseTenantQuota } from "../../src/api/index.ts";
import { INVALID_CASES, LEASE_UPDATE_CASES, type ManifestCase, VALID_CASES } from "../fixtures/manifests.ts";
import { createTestNamespace, type KubeClients, kubeClients } from "../support/kube.ts";
import {
  API_GROUP,
  API_VERSION,
  apiErrorCode,
  apiErrorMessage,
  manifestFor,
  PLURAL,
} from "../support/manifest.ts";

let clients: KubeClients;
let namespace: string;
const quotaNames: string[] = [];
let counter = 0;

beforeAll(async () => {
  clients = kubeClients(inject("kubeconfig"));
  namespace = await createTestNamespace(clients, "crd");
});

afterAll(async () => {
  for (const name of quotaNames) {
    await clients.custom
      .deleteClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: "tenantquotas", name })
      .catch(() => undefined);
  }
  await clients.core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

/** Sends the manifest to the API server; returns the stored object or the refusal. */
async function create(
  c: ManifestCase,
): Promise<{ stored?: Record<string, unknown>; error?: string; code?: number }> {
  const name = c.name ?? `${c.kind.toLowerCase()}-${++counter}`;
  const body = manifestFor(c, name, namespace);
  try {
    const stored =
      c.kind === "GpuLease"
        ? await clients.custom.createNamespacedCustomObject({
            group: API_GROUP,
            version: API_VERSION,
            namespace,
            plural: PLURAL.GpuLease,
            body,
            fieldValidation: "Strict",
          })
        : await clients.custom.createClusterCustomObject({
            group: API_GROUP,
            version: API_VERSION,
            plural: PLURAL.TenantQuota,
            body,
            fieldValidation: "Strict",
          });
    if (c.kind === "TenantQuota") quotaNames.push(name);
    return { stored: stored as Record<string, unknown> };
  } catch (error) {
    return { error: apiErrorMessage(error), code: apiErrorCode(error) };
  }
}

function parse(manifest: Record<string, unknown>, kind: ManifestCase["kind"]) {
  return kind === "GpuLease" ? parseGpuLease(manifest) : parseTenantQuota(manifest);
}

describe("the API server and the runtime parser agree", () => {
  it.each(VALID_CASES.map((c) => [c.title, c] as const))(
    "both accept %s, with the same defaults",
    async (_t, c) => {
      const { stored, error } = await create(c);
      expect(error).toBeUndefined();
      const parsed = parse(manifestFor(c, "x", namespace), c.kind);
      expect(parsed.ok).toBe(true);
      // What the API server stored (with its defaults) is exactly what the parser produces.
      if (parsed.ok && stored) expect(stored.spec).toEqual(parsed.value.spec);
    },
  );

  it.each(INVALID_CASES.map((c) => [c.title, c] as const))(
    "both refuse %s, naming the problem",
    async (_t, c) => {
      const { stored, error, code } = await create(c);
      expect(stored).toBeUndefined();
      expect(code).toBe(422);
      expect(error).toContain(c.rejectedWith);
      // A rule that fails at run time shows CEL's own words to the tenant instead of its message.
      expect(error).not.toMatch(
        /modulus by zero|division by zero|type conversion error|no such overload|protobuf/,
      );
      const parsed = parse(manifestFor(c, c.name ?? "x", namespace), c.kind);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.errors.join("; ")).toContain(c.rejectedWith);
    },
  );

  it.each(LEASE_UPDATE_CASES.map((c) => [c.title, c] as const))("both judge the update %s", async (_t, c) => {
    const name = `update-${++counter}`;
    const created = (await clients.custom.createNamespacedCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      namespace,
      plural: PLURAL.GpuLease,
      body: manifestFor({ title: c.title, kind: "GpuLease", spec: c.before }, name, namespace),
    })) as { metadata: { resourceVersion: string } };
    let serverError: string | undefined;
    try {
      await clients.custom.replaceNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        namespace,
        plural: PLURAL.GpuLease,
        name,
        body: {
          ...manifestFor({ title: c.title, kind: "GpuLease", spec: c.after }, name, namespace),
          metadata: { name, namespace, resourceVersion: created.metadata.resourceVersion },
        },
      });
    } catch (error) {
      serverError = apiErrorMessage(error);
    }
    const before = parseGpuLease({ metadata: { name }, spec: c.before });
    const after = parseGpuLease({ metadata: { name }, spec: c.after });
    const parserErrors = !before.ok
      ? before.errors
      : after.ok
        ? gpuLeaseSpecUpdateErrors(before.value.spec, after.value.spec)
        : after.errors;
    if (c.rejectedWith) {
      expect(serverError).toContain(c.rejectedWith);
      expect(parserErrors.join("; ")).toContain(c.rejectedWith);
    } else {
      expect(serverError).toBeUndefined();
      expect(parserErrors).toEqual([]);
    }
  });
});

describe("the API server and the runtime parser agree on the ledger's lease records", () => {
  const record = { uid: "0f6c", lease: "acme-prod/train", gpuSeconds: 28800, perGpuHour: "1.20" };
  it.each([
    ["a record", record, undefined],
    ["a record of a reclaimed lease", { ...record, reclaimed: true }, undefined],
    ["negative GPU-seconds", { ...record, gpuSeconds: -1 }, "gpuSeconds"],
    ["a record without its UID", { lease: record.lease, gpuSeconds: 0 }, "uid"],
    ["an empty lease name", { ...record, lease: "" }, "lease"],
  ] as const)("both judge %s", async (_t, entry, rejectedWith) => {
    const name = `ledger-${++counter}`;
    const spec = { limits: [{ maxGpus: 8 }], reclaimNotice: "2m" };
    const created = (await clients.custom.createClusterCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      plural: PLURAL.TenantQuota,
      body: { apiVersion: `${API_GROUP}/${API_VERSION}`, kind: "TenantQuota", metadata: { name }, spec },
    })) as { metadata: { resourceVersion: string } };
    quotaNames.push(name);
    const status = { ledger: { liveLeases: [entry] } };
    const serverError = await clients.custom
      .replaceClusterCustomObjectStatus({
        group: API_GROUP,
        version: API_VERSION,
        plural: PLURAL.TenantQuota,
        name,
        body: {
          apiVersion: `${API_GROUP}/${API_VERSION}`,
          kind: "TenantQuota",
          metadata: { name, resourceVersion: created.metadata.resourceVersion },
          spec,
          status,
        },
      })
      .then(
        () => undefined,
        (error: unknown) => apiErrorMessage(error),
      );
    const parsed = parseTenantQuota({ metadata: { name }, spec, status });
    if (rejectedWith === undefined) {
      expect(serverError).toBeUndefined();
      expect(parsed.ok ? [] : parsed.errors).toEqual([]);
    } else {
      expect(serverError).toContain(rejectedWith);
      expect(parsed.ok ? "" : parsed.errors.join("; ")).toContain(rejectedWith);
    }
  });
});

describe("what kubectl shows", () => {
  it("explains fields, knows the short names and prints the columns", () => {
    const kubeconfig = inject("kubeconfig");
    const kubectl = (...args: string[]) =>
      execFileSync("kubectl", ["--kubeconfig", kubeconfig, ...args]).toString();
    expect(kubectl("explain", "gpulease.spec.class")).toContain("Interruptible (default)");
    expect(kubectl("explain", "tenantquota.spec.reclaimNotice")).toContain("at least this long");
    const table = kubectl("get", "gl", "-n", namespace);
    for (const column of ["PHASE", "GPUS", "CLASS", "PODS", "REASON", "EXPIRES", "AGE"])
      expect(table).toContain(column);
    expect(kubectl("get", "tq")).toContain("ALLOCATED");
    expect(kubectl("get", "gpulease", "-A")).toContain(namespace);
  });
});

describe("the samples in config/samples", () => {
  it("parse and are accepted by the API server (server-side dry run)", async () => {
    const { readdirSync, readFileSync } = await import("node:fs");
    const { parseAllDocuments } = await import("yaml");
    const dir = new URL("../../config/samples/", import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      for (const doc of parseAllDocuments(readFileSync(new URL(file, dir), "utf8"))) {
        const object = doc.toJS() as { kind: string; metadata: { name: string; namespace?: string } };
        if (object.kind === "GpuLease") {
          expect(parseGpuLease(object).ok, file).toBe(true);
          await clients.custom.createNamespacedCustomObject({
            group: API_GROUP,
            version: API_VERSION,
            namespace,
            plural: PLURAL.GpuLease,
            body: { ...object, metadata: { ...object.metadata, namespace } },
            dryRun: "All",
            fieldValidation: "Strict",
          });
        } else if (object.kind === "TenantQuota") {
          expect(parseTenantQuota(object).ok, file).toBe(true);
          await clients.custom.createClusterCustomObject({
            group: API_GROUP,
            version: API_VERSION,
            plural: PLURAL.TenantQuota,
            body: { ...object, metadata: { name: `sample-${object.metadata.name}-${++counter}` } },
            dryRun: "All",
            fieldValidation: "Strict",
          });
        }
      }
    }
  });
});

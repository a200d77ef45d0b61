/**
 * The Helm chart (charts/gpulease): it lints, its output is accepted by the API server (server-side
 * dry run), and by default it installs what the kustomize bundle installs where it matters: the same
 * CRDs, RBAC rules, admission policies, operator configuration and Deployment security.
 */
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { ROOT } from "../support/container.ts";
import { serverDryRun } from "../support/kube.ts";

const TOOL_BUILD_TIMEOUT_MS = 20 * 60_000; // helm is built from the Go module proxy once, then cached

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  rules?: unknown;
  roleRef?: unknown;
  subjects?: unknown;
}

let helm: string;

function helmTemplate(...args: string[]): string {
  return execFileSync(
    helm,
    ["template", "gpulease", "charts/gpulease", "--namespace", "gpulease-system", "--include-crds", ...args],
    { cwd: ROOT },
  ).toString();
}

function objects(rendered: string): KubeObject[] {
  return parseAllDocuments(rendered)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

function find(list: KubeObject[], kind: string, name: string): KubeObject {
  const found = list.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found)
    throw new Error(`no ${kind} ${name} in: ${list.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
  return found;
}

/**
 * The object with runs of whitespace in its strings made one space. kustomize rewrites the folded CEL
 * expressions of config/policies (`>-` with more-indented lines) and parsers disagree on where the
 * line breaks of such scalars go; CEL ignores whitespace, so this compares what the API server runs.
 */
function cel(object: KubeObject): unknown {
  return JSON.parse(JSON.stringify(object), (_key, value: unknown) =>
    typeof value === "string" ? value.replace(/\s+/g, " ") : value,
  );
}

/** The fields of the operator's Deployment a platform team's security review reads. */
function securityOf(deployment: KubeObject) {
  const template = deployment.spec?.template as { spec?: Record<string, unknown> } | undefined;
  const pod = template?.spec ?? {};
  const [container] = (pod.containers ?? []) as Record<string, unknown>[];
  return {
    serviceAccountName: pod.serviceAccountName,
    podSecurityContext: pod.securityContext,
    containerSecurityContext: container?.securityContext,
    image: container?.image,
    args: container?.args,
    volumeMounts: container?.volumeMounts,
    volumes: ((pod.volumes ?? []) as { name: string }[]).map((v) => v.name),
    probes: [container?.livenessProbe, container?.readinessProbe],
  };
}

beforeAll(() => {
  const output = execFileSync("bash", ["hack/build-tools.sh", "helm"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  }).toString();
  helm = /^HELM=(.+)$/m.exec(output)?.[1] ?? "";
  expect(helm).not.toBe("");
}, TOOL_BUILD_TIMEOUT_MS);

describe("the Helm chart", () => {
  it("passes helm lint --strict", () => {
    const output = execFileSync(helm, ["lint", "--strict", "charts/gpulease"], { cwd: ROOT }).toString();
    expect(output).toContain("1 chart(s) linted, 0 chart(s) failed");
  });

  it("renders by default what the kustomize bundle installs", () => {
    const chart = objects(helmTemplate());
    const bundle = objects(
      execFileSync("kubectl", ["kustomize", "config/default"], { cwd: ROOT }).toString(),
    );
    for (const kind of ["CustomResourceDefinition", "MutatingAdmissionPolicy", "ValidatingAdmissionPolicy"]) {
      const fromBundle = bundle.filter((o) => o.kind === kind);
      expect(fromBundle.length, kind).toBeGreaterThan(0);
      for (const object of fromBundle)
        expect(cel(find(chart, kind, object.metadata.name)), kind).toEqual(cel(object));
    }
    for (const [kind, name] of [
      ["ClusterRole", "gpulease-operator"],
      ["ClusterRole", "gpulease-tenant-editor"],
      ["ClusterRole", "gpulease-tenant-viewer"],
      ["ClusterRole", "gpulease-platform-admin"],
      ["Role", "gpulease-leader-election"],
      ["Role", "gpulease-tenant-admission"],
    ] as const) {
      expect(find(chart, kind, name).rules, `${kind} ${name}`).toEqual(find(bundle, kind, name).rules);
    }
    for (const [kind, name] of [
      ["ClusterRoleBinding", "gpulease-operator"],
      ["RoleBinding", "gpulease-leader-election"],
      ["RoleBinding", "gpulease-tenant-admission"],
    ] as const) {
      const chartBinding = find(chart, kind, name);
      const bundleBinding = find(bundle, kind, name);
      expect([chartBinding.roleRef, chartBinding.subjects]).toEqual([
        bundleBinding.roleRef,
        bundleBinding.subjects,
      ]);
    }
    // The kustomize ConfigMap's name carries a content hash; the chart rolls pods with an annotation.
    const bundleSecurity = securityOf(find(bundle, "Deployment", "gpulease-operator"));
    const chartSecurity = securityOf(find(chart, "Deployment", "gpulease-operator"));
    expect(chartSecurity).toEqual({ ...bundleSecurity, volumes: chartSecurity.volumes });
    expect(chartSecurity.volumes).toEqual(bundleSecurity.volumes);
    const configOf = (list: KubeObject[]) => {
      const map = list.find(
        (o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("gpulease-operator-config"),
      );
      return parse(map?.data?.["operator-config.yaml"] ?? "");
    };
    expect(configOf(chart)).toEqual(configOf(bundle));
  });

  it("is accepted by the API server (server-side dry run)", async () => {
    const kubeconfig = inject("kubeconfig");
    const result = await serverDryRun(kubeconfig, helmTemplate());
    for (const line of [
      "deployment.apps/gpulease-operator serverside-applied (server dry run)",
      "clusterrole.rbac.authorization.k8s.io/gpulease-operator serverside-applied (server dry run)",
      "configmap/gpulease-operator-config serverside-applied (server dry run)",
      "validatingadmissionpolicy.admissionregistration.k8s.io/gpulease-tenant-pods serverside-applied (server dry run)",
    ])
      expect(result).toContain(line);
  });

  it("follows its values: policies off, monitoring on, another namespace, an image tag", () => {
    const kinds = (list: KubeObject[]) => new Set(list.map((o) => o.kind));
    const withoutPolicies = kinds(objects(helmTemplate("--set", "admissionPolicies.enabled=false")));
    expect(withoutPolicies.has("MutatingAdmissionPolicy")).toBe(false);
    expect(withoutPolicies.has("ValidatingAdmissionPolicy")).toBe(false);
    expect(withoutPolicies.has("Deployment")).toBe(true);

    const monitored = objects(
      helmTemplate(
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
      ),
    );
    const shippedRule = objects(
      execFileSync("kubectl", ["kustomize", "config/prometheus"], { cwd: ROOT }).toString(),
    );
    expect(find(monitored, "PrometheusRule", "gpulease-operator").spec).toEqual(
      find(shippedRule, "PrometheusRule", "gpulease-operator").spec,
    );
    expect(find(monitored, "ServiceMonitor", "gpulease-operator").spec).toEqual(
      find(shippedRule, "ServiceMonitor", "gpulease-operator").spec,
    );

    const elsewhere = objects(
      execFileSync(
        helm,
        ["template", "gl", "charts/gpulease", "--namespace", "platform", "--set", "image.tag=9.9.9"],
        { cwd: ROOT },
      ).toString(),
    );
    // The validating policy exempts the operator by its ServiceAccount: this release's, not the bundle's.
    const policy = JSON.stringify(find(elsewhere, "ValidatingAdmissionPolicy", "gpulease-tenant-pods"));
    expect(policy).toContain("system:serviceaccount:platform:gpulease-operator");
    expect(policy).not.toContain("gpulease-system");
    const config = parse(
      find(elsewhere, "ConfigMap", "gpulease-operator-config").data?.["operator-config.yaml"] ?? "",
    );
    expect(config.leaderElection.namespace).toBe("platform");
    // The operator keeps the priority allow-list where the policy's param is: its own namespace.
    expect(find(elsewhere, "ConfigMap", "gpulease-tenant-admission").metadata.namespace).toBe("platform");
    expect(find(elsewhere, "Role", "gpulease-tenant-admission").metadata.namespace).toBe("platform");
    expect(securityOf(find(elsewhere, "Deployment", "gpulease-operator")).image).toBe(
      "ghcr.io/gpulease/gpulease:9.9.9",
    );
  });

  it("refuses two replicas without leader election", () => {
    expect(() =>
      execFileSync(helm, ["template", "charts/gpulease", "--set", "leaderElection.enabled=false"], {
        cwd: ROOT,
        stdio: "pipe",
      }),
    ).toThrow(/replicaCount > 1 needs leaderElection.enabled/);
    const single = objects(
      execFileSync(
        helm,
        ["template", "charts/gpulease", "--set", "leaderElection.enabled=false", "--set", "replicaCount=1"],
        { cwd: ROOT },
      ).toString(),
    );
    // No leader election, no Lease access.
    expect(single.some((o) => o.kind === "Role" && o.metadata.name === "gpulease-leader-election")).toBe(
      false,
    );
  });
});

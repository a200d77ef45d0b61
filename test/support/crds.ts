import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadYaml, type V1CustomResourceDefinition } from "@kubernetes/client-node";
import { eventually, type KubeClients } from "./kube.ts";

export const CRD_DIR = resolve(import.meta.dirname, "../../crds");

/**
 * Reads the CRDs as client-node models. Typed API calls serialize through the models, which drop keys
 * they do not know by their wire names (`x-kubernetes-validations`, `default`): plain parsed YAML sent
 * through `createCustomResourceDefinition` silently loses every CEL rule and default.
 */
export function readCrds(): V1CustomResourceDefinition[] {
  return readdirSync(CRD_DIR)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .map((f) => loadYaml<V1CustomResourceDefinition>(readFileSync(join(CRD_DIR, f), "utf8")));
}

/** Creates or replaces the project's CRDs and waits until they are Established. */
export async function installCrds(clients: KubeClients): Promise<void> {
  for (const crd of readCrds()) {
    const name = crd.metadata?.name ?? "";
    try {
      const current = await clients.apiextensions.readCustomResourceDefinition({ name });
      crd.metadata = { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion };
      await clients.apiextensions.replaceCustomResourceDefinition({ name, body: crd });
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
      await clients.apiextensions.createCustomResourceDefinition({ body: crd });
    }
    await eventually(`CRD ${name} Established`, async () => {
      const got = await clients.apiextensions.readCustomResourceDefinition({ name });
      return got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")
        ? true
        : undefined;
    });
  }
}

/** Installs the admission policies of config/policies (with kubectl: plain manifests, no models). */
export async function installPolicies(kubeconfig: string): Promise<void> {
  const { execFileSync } = await import("node:child_process");
  const dir = resolve(import.meta.dirname, "../../config/policies");
  // The tenant admission ConfigMap lives in the operator's namespace (config/manager creates it).
  try {
    execFileSync("kubectl", ["--kubeconfig", kubeconfig, "create", "namespace", "gpulease-system"], {
      stdio: "pipe",
    });
  } catch (error) {
    if (!String((error as { stderr?: Buffer }).stderr).includes("AlreadyExists")) throw error;
  }
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")) {
    execFileSync(
      "kubectl",
      ["--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", join(dir, file)],
      { stdio: "pipe" },
    );
  }
  // The API server loads policies asynchronously: probe with dry-run pods until both act.
  const clients = (await import("./kube.ts")).kubeClients(kubeconfig);
  const namespace = "gpulease-policy-probe";
  await clients.core
    .createNamespace({
      body: { metadata: { name: namespace, labels: { "gpulease.io/tenant": "policy-probe" } } },
    })
    .catch(() => undefined);
  await eventually("ServiceAccount in the probe namespace", async () =>
    (await clients.core.readNamespacedServiceAccount({ name: "default", namespace })) ? true : undefined,
  );
  const pod = (labels: Record<string, string>, gpus: boolean) => ({
    metadata: { name: "probe", labels },
    spec: {
      containers: [
        { name: "c", image: "x", ...(gpus ? { resources: { limits: { "nvidia.com/gpu": "1" } } } : {}) },
      ],
    },
  });
  await eventually(
    "the admission policies to act",
    async () => {
      // A running operator keeps a quota in every tenant namespace, this one too, that admits no pod
      // while no lease is Active: the probe takes it away just before its dry runs.
      await clients.core
        .deleteNamespacedResourceQuota({ name: "gpulease", namespace })
        .catch(() => undefined);
      const gated = await clients.core.createNamespacedPod({
        namespace,
        body: pod({ "gpulease.io/lease": "x" }, false),
        dryRun: "All",
      });
      if (!gated.spec?.schedulingGates?.some((g) => g.name === "gpulease.io/lease")) return undefined;
      if (gated.spec?.preemptionPolicy !== "Never") return undefined;
      const highPriority = await clients.core
        .createNamespacedPod({
          namespace,
          body: {
            ...pod({ "gpulease.io/lease": "x" }, false),
            spec: { ...pod({}, false).spec, priorityClassName: "system-cluster-critical" },
          },
          dryRun: "All",
        })
        .then(
          () => "",
          (error: unknown) => String((error as { body?: unknown }).body),
        );
      if (!highPriority.includes("only with a priority class the platform")) return undefined;
      const lease = (await clients.custom.createNamespacedCustomObject({
        group: "gpulease.io",
        version: "v1alpha1",
        namespace,
        plural: "gpuleases",
        body: {
          apiVersion: "gpulease.io/v1alpha1",
          kind: "GpuLease",
          metadata: { name: "probe" },
          spec: { gpus: 1 },
        },
        dryRun: "All",
      })) as { metadata?: { finalizers?: string[] } };
      if (!lease.metadata?.finalizers?.includes("gpulease.io/finalizer")) return undefined;
      try {
        await clients.core.createNamespacedPod({ namespace, body: pod({}, true), dryRun: "All" });
        return undefined;
      } catch (error) {
        return String((error as { body?: unknown }).body).includes("no gpulease.io/lease label")
          ? true
          : undefined;
      }
    },
    60_000,
    250,
  );
}

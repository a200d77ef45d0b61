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
    .filter((f) => f.endsWith(".yaml"))
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

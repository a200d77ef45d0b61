import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { ControlPlane } from "../harness/controlplane.ts";
import { installCrds, installPolicies } from "./crds.ts";
import { kubeClients } from "./kube.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

let plane: ControlPlane | undefined;

/** Starts one control plane for the e2e project (or uses $GPULEASE_TEST_KUBECONFIG) and installs the CRDs. */
export async function setup(project: TestProject): Promise<void> {
  const existing = process.env.GPULEASE_TEST_KUBECONFIG;
  let kubeconfig: string;
  if (existing) {
    kubeconfig = existing;
  } else {
    const started = Date.now();
    plane = await ControlPlane.start({
      keepDir: process.env.GPULEASE_KEEP_CLUSTER === "1",
      log: (line) => console.log(`[control plane] ${line}`),
    });
    console.log(`[control plane] up in ${Date.now() - started} ms (${plane.dir})`);
    kubeconfig = plane.kubeconfigPath;
  }
  await installCrds(kubeClients(kubeconfig));
  await installPolicies(kubeconfig);
  project.provide("kubeconfig", kubeconfig);
}

export async function teardown(): Promise<void> {
  await plane?.stop();
}

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { type ControlPlaneHandle, serveControl } from "../harness/control-server.ts";
import { ControlPlane } from "../harness/controlplane.ts";
import { installCrds, installPolicies } from "./crds.ts";
import { kubeClients } from "./kube.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    /** Reaches the control plane's owner to inject faults; null when the cluster has no control endpoint. */
    controlPlane: ControlPlaneHandle | null;
  }
}

let plane: ControlPlane | undefined;
let closeControl: (() => Promise<void>) | undefined;

/**
 * Starts one control plane for the e2e project (or uses $GPULEASE_TEST_KUBECONFIG, with the control
 * endpoint `make cluster-up` describes in control.json beside it) and installs the CRDs.
 */
export async function setup(project: TestProject): Promise<void> {
  const existing = process.env.GPULEASE_TEST_KUBECONFIG;
  let kubeconfig: string;
  let handle: ControlPlaneHandle | null = null;
  if (existing) {
    kubeconfig = existing;
    const described = join(dirname(existing), "control.json");
    if (existsSync(described)) handle = JSON.parse(readFileSync(described, "utf8")) as ControlPlaneHandle;
  } else {
    const started = Date.now();
    plane = await ControlPlane.start({
      keepDir: process.env.GPULEASE_KEEP_CLUSTER === "1",
      log: (line) => console.log(`[control plane] ${line}`),
    });
    console.log(`[control plane] up in ${Date.now() - started} ms (${plane.dir})`);
    kubeconfig = plane.kubeconfigPath;
    const control = await serveControl(plane);
    closeControl = control.close;
    handle = { url: control.url, dir: plane.dir };
  }
  await installCrds(kubeClients(kubeconfig));
  await installPolicies(kubeconfig);
  project.provide("kubeconfig", kubeconfig);
  project.provide("controlPlane", handle);
}

export async function teardown(): Promise<void> {
  await closeControl?.();
  await plane?.stop();
}

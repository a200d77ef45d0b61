/**
 * The operator's container image in tests: which engine builds and runs it here, and how
 * config/manager's Deployment translates into the engine's `run` flags.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { V1Container, V1Deployment } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";

export const ROOT = resolve(import.meta.dirname, "../..");

export type Engine = "docker" | "podman";

/** A Docker engine that answers, else podman, else none (a docker CLI without a daemon does not count). */
export function detectEngine(): Engine | undefined {
  if (spawnSync("docker", ["info"], { stdio: "ignore" }).status === 0) return "docker";
  if (spawnSync("podman", ["--version"], { stdio: "ignore" }).status === 0) return "podman";
  return undefined;
}

/** The command line that runs `engine args…`; podman gets the containers.conf of hack/podman-env.sh. */
export function engineCommand(engine: Engine, args: string[]): { command: string; args: string[] } {
  if (engine === "docker") return { command: "docker", args };
  return {
    command: "bash",
    args: ["-c", 'source hack/podman-env.sh && exec podman "$@"', "podman", ...args],
  };
}

/** Builds the image with `make image`'s recipe (hack/build-image.sh); returns its tag. */
export function buildImage(engine: Engine): string {
  const output = execFileSync("bash", ["hack/build-image.sh"], {
    cwd: ROOT,
    env: { ...process.env, CONTAINER_ENGINE: engine },
    stdio: ["ignore", "pipe", "inherit"],
  }).toString();
  const image = /^IMAGE=(.+)$/m.exec(output)?.[1];
  if (!image) throw new Error(`hack/build-image.sh printed no IMAGE=:\n${output}`);
  return image;
}

/** The Deployment of config/manager/manager.yaml, as shipped. */
export function shippedDeployment(): V1Deployment {
  const text = readFileSync(resolve(ROOT, "config/manager/manager.yaml"), "utf8");
  const deployment = parseAllDocuments(text)
    .map((d) => d.toJS() as { kind?: string })
    .find((d) => d.kind === "Deployment");
  if (!deployment) throw new Error("config/manager/manager.yaml has no Deployment");
  return deployment as V1Deployment;
}

export function operatorContainer(deployment: V1Deployment): V1Container {
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === "operator");
  if (!container) throw new Error("the Deployment has no container named operator");
  return container;
}

/** Where the kubelet mounts a pod's ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * `run` flags that run the container as the kubelet would run the Deployment's pod: its user and
 * group, its container security context, its env, args and volumes (a ConfigMap volume becomes a
 * read-only bind mount of `configMapDirs[name]`, an emptyDir a tmpfs), and the ServiceAccount's token
 * mounted where the kubelet mounts it. Fails on a field it does not know how to carry over, so a
 * change to the Deployment cannot silently drift away from what the test runs.
 */
export function runFlagsFor(
  deployment: V1Deployment,
  hostDirs: { configMaps: Record<string, string>; serviceAccount: string },
): { flags: string[]; args: string[] } {
  const pod = deployment.spec?.template.spec;
  const container = operatorContainer(deployment);
  const flags: string[] = [];
  const podSecurity = pod?.securityContext ?? {};
  const security = container.securityContext ?? {};
  const uid = security.runAsUser ?? podSecurity.runAsUser;
  const gid = security.runAsGroup ?? podSecurity.runAsGroup;
  if (uid === undefined || gid === undefined) throw new Error("the Deployment names no runAsUser/runAsGroup");
  flags.push("--user", `${uid}:${gid}`);
  if (security.readOnlyRootFilesystem) flags.push("--read-only");
  if (security.allowPrivilegeEscalation === false) flags.push("--security-opt", "no-new-privileges");
  for (const dropped of security.capabilities?.drop ?? []) flags.push("--cap-drop", dropped);
  if (security.capabilities?.add?.length) throw new Error("capabilities.add is not carried over");
  for (const variable of container.env ?? []) {
    if (variable.value === undefined)
      throw new Error(`env ${variable.name}: only plain values are carried over`);
    flags.push("--env", `${variable.name}=${variable.value}`);
  }
  const volumes = new Map((pod?.volumes ?? []).map((v) => [v.name, v]));
  for (const mount of container.volumeMounts ?? []) {
    const volume = volumes.get(mount.name);
    if (volume?.configMap) {
      const dir = hostDirs.configMaps[volume.configMap.name ?? ""];
      if (!dir) throw new Error(`no host directory for ConfigMap ${volume.configMap.name}`);
      flags.push("--volume", `${dir}:${mount.mountPath}:ro`);
    } else if (volume?.emptyDir) {
      flags.push("--tmpfs", mount.mountPath);
    } else {
      throw new Error(`volume ${mount.name}: only ConfigMap and emptyDir volumes are carried over`);
    }
  }
  if (pod?.automountServiceAccountToken !== false)
    flags.push("--volume", `${hostDirs.serviceAccount}:${SERVICE_ACCOUNT_DIR}:ro`);
  return { flags, args: container.args ?? [] };
}

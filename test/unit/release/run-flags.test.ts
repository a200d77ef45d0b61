/**
 * The image test runs the container with flags derived from config/manager's Deployment: what the
 * kubelet would enforce must be carried over, and what cannot be must stop the test, not vanish.
 */
import type { V1Deployment } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { runFlagsFor, SERVICE_ACCOUNT_DIR, shippedDeployment } from "../../support/container.ts";

const hostDirs = { configMaps: { "gpulease-operator-config": "/host/config" }, serviceAccount: "/host/sa" };

describe("run flags of the shipped Deployment", () => {
  it("carry its user, read-only root, dropped capabilities, env, config mount and token mount", () => {
    const { flags, args } = runFlagsFor(shippedDeployment(), hostDirs);
    const joined = flags.join(" ");
    expect(joined).toContain("--user 1000:1000");
    expect(flags).toContain("--read-only");
    expect(joined).toContain("--security-opt no-new-privileges");
    expect(joined).toContain("--cap-drop ALL");
    expect(joined).toContain("--env NODE_OPTIONS=--max-old-space-size=768");
    expect(joined).toContain("--volume /host/config:/etc/gpulease:ro");
    expect(joined).toContain("--tmpfs /tmp");
    expect(joined).toContain(`--volume /host/sa:${SERVICE_ACCOUNT_DIR}:ro`);
    expect(args).toEqual(["--config", "/etc/gpulease/operator-config.yaml"]);
  });

  it("refuse what they cannot carry over: a Secret volume, an env from a field, an added capability", () => {
    const variant = (change: (d: V1Deployment) => void) => {
      const deployment = structuredClone(shippedDeployment());
      change(deployment);
      return () => runFlagsFor(deployment, hostDirs);
    };
    const pod = (d: V1Deployment) => {
      const spec = d.spec?.template.spec;
      if (!spec) throw new Error("no pod spec");
      return spec;
    };
    expect(
      variant((d) => {
        pod(d).volumes?.push({ name: "creds", secret: { secretName: "creds" } });
        pod(d).containers[0]?.volumeMounts?.push({ name: "creds", mountPath: "/creds" });
      }),
    ).toThrow(/volume creds/);
    expect(
      variant((d) => {
        pod(d).containers[0]?.env?.push({
          name: "POD",
          valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
        });
      }),
    ).toThrow(/env POD/);
    expect(
      variant((d) => {
        const security = pod(d).containers[0]?.securityContext;
        if (security) security.capabilities = { drop: ["ALL"], add: ["NET_ADMIN"] };
      }),
    ).toThrow(/capabilities.add/);
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";
import { inClusterAccess, loadClusterAccess, mergeKubeConfigs } from "../../../src/kube/kubeconfig.ts";

const dir = mkdtempSync(join(tmpdir(), "gpulease-kubeconfig-"));

function kubeconfig(
  name: string,
  spec: { server: string; cluster?: string; user?: string; context?: string; current?: string; ca?: string },
): string {
  const cluster = spec.cluster ?? "shared";
  const user = spec.user ?? "admin";
  const context = spec.context ?? "ctx";
  const path = join(dir, name);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: ${cluster}`,
      `  cluster: { server: "${spec.server}"${spec.ca ? `, certificate-authority: ${spec.ca}` : ""} }`,
      "users:",
      `- name: ${user}`,
      `  user: { token: ${name.replaceAll("/", "-")} }`,
      "contexts:",
      `- name: ${context}`,
      `  context: { cluster: ${cluster}, user: ${user} }`,
      ...(spec.current ? [`current-context: ${spec.current}`] : []),
      "",
    ].join("\n"),
  );
  return path;
}

describe("the kubeconfig, loaded as kubectl does", () => {
  it("merges a KUBECONFIG list: the first file that sets a name or the current context wins", async () => {
    const a = kubeconfig("a", { server: "https://a.example:6443", context: "ctx-a" });
    const b = kubeconfig("b", { server: "https://b.example:6443", context: "ctx-b", current: "ctx-b" });
    const c = kubeconfig("c", {
      server: "https://c.example:6443",
      cluster: "other",
      context: "ctx-c",
      current: "ctx-c",
    });
    const merged = mergeKubeConfigs([a, b, c]);
    // a sets no current-context: b is the first that does, and c's comes too late.
    expect(merged["current-context"]).toBe("ctx-b");
    expect(merged.contexts.map((x) => x.name)).toEqual(["ctx-a", "ctx-b", "ctx-c"]);
    expect(merged.clusters.map((x) => x.name)).toEqual(["shared", "other"]);
    // b's context names the cluster "shared", which a defined first: a's server and a's user win.
    const access = await loadClusterAccess(undefined, { KUBECONFIG: [a, b, c].join(delimiter) });
    expect(access.server).toBe("https://a.example:6443");
    expect((await access.credentials()).headers.Authorization).toBe("Bearer a");
  });

  it("skips files of the list that do not exist, and empty entries", async () => {
    const a = kubeconfig("only", { server: "https://only.example:6443", current: "ctx" });
    const access = await loadClusterAccess(undefined, {
      KUBECONFIG: [join(dir, "missing"), "", a].join(delimiter),
    });
    expect(access.server).toBe("https://only.example:6443");
  });

  it("says so when no file of the list exists", async () => {
    await expect(
      loadClusterAccess(undefined, { KUBECONFIG: [join(dir, "x"), join(dir, "y")].join(delimiter) }),
    ).rejects.toThrow("none of the files in KUBECONFIG exists");
  });

  it("resolves each file's relative certificate paths against its own directory", async () => {
    mkdirSync(join(dir, "one"), { recursive: true });
    mkdirSync(join(dir, "two"), { recursive: true });
    writeFileSync(join(dir, "one", "ca.crt"), "CA ONE");
    writeFileSync(join(dir, "two", "ca.crt"), "CA TWO");
    const a = kubeconfig("one/config", {
      server: "https://1.example",
      cluster: "one",
      context: "c1",
      current: "c1",
      ca: "ca.crt",
    });
    const b = kubeconfig("two/config", {
      server: "https://2.example",
      cluster: "two",
      context: "c2",
      ca: "ca.crt",
    });
    const merged = mergeKubeConfigs([a, b]);
    const caOf = (name: string) => {
      const cluster = merged.clusters.find((c) => c.name === name)?.cluster as
        | Record<string, string>
        | undefined;
      return cluster?.["certificate-authority"];
    };
    expect(caOf("one")).toBe(join(dir, "one", "ca.crt"));
    expect(caOf("two")).toBe(join(dir, "two", "ca.crt"));
    const access = await loadClusterAccess(undefined, { KUBECONFIG: [a, b].join(delimiter) });
    expect(String((await access.credentials()).tls.ca)).toBe("CA ONE");
  });

  it("reads --kubeconfig as one file, over KUBECONFIG", async () => {
    const a = kubeconfig("flag", { server: "https://flag.example:6443", current: "ctx" });
    const b = kubeconfig("env", { server: "https://env.example:6443", current: "ctx" });
    expect((await loadClusterAccess(a, { KUBECONFIG: b })).server).toBe("https://flag.example:6443");
  });

  it("reads inline certificates and keys, basic auth and TLS options", async () => {
    const path = join(dir, "inline");
    const b64 = (t: string) => Buffer.from(t).toString("base64");
    writeFileSync(
      path,
      [
        "apiVersion: v1",
        "clusters:",
        `- name: c`,
        `  cluster: { server: "https://inline.example/", certificate-authority-data: ${b64("CA")}, tls-server-name: api.internal, insecure-skip-tls-verify: true }`,
        "users:",
        `- name: u`,
        `  user: { client-certificate-data: ${b64("CERT")}, client-key-data: ${b64("KEY")}, username: alice, password: secret }`,
        "contexts:",
        `- name: x`,
        `  context: { cluster: c, user: u }`,
        "current-context: x",
        "",
      ].join("\n"),
    );
    const access = await loadClusterAccess(path, {});
    expect(access.server).toBe("https://inline.example");
    const { tls, headers } = await access.credentials();
    expect([String(tls.ca), String(tls.cert), String(tls.key)]).toEqual(["CA", "CERT", "KEY"]);
    expect(tls.servername).toBe("api.internal");
    expect(tls.rejectUnauthorized).toBe(false);
    expect(headers.Authorization).toBe(`Basic ${b64("alice:secret")}`);
  });

  it("hands a user with an exec plugin to client-node", async () => {
    const path = join(dir, "exec");
    writeFileSync(
      path,
      [
        "apiVersion: v1",
        "clusters:",
        "- name: c",
        '  cluster: { server: "https://exec.example" }',
        "users:",
        "- name: u",
        "  user:",
        "    exec: { apiVersion: client.authentication.k8s.io/v1, command: /bin/echo, interactiveMode: Never }",
        "contexts:",
        "- name: x",
        "  context: { cluster: c, user: u }",
        "current-context: x",
        "",
      ].join("\n"),
    );
    const access = await loadClusterAccess(path, {});
    expect(access.server).toBe("https://exec.example");
    // client-node runs the plugin for credentials: echo prints no ExecCredential, so it fails there.
    await expect(access.credentials()).rejects.toThrow();
  });

  it("in a pod: the service account's CA and its token file, read again as kubelet rotates it", async () => {
    const root = join(dir, "sa");
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "ca.crt"), "SA CA");
    writeFileSync(join(root, "token"), "first\n");
    const access = inClusterAccess(
      { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" },
      root,
    );
    expect(access.server).toBe("https://[fd00::1]:443");
    expect((await access.credentials()).headers.Authorization).toBe("Bearer first");
    expect(String((await access.credentials()).tls.ca)).toBe("SA CA");
    expect(() => inClusterAccess({}, root)).toThrow("no kubeconfig");
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadKubeConfig } from "../../../src/kube/kubeconfig.ts";

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
  it("merges a KUBECONFIG list: the first file that sets a name or the current context wins", () => {
    const a = kubeconfig("a", { server: "https://a.example:6443", context: "ctx-a" });
    const b = kubeconfig("b", { server: "https://b.example:6443", context: "ctx-b", current: "ctx-b" });
    const c = kubeconfig("c", {
      server: "https://c.example:6443",
      cluster: "other",
      context: "ctx-c",
      current: "ctx-c",
    });
    const kc = loadKubeConfig(undefined, { KUBECONFIG: [a, b, c].join(delimiter) });
    // a sets no current-context: b is the first that does, and c's comes too late.
    expect(kc.getCurrentContext()).toBe("ctx-b");
    // b's context names the cluster "shared", which a defined first: a's server wins.
    expect(kc.getCurrentCluster()?.server).toBe("https://a.example:6443");
    expect(kc.getCurrentUser()?.token).toBe("a");
    expect(kc.getContexts().map((x) => x.name)).toEqual(["ctx-a", "ctx-b", "ctx-c"]);
    expect(kc.getClusters().map((x) => x.name)).toEqual(["shared", "other"]);
  });

  it("skips files of the list that do not exist, and empty entries", () => {
    const a = kubeconfig("only", { server: "https://only.example:6443", current: "ctx" });
    const kc = loadKubeConfig(undefined, {
      KUBECONFIG: [join(dir, "missing"), "", a].join(delimiter),
    });
    expect(kc.getCurrentCluster()?.server).toBe("https://only.example:6443");
  });

  it("says so when no file of the list exists", () => {
    expect(() =>
      loadKubeConfig(undefined, { KUBECONFIG: [join(dir, "x"), join(dir, "y")].join(delimiter) }),
    ).toThrow("none of the files in KUBECONFIG exists");
  });

  it("resolves each file's relative certificate paths against its own directory", () => {
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
    const kc = loadKubeConfig(undefined, { KUBECONFIG: [a, b].join(delimiter) });
    expect(kc.getCluster("one")?.caFile).toBe(join(dir, "one", "ca.crt"));
    expect(kc.getCluster("two")?.caFile).toBe(join(dir, "two", "ca.crt"));
  });

  it("reads --kubeconfig as one file, over KUBECONFIG", () => {
    const a = kubeconfig("flag", { server: "https://flag.example:6443", current: "ctx" });
    const b = kubeconfig("env", { server: "https://env.example:6443", current: "ctx" });
    expect(loadKubeConfig(a, { KUBECONFIG: b }).getCurrentCluster()?.server).toBe(
      "https://flag.example:6443",
    );
  });
});

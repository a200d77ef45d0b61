/**
 * Loads the kubeconfig the way kubectl does. `--kubeconfig` names one file. `$KUBECONFIG` may name
 * several, separated like PATH (':' on Unix): they are merged, and the first file that sets a cluster,
 * user or context (by name) or the current-context wins; files that do not exist are skipped.
 * With neither: ~/.kube/config, then the in-cluster service account.
 */
import { existsSync } from "node:fs";
import { delimiter } from "node:path";
import { type Cluster, type Context, KubeConfig, type User } from "@kubernetes/client-node";

export function loadKubeConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (file) {
    kc.loadFromFile(file);
    return kc;
  }
  const list = (env.KUBECONFIG ?? "").split(delimiter).filter((f) => f !== "");
  if (list.length === 0) {
    kc.loadFromDefault();
    return kc;
  }
  const present = list.filter((f) => existsSync(f));
  if (present.length === 0) {
    throw new Error(`none of the files in KUBECONFIG exists: ${list.join(", ")}`);
  }
  // client-node's own merge (loadFromDefault) lets later files win and throws on a repeated name.
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let currentContext = "";
  for (const f of present) {
    const one = new KubeConfig();
    one.loadFromFile(f); // also resolves the file's relative certificate paths against its directory
    for (const c of one.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of one.users) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of one.contexts) if (!contexts.has(c.name)) contexts.set(c.name, c);
    if (!currentContext && one.currentContext) currentContext = one.currentContext;
  }
  kc.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext,
  });
  return kc;
}

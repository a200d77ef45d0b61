#!/usr/bin/env node
/**
 * kubectl plugin: `kubectl gpulease status` shows the pool at a glance.
 * Install: put this file (built: dist/cli/kubectl-gpulease.js) on the PATH as `kubectl-gpulease`.
 */
import { parseArgs } from "node:util";
import { convertSettings, operatorConfigSchema, poolSettings } from "../config/operator-config.ts";
import type { LeaseView, QuotaView } from "../core/model.ts";
import {
  isMalformed,
  toLeaseView,
  toNamespaceView,
  toNodeView,
  toPodView,
  toQuotaView,
} from "../kube/convert.ts";
import { loadClusterAccess } from "../kube/kubeconfig.ts";
import { KubeRest, paths } from "../kube/rest.ts";
import { renderStatus } from "./status.ts";

const USAGE = `kubectl gpulease status [--kubeconfig FILE] [--lendable-selector key=value,...]

Shows lendable nodes by state and model, GPUs internal / lent / returning / idle, leases by phase,
the next reclaim deadlines and expiries, and each tenant's usage and charges.`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      kubeconfig: { type: "string" },
      "lendable-selector": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals[0] !== "status") {
    process.stdout.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const selector = values["lendable-selector"];
  const config = operatorConfigSchema.parse(
    selector
      ? { lendableNodeSelector: Object.fromEntries(selector.split(",").map((kv) => kv.split("=", 2))) }
      : {},
  );
  const rest = new KubeRest(await loadClusterAccess(values.kubeconfig));
  const [nodes, pods, namespaces, leases, quotas] = await Promise.all([
    rest.list(paths.nodes()),
    rest.list(paths.pods(), { fieldSelector: "status.phase!=Succeeded,status.phase!=Failed" }),
    rest.list(paths.namespaces()),
    rest.list(paths.gpuLeases()),
    rest.list(paths.tenantQuotas()),
  ]);
  const convert = convertSettings(config);
  const text = renderStatus({
    now: Date.now(),
    settings: poolSettings(config),
    nodes: nodes.items.map((n) => toNodeView(n, convert)),
    pods: pods.items.map((p) => toPodView(p, config.resourceNames)),
    namespaces: namespaces.items.map(toNamespaceView),
    leases: leases.items.map(toLeaseView).filter((v): v is LeaseView => !isMalformed(v)),
    quotas: quotas.items.map(toQuotaView).filter((v): v is QuotaView => !isMalformed(v)),
  });
  process.stdout.write(text);
}

main().catch((error: unknown) => {
  process.stderr.write(`kubectl gpulease: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

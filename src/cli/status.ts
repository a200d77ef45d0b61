/**
 * The pool at a glance, for a person at 3 a.m.: nodes by state and model, GPUs internal / lent /
 * returning / idle, leases by phase, the next deadlines and expiries, and each tenant's bill so far.
 * Pure: a snapshot and a time in, text out.
 */
import { formatDuration } from "../api/duration.ts";
import { accountNodes, allocatedGpus, type NodeAccount, tenantNamespaces } from "../core/accounting.ts";
import type { ClusterSnapshot } from "../core/model.ts";
import { findOrphans } from "../core/orphans.ts";
import { internalPodsOnLentNodes } from "../core/platform-mistakes.ts";

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function inFuture(ms: number, now: number): string {
  const delta = ms - now;
  return delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

/** What should not be: platform mistakes and tenant pods without a lease on lent nodes. */
function problems(snapshot: ClusterSnapshot): string[] {
  const accounts = accountNodes(snapshot);
  const owners = tenantNamespaces(snapshot);
  const lines: string[] = [];
  for (const { node, pods, gpus } of internalPodsOnLentNodes(snapshot, accounts, owners))
    lines.push(
      `internal pod(s) on lent node ${node} hold ${gpus} GPUs: ${pods.map((p) => `${p.namespace}/${p.name}`).join(", ")}`,
    );
  for (const account of accounts.values())
    if (account.node.lent && account.node.lentTaint === false)
      lines.push(`lent node ${account.node.name} lost its gpulease.io/lent taint (being restored)`);
  for (const orphan of findOrphans(snapshot, accounts, owners, new Map()))
    lines.push(
      `orphan pod ${orphan.pod.namespace}/${orphan.pod.name} on lent node ${orphan.node}: ${orphan.why}`,
    );
  return lines.length === 0 ? [] : ["", "PROBLEMS", ...lines];
}

export function renderStatus(snapshot: ClusterSnapshot): string {
  const now = snapshot.now;
  const accounts = [...accountNodes(snapshot).values()].filter((a) => a.node.lendable || a.node.lent);
  const byState = new Map<string, { nodes: number; gpus: number; free: number; models: Set<string> }>();
  for (const a of accounts) {
    const entry = byState.get(a.state) ?? { nodes: 0, gpus: 0, free: 0, models: new Set<string>() };
    entry.nodes++;
    entry.gpus += a.capacity;
    entry.free += Math.max(0, a.free);
    if (a.node.gpuModel) entry.models.add(a.node.gpuModel);
    byState.set(a.state, entry);
  }
  const sum = (state: string, key: "gpus" | "free") => byState.get(state)?.[key] ?? 0;
  const idle = accounts
    .filter((a: NodeAccount) => a.state === "Internal" && !a.internalBusy)
    .reduce((s, a) => s + a.capacity, 0);
  const out: string[] = [];
  out.push(`POOL  ${accounts.length} lendable node(s)   ${new Date(now).toISOString()}`);
  out.push(
    table([
      ["STATE", "NODES", "GPUS", "FREE", "MODELS"],
      ...["Internal", "Lent", "Returning", "Unavailable"]
        .filter((s) => byState.has(s))
        .map((s) => {
          const e = byState.get(s);
          return [
            s,
            String(e?.nodes ?? 0),
            String(e?.gpus ?? 0),
            String(e?.free ?? 0),
            [...(e?.models ?? [])].sort().join(","),
          ];
        }),
    ]),
  );
  out.push(
    `GPUs: internal ${sum("Internal", "gpus")} (idle ${idle}) · lent ${sum("Lent", "gpus")} (free for leases ${sum("Lent", "free")}) · returning ${sum("Returning", "gpus")}`,
  );

  const phases = new Map<string, { count: number; gpus: number }>();
  for (const lease of snapshot.leases) {
    const phase = lease.status.phase ?? "Pending";
    const entry = phases.get(phase) ?? { count: 0, gpus: 0 };
    entry.count++;
    entry.gpus += phase === "Active" || phase === "Reclaiming" ? allocatedGpus(lease) : lease.spec.gpus;
    phases.set(phase, entry);
  }
  out.push("");
  out.push(`LEASES  ${snapshot.leases.length}`);
  out.push(
    table([
      ["PHASE", "COUNT", "GPUS"],
      ...["Pending", "Active", "Reclaiming", "Ended"]
        .filter((p) => phases.has(p))
        .map((p) => [p, String(phases.get(p)?.count ?? 0), String(phases.get(p)?.gpus ?? 0)]),
    ]),
  );
  const waiting = new Map<string, number>();
  for (const lease of snapshot.leases) {
    if ((lease.status.phase ?? "Pending") === "Pending")
      waiting.set(lease.status.reason ?? "New", (waiting.get(lease.status.reason ?? "New") ?? 0) + 1);
  }
  if (waiting.size > 0) out.push(`Pending because: ${[...waiting].map(([r, n]) => `${r} ${n}`).join(", ")}`);

  const upcoming: { at: number; lease: string; what: string }[] = [];
  for (const lease of snapshot.leases) {
    const name = `${lease.namespace}/${lease.name}`;
    const deadline = Date.parse(lease.status.reclaim?.deadline ?? "");
    if (lease.status.phase === "Reclaiming" && !Number.isNaN(deadline)) {
      upcoming.push({
        at: deadline,
        lease: name,
        what: `reclaim deadline (${lease.status.reclaim?.reason ?? ""}, ${lease.status.reclaim?.gpus ?? 0} GPUs)`,
      });
    }
    const expires = Date.parse(lease.status.expiresAt ?? "");
    if ((lease.status.phase === "Active" || lease.status.phase === "Reclaiming") && !Number.isNaN(expires)) {
      upcoming.push({ at: expires, lease: name, what: `expires (${allocatedGpus(lease)} GPUs)` });
    }
  }
  upcoming.sort((a, b) => a.at - b.at);
  out.push("");
  out.push("NEXT DEADLINES AND EXPIRIES");
  out.push(
    upcoming.length === 0
      ? "(none)"
      : table([
          ["WHEN", "", "LEASE", "WHAT"],
          ...upcoming
            .slice(0, 10)
            .map((u) => [new Date(u.at).toISOString(), inFuture(u.at, now), u.lease, u.what]),
        ]),
  );

  out.push(...problems(snapshot));

  out.push("");
  out.push("TENANTS");
  out.push(
    snapshot.quotas.length === 0
      ? "(none)"
      : table([
          ["NAME", "PRIORITY", "ALLOCATED", "ACTIVE", "PENDING", "GPU-HOURS", "CHARGES"],
          ...snapshot.quotas.map((q) => [
            q.name,
            String(q.spec.priority),
            `${q.status.allocated?.gpus ?? 0}/${q.spec.limits.reduce((s, l) => s + l.maxGpus, 0)}`,
            String(q.status.allocated?.activeLeases ?? 0),
            String(q.status.allocated?.pendingLeases ?? 0),
            q.status.usage?.gpuHours ?? "0.000",
            `${q.status.usage?.charges ?? "0.00"} ${q.spec.pricing.currency}`,
          ]),
        ]),
  );
  return `${out.join("\n")}\n`;
}

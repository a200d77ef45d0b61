/**
 * The pool of lendable nodes: which nodes to lend (taint), which to give back (untaint), and the
 * idle-since mark that starts a node's idle period. Pure.
 */
import { ANNOTATION_IDLE_SINCE, LABEL_NODE_STATE, LABEL_RECLAIM, TAINT_LENT } from "../api/labels.ts";
import type { NodeAccount, NodeState } from "./accounting.ts";
import type { PlannedEvent } from "./lease-lifecycle.ts";
import type { NodeView } from "./model.ts";

export interface NodeChange {
  node: string;
  /** true: add the lent taint; false: remove it; undefined: leave it. */
  lent: boolean | undefined;
  /** A time to record, null to remove the mark, undefined to leave it. */
  idleSince: string | null | undefined;
  /** gpulease.io/state label value, so `kubectl get nodes -L gpulease.io/state` shows the pool. */
  /** null: remove the label (the node left the pool). */
  stateLabel: NodeState | null | undefined;
  /** A time to record as the start of a return (annotation gpulease.io/returning), null to clear it. */
  returning?: string | null;
}

/**
 * A lent node keeps both its taint and the operator's lent annotation. A taint removed by hand (a
 * platform mistake: internal pods would land next to tenants) is put back with a Warning Event; an
 * annotation missing (a node lent before the annotation existed) is written. true: rewrite both.
 */
function restoreLentMarks(node: NodeView, events: PlannedEvent[]): true | undefined {
  if (node.lentTaint === false) {
    events.push({
      kind: "Node",
      name: node.name,
      type: "Warning",
      reason: "LentTaintRestored",
      message: `the ${TAINT_LENT} taint was removed from this lent node: restored, so only tenant pods of its leases run here (to take a node back, remove its lendable label or label it ${LABEL_RECLAIM}=true)`,
    });
    return true;
  }
  return node.lentMark === false ? true : undefined;
}

export function planNodePool(
  accounts: Map<string, NodeAccount>,
  lend: Set<string>,
  now: number,
  returningNow: Set<string> = new Set(),
): { changes: NodeChange[]; events: PlannedEvent[] } {
  const changes: NodeChange[] = [];
  const events: PlannedEvent[] = [];
  for (const account of accounts.values()) {
    const { node } = account;
    const inPool = node.lendable || node.lent;
    if (!inPool || account.capacity === 0) {
      if (node.labels[LABEL_NODE_STATE] !== undefined || node.lent) {
        // Left the pool (label removed) with nothing on it: clean up what the operator put there.
        const empty = account.leaseHeld.size === 0 && account.strayTenantUsed === 0;
        // Each mark goes once: a change that removed nothing would be planned again every pass.
        const marked = node.annotations[ANNOTATION_IDLE_SINCE] !== undefined;
        if (!node.lent || empty) {
          changes.push({
            node: node.name,
            lent: node.lent ? false : undefined,
            idleSince: marked ? null : undefined,
            stateLabel: node.labels[LABEL_NODE_STATE] !== undefined ? null : undefined,
          });
        }
      }
      continue;
    }
    let lent: boolean | undefined;
    let idleSince: string | null | undefined;
    let returning: string | null | undefined;
    let state: NodeState = account.state;
    if (returningNow.has(node.name) && !node.returning) {
      returning = new Date(now).toISOString();
      events.push({
        kind: "Node",
        name: node.name,
        type: "Normal",
        reason: "NodeReturning",
        message: "reclaimed for internal demand: tenant pods get their notice",
      });
    }
    if (lend.has(node.name)) {
      lent = true;
      idleSince = null;
      state = "Lent";
      events.push({
        kind: "Node",
        name: node.name,
        type: "Normal",
        reason: "NodeLent",
        message: `lent to tenants: ${account.capacity} GPUs`,
      });
    } else if (node.lent && account.leaseHeld.size === 0 && account.strayTenantUsed === 0) {
      lent = false;
      state = account.state === "Unavailable" ? "Unavailable" : "Internal";
      if (node.returning) returning = null;
      events.push({
        kind: "Node",
        name: node.name,
        type: "Normal",
        reason: "NodeReturned",
        message: "no lease holds GPUs here any more: back to internal use",
      });
    }
    if (lent === undefined && node.lent) lent = restoreLentMarks(node, events);
    const internalAfter = lent === false || (!node.lent && lent !== true);
    if (internalAfter) {
      const marked = node.annotations[ANNOTATION_IDLE_SINCE] !== undefined;
      if (account.internalBusy && marked) idleSince = null;
      if (!account.internalBusy && !marked) idleSince = new Date(now).toISOString();
    }
    const label = node.labels[LABEL_NODE_STATE];
    const stateLabel = label === state ? undefined : state;
    if (
      lent !== undefined ||
      idleSince !== undefined ||
      stateLabel !== undefined ||
      returning !== undefined
    ) {
      changes.push({
        node: node.name,
        lent,
        idleSince,
        stateLabel,
        ...(returning !== undefined ? { returning } : {}),
      });
    }
  }
  return { changes: changes.sort((a, b) => (a.node < b.node ? -1 : 1)), events };
}

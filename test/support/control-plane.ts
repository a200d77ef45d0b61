/** Fault injection and the audit log, for e2e tests (see test/harness/control-server.ts). */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { inject } from "vitest";
import type { ControlPlaneHandle } from "../harness/control-server.ts";
import type { ComponentName } from "../harness/controlplane.ts";

export class ControlPlaneControl {
  constructor(readonly handle: ControlPlaneHandle) {}

  private async call(name: ComponentName, action: string, signal?: NodeJS.Signals): Promise<number> {
    const url = `${this.handle.url}/components/${name}/${action}${signal ? `?signal=${signal}` : ""}`;
    const response = await fetch(url, { method: "POST", signal: AbortSignal.timeout(120_000) });
    const body = (await response.json()) as { ms?: number; error?: string };
    if (response.status !== 200) throw new Error(`${action} ${name}: ${body.error ?? response.status}`);
    return body.ms ?? 0;
  }

  /** Stops one component and waits until it has exited. */
  stop(name: ComponentName, signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    return this.call(name, "stop", signal);
  }

  /** Starts it again (same command line) and resolves once it serves; with the time that took. */
  start(name: ComponentName): Promise<number> {
    return this.call(name, "start");
  }

  restart(name: ComponentName, signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    return this.call(name, "restart", signal);
  }

  freeze(name: ComponentName): Promise<number> {
    return this.call(name, "freeze");
  }

  thaw(name: ComponentName): Promise<number> {
    return this.call(name, "thaw");
  }

  get auditLog(): string {
    return join(this.handle.dir, "logs", "audit.log");
  }
}

/** The control of this run's control plane, or undefined when the cluster offers none. */
export function controlPlaneControl(): ControlPlaneControl | undefined {
  const handle = inject("controlPlane");
  return handle ? new ControlPlaneControl(handle) : undefined;
}

/** A kubeconfig with the operator's own identity (user gpulease-operator), to tell its writes apart. */
export function operatorKubeconfig(): string {
  return join(dirname(inject("kubeconfig")), "operator-kubeconfig");
}

export const OPERATOR_USER = "gpulease-operator";

/** One write the API server handled, as its audit log tells it (level Metadata, stage ResponseComplete). */
export interface AuditEntry {
  username: string;
  /** The client's User-Agent (the operator's names its process id). */
  userAgent: string;
  verb: string;
  objectRef: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
  };
  /** When the API server answered, in ms since the epoch. */
  at: number;
  stageTimestamp: string;
  code: number | undefined;
}

/** One line of the audit log as an entry, or undefined (another stage, or a line still being written). */
function parseAuditLine(line: string): AuditEntry | undefined {
  if (!line.trim()) return undefined;
  let raw: {
    stage?: string;
    verb?: string;
    user?: { username?: string };
    userAgent?: string;
    objectRef?: AuditEntry["objectRef"];
    stageTimestamp?: string;
    responseStatus?: { code?: number };
  };
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined; // a line the API server is still writing
  }
  if (raw.stage !== "ResponseComplete") return undefined;
  return {
    username: raw.user?.username ?? "",
    userAgent: raw.userAgent ?? "",
    verb: raw.verb ?? "",
    objectRef: raw.objectRef ?? {},
    at: Date.parse(raw.stageTimestamp ?? ""),
    stageTimestamp: raw.stageTimestamp ?? "",
    code: raw.responseStatus?.code,
  };
}

/** The audit log of the control plane in `dir` (logs/audit.log), oldest first. */
export function readAudit(dir: string): AuditEntry[] {
  let text: string;
  try {
    text = readFileSync(join(dir, "logs", "audit.log"), "utf8");
  } catch {
    return [];
  }
  return text.split("\n").flatMap((line) => parseAuditLine(line) ?? []);
}

/**
 * Follows the audit log from its current end: each `poll()` returns only the entries written since the
 * last one, reading only the new bytes, so a test can react to a write within milliseconds.
 */
export function tailAudit(dir: string): { poll: () => AuditEntry[] } {
  const file = join(dir, "logs", "audit.log");
  let offset = existsSync(file) ? statSync(file).size : 0;
  let partial = "";
  const buffer = Buffer.alloc(1 << 20);
  return {
    poll: () => {
      const fd = openSync(file, "r");
      let text = "";
      try {
        for (;;) {
          const n = readSync(fd, buffer, 0, buffer.length, offset);
          if (n === 0) break;
          offset += n;
          text += buffer.toString("utf8", 0, n);
        }
      } finally {
        closeSync(fd);
      }
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? ""; // a line still being written waits for the next poll
      return lines.flatMap((line) => parseAuditLine(line) ?? []);
    },
  };
}

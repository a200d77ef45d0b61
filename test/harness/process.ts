import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";

/**
 * Runs a control-plane component with its output in a log file. The command runs under a small bash
 * guard that stops it when the process that started it dies, even by SIGKILL, so no component is ever
 * left behind by a crashed test run.
 */
export class ManagedProcess {
  private readonly child: ChildProcess;
  private exited: Promise<number | null>;
  exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    readonly command: string,
    readonly args: string[],
    readonly logFile: string,
    ownerPid: number = process.pid,
  ) {
    const fd = openSync(logFile, "a");
    const guard = [
      'owner="$1"; shift',
      '"$@" & child=$!',
      'trap \'kill -TERM "$child" 2>/dev/null; wait "$child"; exit $?\' TERM INT',
      'while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done',
      'kill -TERM "$child" 2>/dev/null',
      // kube-apiserver whose etcd went at the same moment can hang in its graceful shutdown for
      // minutes: a second signal makes it exit, and KILL ends whatever is still there 5 s later.
      'sleep 1; kill -TERM "$child" 2>/dev/null',
      'for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || break; sleep 0.5; done',
      'kill -KILL "$child" 2>/dev/null',
      'wait "$child"',
    ].join("\n");
    this.child = spawn("bash", ["-c", guard, name, String(ownerPid), command, ...args], {
      stdio: ["ignore", fd, fd],
      detached: true,
    });
    closeSync(fd);
    this.exited = new Promise((done) => {
      this.child.on("exit", (code) => {
        this.exitCode = code;
        done(code);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** SIGTERM, then SIGKILL to the whole process group after the grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    const pgid = -this.child.pid;
    try {
      process.kill(pgid, "SIGTERM");
    } catch {
      return;
    }
    const timer = new Promise<"timeout">((done) => setTimeout(() => done("timeout"), graceMs).unref());
    if ((await Promise.race([this.exited, timer])) === "timeout") {
      try {
        process.kill(pgid, "SIGKILL");
      } catch {
        // already gone
      }
      await this.exited;
    }
  }

  /**
   * Sends a signal to the component and its guard (the whole process group): SIGKILL ends both at
   * once, SIGSTOP/SIGCONT freeze and thaw the component (the guard pauses with it, harmlessly).
   */
  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Resolves with the exit code when the process ends. */
  wait(): Promise<number | null> {
    return this.exited;
  }
}

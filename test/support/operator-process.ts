/** Runs the operator as a real process (as in production), for end-to-end tests. */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, inject } from "vitest";
import { stringify } from "yaml";

const ROOT = resolve(import.meta.dirname, "../..");

export interface OperatorProcessOptions {
  kubeconfig: string;
  /** Merged into the operator's YAML configuration. */
  config?: Record<string, unknown>;
  args?: string[];
  /** The log message that means "started" (default: the work loop started). */
  readyMessage?: string;
}

export class OperatorProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  readonly logFile: string;
  private readonly configFile: string;

  constructor(private readonly options: OperatorProcessOptions) {
    const dir = mkdtempSync(join(tmpdir(), "gpulease-op-"));
    this.logFile = join(dir, "operator.log");
    this.configFile = join(dir, "config.yaml");
    writeFileSync(
      this.configFile,
      stringify({
        idlePeriod: "0s",
        metricsPort: 0,
        expiryWarning: "2s",
        meteringInterval: "10s",
        // Every e2e operator checks its incremental plans against plans made from scratch; stop()
        // fails the test file on any difference.
        referenceCheckInterval: "1s",
        logLevel: "debug",
        ...options.config,
      }),
    );
  }

  /** Starts the operator and resolves when its caches are synced and it works. */
  async start(timeoutMs = 30_000): Promise<void> {
    const log = createWriteStream(this.logFile, { flags: "a" });
    this.child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(ROOT, "src/main.ts"),
        "--kubeconfig",
        this.options.kubeconfig,
        "--config",
        this.configFile,
        ...(this.options.args ?? []),
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    const child = this.child;
    this.exited = new Promise((done) => child.on("exit", (code) => done(code)));
    let output = "";
    const started = new Promise<void>((resolveStarted, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`operator did not start in ${timeoutMs} ms:\n${output.slice(-2000)}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        log.write(chunk);
        output += chunk.toString();
        if (output.includes(`"msg":"${this.options.readyMessage ?? "operator started"}"`)) {
          clearTimeout(timer);
          resolveStarted();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`operator exited with ${code} before starting:\n${output.slice(-2000)}`));
      });
    });
    await started;
  }

  /**
   * SIGTERM and wait: resolves with the exit code. Throws if the operator ever found its incremental
   * plan different from the plan made from scratch (referenceCheckInterval).
   */
  async stop(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill("SIGTERM");
    const code = await this.exited;
    const diverged = this.logs()
      .split("\n")
      .filter((line) => line.includes("incremental plan differs from the reference plan"));
    if (diverged.length > 0) throw new Error(`the incremental planner diverged:\n${diverged.join("\n")}`);
    return code;
  }

  /** SIGKILL: the operator gets no chance to finish anything. */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** The operator's process ID (to freeze it with SIGSTOP and resume it with SIGCONT). */
  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null) throw new Error("the operator is not running");
    return pid;
  }

  /** Resolves with the time the message first appears in the log. */
  async waitForLog(message: string, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.logs().includes(message)) return Date.now();
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`operator never logged ${JSON.stringify(message)}:\n${this.logs().slice(-2000)}`);
  }

  logs(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }
}

/**
 * The usual set-up of an e2e file: one operator process for the file, lending only the file's own
 * node pool (label gpulease.io/pool=<pool>), stopped with SIGTERM at the end (and it must exit 0).
 * Call at the top of a test file; returns the pool name.
 */
export function operatorForThisFile(
  poolPrefix: string,
  config: Record<string, unknown> = {},
): { pool: string } {
  const pool = `${poolPrefix}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  let operator: OperatorProcess | undefined;
  beforeAll(async () => {
    operator = new OperatorProcess({
      kubeconfig: inject("kubeconfig"),
      config: { lendableNodeSelector: { "gpulease.io/pool": pool }, ...config },
    });
    await operator.start();
  });
  afterAll(async () => {
    expect(await operator?.stop()).toBe(0); // SIGTERM: finishes in-flight work and exits 0
  });
  return { pool };
}

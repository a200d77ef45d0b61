/**
 * `make demo` (hack/demo.ts --smoke) as a user meets it: port 8080 taken, a run that fails half-way,
 * then a rerun. It starts its own control planes (in a temp cluster dir, not .cluster), so it runs once
 * and keeps to two demo runs.
 */
import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const TSX = resolve(ROOT, "node_modules/tsx/dist/cli.mjs");
const dir = mkdtempSync(join(tmpdir(), "gpulease-demo-test-"));

function runDemo(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      [TSX, "hack/demo.ts", "--smoke", "--cluster-dir", join(dir, "cluster")],
      { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code) => done({ code, output }));
  });
}

/** Processes whose command line names the demo's cluster dir: every component and its guard. */
function processesOfTheDemo(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      if (args.includes(join(dir, "cluster"))) found.push(`${pid} ${args.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Holds port 8080 for the test, unless something else already does (then it is taken anyway). */
function occupy8080(): Promise<Server | undefined> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(undefined));
    server.listen(8080, () => done(server));
  });
}

let blocker: Server | undefined;
afterAll(() => {
  blocker?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("make demo", () => {
  it("leaves no process after a failure, starts clean after it, and takes a free port when 8080 is taken", {
    timeout: 600_000,
  }, async () => {
    blocker = await occupy8080();
    // A kubectl that fails makes the demo fail after its control plane and nodes are up.
    const fakeBin = join(dir, "bin");
    mkdirSync(fakeBin);
    writeFileSync(join(fakeBin, "kubectl"), "#!/bin/sh\necho 'kubectl: simulated failure' >&2\nexit 1\n");
    chmodSync(join(fakeBin, "kubectl"), 0o755);

    const failed = await runDemo({ ...process.env, PATH: `${fakeBin}${delimiter}${process.env.PATH}` });
    expect(failed.output).toContain("nodes are Ready");
    expect(failed.output).toContain("demo failed");
    expect(failed.code).toBe(1);
    expect(processesOfTheDemo()).toEqual([]);
    // The failed run's data stays for reading its logs: exactly what made a rerun fail with 409.
    expect(existsSync(join(dir, "cluster", "run", "etcd"))).toBe(true);

    const rerun = await runDemo(process.env);
    expect(rerun.output).not.toContain("AlreadyExists");
    expect(rerun.output).toContain("smoke: leases admitted");
    expect(rerun.code).toBe(0);
    const port = /curl -s localhost:(\d+)\/metrics/.exec(rerun.output)?.[1];
    expect(port).toBeDefined();
    expect(port).not.toBe("8080");
    expect(rerun.output).toContain(`port 8080 is taken: metrics on ${port}`);
    expect(processesOfTheDemo()).toEqual([]);
  });
});

import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";

export interface ControlPlaneBinaries {
  binDir: string;
  kwokStages: string;
}

const REPO_ROOT = resolve(import.meta.dirname, "../..");

/**
 * Builds the control plane binaries, or finds them in the cache or in $KUBEBUILDER_ASSETS /
 * $GPULEASE_ASSETS. The first build takes several minutes; later calls return at once.
 */
export async function ensureBinaries(log: (line: string) => void = () => {}): Promise<ControlPlaneBinaries> {
  const child = execFile("bash", [resolve(REPO_ROOT, "hack/build-controlplane.sh")], {
    maxBuffer: 64 * 1024 * 1024,
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line.trim()) log(line);
  });
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await new Promise<number | null>((done) => child.on("close", done));
  if (code !== 0) throw new Error(`hack/build-controlplane.sh failed with exit code ${code}`);
  const values = Object.fromEntries(
    stdout
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const binDir = values.BIN_DIR;
  const kwokStages = values.KWOK_STAGES;
  if (!binDir || !kwokStages)
    throw new Error(`hack/build-controlplane.sh printed no BIN_DIR/KWOK_STAGES:\n${stdout}`);
  return { binDir, kwokStages };
}

export const execFileAsync = promisify(execFile);

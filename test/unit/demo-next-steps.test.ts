/**
 * Commands the demo and the README tell users to paste: a JSONPath escape (gpulease\.io) must reach
 * kubectl, or the column prints <none> while the annotation is there.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const lines = ["hack/demo-next-steps.txt", "README.md"].flatMap((file) =>
  readFileSync(resolve(ROOT, file), "utf8")
    .split("\n")
    .filter((line) => /^\s*kubectl .*\\\./.test(line))
    .map((line) => [file, line.trim()] as const),
);

/** The words bash passes to the command (set -- only assigns: nothing runs). */
function wordsAfterTheShell(line: string): string[] {
  const command = line.replace(/\s+#.*$/, "");
  return execFileSync("bash", ["-c", `set -- ${command}; printf '%s\\0' "$@"`])
    .toString()
    .split("\0")
    .slice(0, -1);
}

describe("pasted kubectl commands", () => {
  it("include the reclaim-deadline column", () => {
    expect(lines.map(([file]) => file)).toEqual(["hack/demo-next-steps.txt", "README.md"]);
  });

  it.each(lines)("%s: %s keeps its JSONPath escapes through the shell", (_file, line) => {
    const escaped = wordsAfterTheShell(line).filter((w) => w.includes("gpulease"));
    expect(escaped.some((w) => w.includes("gpulease\\.io/reclaim-deadline"))).toBe(true);
  });
});

import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, withLogContext } from "../../../src/observability/logger.ts";

function capture() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
  });
  return { stream, lines };
}

describe("logs", () => {
  it("carry the reconcile's fields on every line inside it, and one line's fields never leak into the next", async () => {
    const { stream, lines } = capture();
    const log = createLogger("info", stream);
    await withLogContext({ controller: "gpulease", reconcileID: "r-1" }, async () => {
      log.info({ lease: "train", tenant: "acme" }, "admitted");
      await new Promise((r) => setTimeout(r, 1));
      log.info("plan executed");
    });
    log.info("outside");
    await new Promise((r) => setImmediate(r));
    expect(lines).toMatchObject([
      { reconcileID: "r-1", controller: "gpulease", lease: "train", tenant: "acme", msg: "admitted" },
      { reconcileID: "r-1", controller: "gpulease", msg: "plan executed" },
      { msg: "outside" },
    ]);
    expect(lines[1]).not.toHaveProperty("lease");
    expect(lines[2]).not.toHaveProperty("reconcileID");
  });
});

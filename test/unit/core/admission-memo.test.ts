import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountNodes } from "../../../src/core/accounting.ts";
import { admit } from "../../../src/core/admission.ts";
import type { ClusterSnapshot } from "../../../src/core/model.ts";
import { arbitraryCluster, buildCluster } from "../../support/arbitrary-cluster.ts";

/** Durations written differently: "60m" is "1h" in time, not in the rejection's message. */
const DURATIONS = [
  { duration: "1h", durationMs: 3_600_000 },
  { duration: "60m", durationMs: 3_600_000 },
  { duration: "3h", durationMs: 10_800_000 },
] as const;

/** Some leases get a duration, and tenant b may lease for at most 2h (a rejection by duration). */
function withDurations(snap: ClusterSnapshot): ClusterSnapshot {
  return {
    ...snap,
    leases: snap.leases.map((l, i) =>
      l.spec.class === "Reserved" || i % 3 === 0 ? l : { ...l, spec: { ...l.spec, ...DURATIONS[i % 3] } },
    ),
    quotas: snap.quotas.map((q) =>
      q.name === "b"
        ? { ...q, spec: { ...q.spec, maxLeaseDuration: "2h", maxLeaseDurationMs: 7_200_000 } }
        : q,
    ),
  };
}

describe("admission skips shapes and classes that already found no place", () => {
  it("decides exactly as a search for every lease would", () => {
    // Few shapes, many leases: the memos are hit often; one tenant may be Dedicated.
    const manyAlike = arbitraryCluster.map((c) => ({
      ...c,
      leases: [...c.leases, ...c.leases, ...c.leases].map((l) => ({ ...l, gpus: 1 + (l.gpus % 4) * 2 })),
    }));
    let memoHits = 0;
    let rejectedByDuration = 0;
    fc.assert(
      fc.property(manyAlike, (c) => {
        const snap = withDurations(buildCluster(c));
        const searched = admit(snap, accountNodes(snap), () => true, { memoizeFailedShapes: false });
        const memoized = admit(snap, accountNodes(snap));
        expect(memoized).toEqual(searched);
        const waits = searched.decisions.filter((d) => d.kind === "wait").length;
        if (waits > 1) memoHits++;
        if (
          searched.decisions.some(
            (d) => d.kind === "reject" && d.refusal.reason === "ExceedsMaxLeaseDuration",
          )
        )
          rejectedByDuration++;
      }),
      { numRuns: 400 },
    );
    // The property saw clusters where several leases wait, and rejections that quote a duration.
    expect(memoHits).toBeGreaterThan(50);
    expect(rejectedByDuration).toBeGreaterThan(50);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountNodes } from "../../../src/core/accounting.ts";
import { admit } from "../../../src/core/admission.ts";
import { arbitraryCluster, buildCluster } from "../../support/arbitrary-cluster.ts";

describe("admission skips shapes that already found no place", () => {
  it("decides exactly as a search for every lease would", () => {
    // Few shapes, many leases: the memo is hit often; one tenant may be Dedicated.
    const manyAlike = arbitraryCluster.map((c) => ({
      ...c,
      leases: [...c.leases, ...c.leases, ...c.leases].map((l) => ({ ...l, gpus: 1 + (l.gpus % 4) * 2 })),
    }));
    let memoHits = 0;
    fc.assert(
      fc.property(manyAlike, (c) => {
        const snap = buildCluster(c);
        const searched = admit(snap, accountNodes(snap), () => true, { memoizeFailedShapes: false });
        const memoized = admit(snap, accountNodes(snap));
        expect(memoized).toEqual(searched);
        const waits = searched.decisions.filter((d) => d.kind === "wait").length;
        if (waits > 1) memoHits++;
      }),
      { numRuns: 400 },
    );
    // The property saw clusters where several leases wait, so the memo was exercised.
    expect(memoHits).toBeGreaterThan(50);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type PlacementCandidate, placeLease } from "../../../src/core/placement.ts";

const request = (gpus: number, block = 1, headroomGpus = 0, idleInternalGpus = 1000) => ({
  gpus,
  block,
  headroomGpus,
  idleInternalGpus,
});
const n = (name: string, free: number, lent = false, capacity = 8): PlacementCandidate => ({
  name,
  free,
  lent,
  capacity,
});

describe("placement", () => {
  it("uses nodes already lent before lending more", () => {
    const placed = placeLease(request(4), [n("a", 8), n("b", 4, true)]);
    expect(placed).toEqual({ allocations: [{ node: "b", gpus: 4 }], newlyLent: [] });
  });

  it("takes the tightest node that fits, keeping whole nodes whole", () => {
    const placed = placeLease(request(2), [n("whole", 8, true), n("half", 4, true), n("quarter", 2, true)]);
    expect(placed?.allocations).toEqual([{ node: "quarter", gpus: 2 }]);
  });

  it("places in whole blocks only: a lease of whole nodes does not fit on fragments", () => {
    expect(placeLease(request(16, 8), [n("a", 6, true), n("b", 7, true), n("c", 4)])).toBeUndefined();
    expect(placeLease(request(16, 8), [n("a", 6, true), n("b", 8), n("c", 8)])?.allocations).toEqual([
      { node: "b", gpus: 8 },
      { node: "c", gpus: 8 },
    ]);
  });

  it("lends as few new nodes as it can", () => {
    const placed = placeLease(request(10), [n("a", 8), n("b", 8), n("c", 2)]);
    expect(placed?.newlyLent.length).toBe(2);
  });

  it("keeps the idle headroom unlent", () => {
    expect(placeLease(request(8, 1, 8, 16), [n("a", 8), n("b", 8)])?.newlyLent).toEqual(["a"]);
    expect(placeLease(request(16, 1, 8, 16), [n("a", 8), n("b", 8)])).toBeUndefined();
  });

  const candidates = fc.uniqueArray(
    fc.record({
      name: fc.stringMatching(/^[a-z]{1,4}$/),
      free: fc.integer({ min: 0, max: 8 }),
      lent: fc.boolean(),
    }),
    { selector: (c) => c.name, maxLength: 12 },
  );

  it("never places more on a node than it has free, and places exactly what was asked (property)", () => {
    fc.assert(
      fc.property(
        candidates,
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(1, 2, 4, 8),
        (nodes, gpus, block) => {
          const asked = Math.ceil(gpus / block) * block;
          const placed = placeLease(
            request(asked, block),
            nodes.map((c) => n(c.name, c.free, c.lent)),
          );
          if (!placed) {
            const room = nodes.reduce((s, c) => s + Math.floor(c.free / block) * block, 0);
            expect(room).toBeLessThan(asked);
            return;
          }
          const total = placed.allocations.reduce((s, a) => s + a.gpus, 0);
          expect(total).toBe(asked);
          for (const a of placed.allocations) {
            const node = nodes.find((c) => c.name === a.node);
            expect(node).toBeDefined();
            expect(a.gpus).toBeLessThanOrEqual(node?.free ?? 0);
            expect(a.gpus % block).toBe(0);
          }
        },
      ),
    );
  });

  it("is deterministic: the order candidates come in does not matter (property)", () => {
    fc.assert(
      fc.property(candidates, fc.integer({ min: 1, max: 30 }), (nodes, gpus) => {
        const list = nodes.map((c) => n(c.name, c.free, c.lent));
        expect(placeLease(request(gpus), [...list].reverse())).toEqual(placeLease(request(gpus), list));
      }),
    );
  });
});

describe("the indexed placement", () => {
  it("places exactly as the reference, lease after lease (property)", async () => {
    const { PlacementIndex } = await import("../../../src/core/placement-index.ts");
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            name: fc.stringMatching(/^[a-z]{1,3}$/),
            free: fc.integer({ min: 0, max: 16 }),
            capacity: fc.constantFrom(8, 16),
            lent: fc.boolean(),
          }),
          { selector: (c) => c.name, maxLength: 14 },
        ),
        fc.array(fc.record({ gpus: fc.integer({ min: 1, max: 24 }), block: fc.constantFrom(1, 2, 4, 8) }), {
          maxLength: 8,
        }),
        fc.integer({ min: 0, max: 16 }),
        (raw, leases, headroom) => {
          let nodes = raw.map((c) => n(c.name, Math.min(c.free, c.capacity), c.lent, c.capacity));
          let idle = nodes.filter((x) => !x.lent).reduce((s, x) => s + x.capacity, 0);
          const index = new PlacementIndex(nodes);
          for (const l of leases) {
            const gpus = Math.ceil(l.gpus / l.block) * l.block;
            const req = { gpus, block: l.block, headroomGpus: headroom, idleInternalGpus: idle };
            const expected = placeLease(req, nodes);
            expect(index.place(req)).toEqual(expected);
            if (!expected) continue;
            // Apply the reference result to the reference's input for the next lease.
            nodes = nodes.map((x) => {
              const a = expected.allocations.find((y) => y.node === x.name);
              const lent = x.lent || expected.newlyLent.includes(x.name);
              return a ? { ...x, free: x.free - a.gpus, lent } : { ...x, lent };
            });
            idle -= expected.newlyLent.reduce(
              (s, name) => s + (nodes.find((x) => x.name === name)?.capacity ?? 0),
              0,
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

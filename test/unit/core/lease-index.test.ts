/**
 * The lease index the incremental planner keeps: after any sequence of lease changes applied to it,
 * it looks leases up as the lookup built from scratch on the same snapshot does.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arrayChanges } from "../../../src/core/lease-dirty-set.ts";
import { LeaseIndex, leaseLookup } from "../../../src/core/lease-index.ts";
import type { ClusterSnapshot, LeaseView } from "../../../src/core/model.ts";
import { lease, snapshot } from "../../support/snapshot-builder.ts";

/** A step: the leases present, as (name, generation) pairs; a new generation is a new object (or uid). */
const step = fc.array(fc.record({ name: fc.nat(5), version: fc.nat(2), recreated: fc.boolean() }), {
  maxLength: 6,
});

describe("the kept lease index", () => {
  it("looks leases up as the lookup built from scratch does", () => {
    let applied = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), fc.nat(5), (steps, vanishedName) => {
        const objects = new Map<string, LeaseView>();
        const view = (name: number, version: number, recreated: boolean): LeaseView => {
          const id = `${name}/${version}/${recreated}`;
          const known = objects.get(id);
          if (known) return known;
          const made = lease(
            "acme-ns",
            `l${name}`,
            { gpus: 1 },
            { uid: `u${name}${recreated ? "-again" : ""}` },
          );
          objects.set(id, made);
          return made;
        };
        const index = new LeaseIndex();
        let last: LeaseView[] | undefined;
        for (const present of steps) {
          const byName = new Map(present.map((p) => [p.name, view(p.name, p.version, p.recreated)]));
          const leases = [...byName.values()];
          const vanished = lease("acme-ns", `gone-${vanishedName}`, { gpus: 1 }, { uid: `v${vanishedName}` });
          const s: ClusterSnapshot = snapshot({
            leases,
            vanishedLeases: [{ lease: vanished, vanishedAt: 0 }],
          });
          const versionBefore = index.lookup(s).uidsVersion;
          if (last === undefined) index.rebuild(leases);
          else {
            index.apply(arrayChanges(last, leases, (l) => l.uid));
            applied += 1;
            // The version moves exactly when the set of lease UIDs changed.
            const uidsOf = (ls: LeaseView[]) => [...new Set(ls.map((l) => l.uid))].sort().join();
            expect(index.lookup(s).uidsVersion !== versionBefore).toBe(uidsOf(last) !== uidsOf(leases));
          }
          last = leases;
          const kept = index.lookup(s);
          const fresh = leaseLookup(s);
          expect(new Map(kept.byKey)).toEqual(new Map(fresh.byKey));
          for (const uid of ["u0", "u1", "u2", "u3", "u4", "u5", "u1-again", "u3-again", `v${vanishedName}`])
            expect({ uid, live: kept.liveUids.has(uid) }).toEqual({ uid, live: fresh.liveUids.has(uid) });
        }
      }),
      { numRuns: 500 },
    );
    expect(applied).toBeGreaterThan(1000);
  });
});

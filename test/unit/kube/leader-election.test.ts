/**
 * The timing of leader election (fake timers and a fake Lease store: the real API server cannot hang a
 * renewal or skew a clock on demand), and leadership as a write fence on KubeRest (a local HTTP
 * server records what reaches the network).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { clientNodeAccess } from "../../../src/kube/cluster-access.ts";
import { ConflictError, NotFoundError, NotLeaderError } from "../../../src/kube/errors.ts";
import { LeaderElector, type LeaseClient } from "../../../src/kube/leader-election.ts";
import { type CallOptions, type KubeObject, KubeRest, type WriteOutcome } from "../../../src/kube/rest.ts";

const LEASE = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/le";

/** A Lease store with resourceVersion preconditions; `hang` makes every call wait until aborted. */
class FakeLeases implements LeaseClient {
  lease: KubeObject | undefined;
  hang = false;
  private rv = 0;
  readonly writes: { holder: string; at: number }[] = [];
  readonly hung: AbortSignal[] = [];

  /** Another replica writes the record (its own clock's renewTime). */
  holdBy(holder: string, renewTime: Date, leaseDurationSeconds = 15): void {
    this.lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "le", namespace: "ns", resourceVersion: String(++this.rv) },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds,
        renewTime: renewTime.toISOString(),
        acquireTime: renewTime.toISOString(),
      },
    };
  }

  holder(): string | undefined {
    return (this.lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
  }

  async get(_path: string, _query: undefined, options: CallOptions = {}): Promise<KubeObject> {
    await this.maybeHang(options);
    if (!this.lease) throw new NotFoundError(404, {}, "GET", LEASE);
    return structuredClone(this.lease);
  }

  async create(_path: string, body: unknown, options: CallOptions = {}): Promise<KubeObject> {
    await this.maybeHang(options);
    if (this.lease) throw new ConflictError(409, {}, "POST", LEASE);
    return this.store(body as KubeObject);
  }

  async replace(_path: string, body: unknown, options: CallOptions = {}): Promise<KubeObject> {
    await this.maybeHang(options);
    const object = body as KubeObject;
    if (object.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) {
      throw new ConflictError(409, {}, "PUT", LEASE);
    }
    return this.store(object);
  }

  private store(object: KubeObject): KubeObject {
    expect(object.spec).toBeDefined();
    this.lease = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    this.writes.push({ holder: this.holder() ?? "", at: performance.now() });
    return structuredClone(this.lease);
  }

  private maybeHang(options: CallOptions): Promise<void> {
    if (!this.hang) return Promise.resolve();
    const signal = options.signal;
    if (signal) this.hung.push(signal);
    // Like a TCP connection to a frozen API server: no answer until the caller gives up.
    return new Promise((_resolve, reject) =>
      signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
    );
  }
}

function elector(
  leases: FakeLeases,
  identity: string,
  timing: Partial<{ leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }> = {},
  now?: () => number,
) {
  const events: { what: "started" | "stopped"; at: number }[] = [];
  const le = new LeaderElector(leases, {
    namespace: "ns",
    name: "le",
    identity,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    ...timing,
    ...(now ? { now } : {}),
    onStartedLeading: () => void events.push({ what: "started", at: performance.now() }),
    onStoppedLeading: () => void events.push({ what: "stopped", at: performance.now() }),
  });
  return { le, events };
}

describe("leader election timing", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("steps down at renewDeadline when a renewal hangs (not at the 30 s request timeout)", async () => {
    const leases = new FakeLeases();
    const { le, events } = elector(leases, "a");
    const t0 = performance.now();
    le.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(le.isLeader).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000); // one more renewal, sent at t0 + 2 s
    expect(leases.writes).toHaveLength(2);
    leases.hang = true; // the next renewal (t0 + 4 s) never answers
    await vi.advanceTimersByTimeAsync(2_000 + 10_000 - 1 - 2_000);
    expect(le.isLeader).toBe(true);
    expect(events.map((e) => e.what)).toEqual(["started"]);
    await vi.advanceTimersByTimeAsync(1);
    expect(le.isLeader).toBe(false);
    expect(events.map((e) => e.what)).toEqual(["started", "stopped"]);
    expect((events[1]?.at ?? 0) - t0).toBe(2_000 + 10_000); // the last renewal's start + renewDeadline
    expect(leases.hung[0]?.aborted).toBe(true); // the hanging request was given up, not left for 30 s
    await le.stop();
  });

  it("does not lose nor keep leadership because the wall clock jumps: time is monotonic", async () => {
    const leases = new FakeLeases();
    const { le, events } = elector(leases, "a");
    le.start();
    await vi.advanceTimersByTimeAsync(0);
    vi.setSystemTime(Date.now() + 3_600_000); // NTP steps the wall clock an hour ahead
    await vi.advanceTimersByTimeAsync(30_000);
    expect(le.isLeader).toBe(true);
    leases.hang = true;
    vi.setSystemTime(Date.now() - 7_200_000); // and two hours back
    await vi.advanceTimersByTimeAsync(10_000);
    expect(le.isLeader).toBe(false);
    expect(events.map((e) => e.what)).toEqual(["started", "stopped"]);
    await le.stop();
  });

  for (const [label, offsetMs] of [
    ["an hour in the past", -3_600_000],
    ["an hour in the future", 3_600_000],
    ["the local time", 0],
  ] as const) {
    it(`takes over exactly leaseDuration after the last observed change, whatever the holder's renewTime (${label})`, async () => {
      const leases = new FakeLeases();
      leases.holdBy("other", new Date(Date.now() + offsetMs), 15);
      const { le, events } = elector(leases, "b", { retryPeriodMs: 1_000 });
      const t0 = performance.now();
      le.start(); // observes the record at t0
      await vi.advanceTimersByTimeAsync(15_000 - 1);
      expect(leases.holder()).toBe("other");
      expect(events).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(leases.holder()).toBe("b");
      expect(leases.writes.map((w) => w.at - t0)).toEqual([15_000]);
      expect(events.map((e) => e.what)).toEqual(["started"]);
      await le.stop();
    });
  }

  it("restarts the wait when it sees the record change, and never takes over from a renewing holder", async () => {
    const leases = new FakeLeases();
    const stale = new Date(Date.now() - 3_600_000); // the holder's clock is an hour behind
    leases.holdBy("other", stale);
    const { le } = elector(leases, "b", { retryPeriodMs: 1_000 });
    const t0 = performance.now();
    le.start();
    // The holder renews every 2 s for a minute (its renewTime stays far in our past).
    for (let t = 0; t < 60_000; t += 2_000) {
      await vi.advanceTimersByTimeAsync(2_000);
      leases.holdBy("other", new Date(stale.getTime() + t));
    }
    expect(leases.holder()).toBe("other");
    // The last change, at t0 + 60 s, is seen at the next attempt (t0 + 61 s): free at t0 + 76 s.
    await vi.advanceTimersByTimeAsync(16_000 - 1);
    expect(leases.holder()).toBe("other");
    await vi.advanceTimersByTimeAsync(1);
    expect(leases.holder()).toBe("b");
    expect((leases.writes.at(-1)?.at ?? 0) - t0).toBe(76_000);
    await le.stop();
  });

  it("takes a released lease (no holder) at once", async () => {
    const leases = new FakeLeases();
    leases.holdBy("", new Date(), 1);
    const { le } = elector(leases, "b");
    le.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(leases.holder()).toBe("b");
    await le.stop();
  });

  it("refuses writes as soon as its time is up, before any timer runs (a process resumed after SIGSTOP)", async () => {
    const leases = new FakeLeases();
    let frozen = 0; // time that passed while no timer could run
    const { le, events } = elector(leases, "a", {}, () => performance.now() + frozen);
    le.start();
    await vi.advanceTimersByTimeAsync(0);
    const signal = le.permit("PATCH", "/api/v1/nodes/n");
    frozen += 10_000; // SIGSTOP for 10 s, then SIGCONT: the first thing that runs is a write
    expect(() => le.permit("PATCH", "/api/v1/nodes/n")).toThrow(NotLeaderError);
    expect(le.isLeader).toBe(false);
    expect(signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000); // then the first timer ends the term: writes in flight abort
    expect(signal.aborted).toBe(true);
    expect(events.map((e) => e.what).slice(0, 2)).toEqual(["started", "stopped"]);
    await le.stop();
  });

  it("steps down at once when it reads another holder in the lease", async () => {
    const leases = new FakeLeases();
    const { le, events } = elector(leases, "a");
    le.start();
    await vi.advanceTimersByTimeAsync(0);
    leases.holdBy("intruder", new Date());
    await vi.advanceTimersByTimeAsync(2_000);
    expect(le.isLeader).toBe(false);
    expect(events.map((e) => e.what)).toEqual(["started", "stopped"]);
    await le.stop();
  });

  it("releases the lease on stop, after closing the fence", async () => {
    const leases = new FakeLeases();
    const { le, events } = elector(leases, "a");
    le.start();
    await vi.advanceTimersByTimeAsync(0);
    const signal = le.permit("POST", "/x");
    await le.stop();
    expect(signal.aborted).toBe(true);
    expect(leases.holder()).toBe("");
    expect(events.map((e) => e.what)).toEqual(["started", "stopped"]);
  });
});

describe("leadership as a write fence on KubeRest", () => {
  let server: Server;
  const received: { method: string; url: string; closed: boolean }[] = [];
  let rest: KubeRest;
  const outcomes: WriteOutcome[] = [];

  beforeEach(async () => {
    received.length = 0;
    outcomes.length = 0;
    server = createServer((req: IncomingMessage, res) => {
      const entry = { method: req.method ?? "", url: req.url ?? "", closed: false };
      received.push(entry);
      res.on("close", () => {
        entry.closed = !res.writableFinished;
      });
      req.resume();
      if (entry.url.includes("/hang")) return; // never answers
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    rest = new KubeRest(clientNodeAccess(kc));
    rest.observeWrites((outcome) => outcomes.push(outcome));
  });

  afterEach(async () => {
    await rest.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const until = async (condition: () => boolean, ms = 3_000) => {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error("condition not met in time");
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it("aborts the write in flight on loss, and sends no write until leading again; reads go on", async () => {
    const leases = new FakeLeases();
    const { le } = elector(leases, "a", {
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 100,
    });
    rest.setWriteFence(le);
    // Not yet leading: refused without a network call.
    await expect(rest.patch("/api/v1/nodes/early", "merge", {})).rejects.toBeInstanceOf(NotLeaderError);
    expect(received).toEqual([]);

    le.start();
    await until(() => le.isLeader);
    await rest.patch("/api/v1/nodes/a", "merge", {});
    const inFlight = rest.patch("/api/v1/nodes/hang", "merge", {});
    const settled = inFlight.catch((error: unknown) => error);
    await until(() => received.some((r) => r.url.startsWith("/api/v1/nodes/hang")));

    leases.hang = true; // renewals stop answering: leadership ends at renewDeadline
    const error = await settled;
    expect(error).toBeInstanceOf(NotLeaderError);
    expect((error as NotLeaderError).inFlight).toBe(true);
    await until(() => received.find((r) => r.url.startsWith("/api/v1/nodes/hang"))?.closed === true);
    expect(le.isLeader).toBe(false);

    const before = received.length;
    for (const write of [
      () => rest.patch("/api/v1/nodes/b", "merge", {}),
      () => rest.create("/api/v1/namespaces/ns/events", {}),
      () => rest.replace("/api/v1/nodes/b", {}),
      () => rest.delete("/api/v1/namespaces/ns/pods/p"),
    ]) {
      await expect(write()).rejects.toBeInstanceOf(NotLeaderError);
    }
    expect(received.length).toBe(before); // nothing reached the network
    await rest.get("/api/v1/nodes/b"); // the standby keeps reading
    expect(received.at(-1)?.method).toBe("GET");
    // Only the leader election's own Lease writes pass the fence.
    await rest.replace(LEASE, {}, { unfenced: true });
    expect(received.at(-1)?.method).toBe("PUT");
    expect(outcomes).toEqual([
      "refused",
      "sent",
      "sent",
      "aborted",
      "refused",
      "refused",
      "refused",
      "refused",
    ]);

    // Leading again (renewals answer): writes flow again.
    leases.hang = false;
    await until(() => le.isLeader, 5_000);
    await rest.patch("/api/v1/nodes/c", "merge", {});
    expect(received.at(-1)?.url).toContain("/api/v1/nodes/c");
    await le.stop();
  }, 15_000);
});

import { describe, expect, it } from "vitest";
import { Backoff } from "../../../src/kube/backoff.ts";
import { ApiError, apiError } from "../../../src/kube/errors.ts";
import { restartReason } from "../../../src/kube/informer.ts";
import { WatchSilentError } from "../../../src/kube/rest.ts";

describe("the reconnect backoff", () => {
  it("starts under a second, doubles to its cap, and starts over after a reset", () => {
    const highest = new Backoff({ initialMs: 200, maxMs: 10_000, random: () => 0.999_999 });
    const delays = Array.from({ length: 9 }, () => highest.next());
    expect(delays).toEqual([200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
    highest.reset();
    expect(highest.next()).toBe(200);
  });

  it("draws each delay between half and all of it, so informers do not reconnect in step", () => {
    const lowest = new Backoff({ initialMs: 200, maxMs: 10_000, random: () => 0 });
    expect([lowest.next(), lowest.next(), lowest.next()]).toEqual([100, 200, 400]);
    const sampled = new Backoff({ initialMs: 200, maxMs: 10_000 });
    for (let i = 0; i < 20; i++) {
      const delay = sampled.next();
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(10_000);
    }
  });
});

describe("why a watch restarts", () => {
  it("tells an expired resourceVersion, a server error, a lost connection and a silent watch apart", () => {
    expect(restartReason(apiError(410, { code: 410, reason: "Expired" }, "WATCH", "/api/v1/pods"))).toBe(
      "gone",
    );
    expect(restartReason(apiError(500, { code: 500 }, "WATCH", "/api/v1/pods"))).toBe("error");
    expect(restartReason(new ApiError(403, {}, "GET", "/api/v1/pods"))).toBe("error");
    expect(restartReason(new TypeError("fetch failed"))).toBe("disconnected");
    expect(restartReason(new WatchSilentError(3000))).toBe("watchdog");
  });
});

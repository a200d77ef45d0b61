/**
 * Leadership as a fence, against the real control plane: a leader frozen with SIGSTOP is replaced
 * within the lease duration, and once resumed it sends no write until it leads again. The witness is
 * the resumed replica's own count of writes it sent (gpulease_api_writes_total{outcome="sent"}, counted
 * just before a request leaves the process), read from its /metrics.
 */
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../harness/ports.ts";
import { controlPlaneControl, readAudit } from "../support/control-plane.ts";
import { addPool, createLease, createTenant, leaseWhere, phaseIs, uniqueId } from "../support/gpulease.ts";
import { createTestNamespace, eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";

let clients: KubeClients;
const running: OperatorProcess[] = [];

beforeAll(() => {
  clients = kubeClients(inject("kubeconfig"));
});

afterEach(async () => {
  for (const op of running.splice(0)) await op.kill(); // SIGKILL ends a stopped process too
});

const LEASE_MS = 6_000;
const RENEW_DEADLINE_MS = 4_000;
const RETRY_MS = 1_000;

interface Scrape {
  leader: number;
  sent: number;
  refused: number;
  aborted: number;
}

async function scrape(port: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? Number.NaN);
  return {
    leader: value(/^gpulease_leader (\S+)$/m),
    sent: value(/^gpulease_api_writes_total\{outcome="sent"\} (\S+)$/m),
    refused: value(/^gpulease_api_writes_total\{outcome="refused"\} (\S+)$/m),
    aborted: value(/^gpulease_api_writes_total\{outcome="aborted"\} (\S+)$/m),
  };
}

const count = (text: string, message: string) => text.split(message).length - 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("leadership as a fence", () => {
  it("replaces a frozen leader within the lease duration; resumed, it writes nothing until it leads again", async () => {
    const pool = uniqueId("pool-fence");
    const leaseNs = await createTestNamespace(clients, "gpulease-system");
    const replica = async (readyMessage: string) => {
      const port = await freePort();
      const op = new OperatorProcess({
        kubeconfig: inject("kubeconfig"),
        readyMessage,
        config: {
          lendableNodeSelector: { "gpulease.io/pool": pool },
          metricsPort: port,
          leaderElection: {
            enabled: true,
            namespace: leaseNs,
            name: "gpulease",
            leaseDuration: `${LEASE_MS / 1000}s`,
            renewDeadline: `${RENEW_DEADLINE_MS / 1000}s`,
            retryPeriod: `${RETRY_MS / 1000}s`,
          },
        },
      });
      running.push(op);
      await op.start();
      return { op, port };
    };
    const first = await replica("became the leader");
    const second = await replica("caches synced: standing by for the leader lease");

    // The leader works (and its write counter counts). The lease "expiring" is due its ExpiringSoon
    // warning (expiryWarning 2s) and its expiry while the leader is frozen: writes the leader owes
    // when it resumes. (Its elector's own timer, at most a retry period after the freeze, usually
    // runs first and ends its term; otherwise the fence refuses them.)
    await addPool(clients, pool, 2);
    const { namespaces } = await createTenant(clients);
    const [ns] = namespaces as [string];
    await createLease(clients, ns, "before", { gpus: 2 });
    await leaseWhere(clients, ns, "before", "Active", phaseIs("Active"));
    await createLease(clients, ns, "expiring", { gpus: 2, duration: "15s" });
    const expiring = await leaseWhere(clients, ns, "expiring", "Active", phaseIs("Active"));
    const warnAt = Date.parse(expiring.status?.expiresAt ?? "") - 2_000;
    // Quiet: no write for two seconds (a write between the reading below and the freeze could only
    // make the assertion fail, never pass wrongly).
    await eventually(
      "the leader to go quiet",
      async () => {
        const a = await scrape(first.port);
        await sleep(2_000);
        return a.sent === (await scrape(first.port)).sent ? true : undefined;
      },
      15_000,
    );
    const freezeAt = warnAt - 1_500; // the warning falls 1.5 s into the freeze
    expect(freezeAt - Date.now()).toBeGreaterThan(0);
    await sleep(freezeAt - Date.now());
    const quiet = await scrape(first.port);
    expect(quiet.leader).toBe(1);
    expect(quiet.sent).toBeGreaterThan(0);
    expect((await scrape(second.port)).sent).toBe(0); // the standby never wrote

    // Freeze the leader, counting what it sent up to that moment (it may still write after `quiet`).
    const atFreeze = await scrape(first.port);
    const frozenAt = Date.now();
    process.kill(first.op.pid, "SIGSTOP");
    const tookOverAt = await second.op.waitForLog("became the leader", LEASE_MS + 2 * RETRY_MS + 5_000);
    const failoverMs = tookOverAt - frozenAt;
    console.log(
      `[leader-fence] failover after SIGSTOP: ${failoverMs} ms (leaseDuration ${LEASE_MS} ms, ` +
        `renewDeadline ${RENEW_DEADLINE_MS} ms, retryPeriod ${RETRY_MS} ms)`,
    );
    // Never before the frozen leader's own time was up (it may have renewed just before the freeze),
    // and within the lease duration counted from its last renewal the standby could see.
    expect(failoverMs).toBeGreaterThan(RENEW_DEADLINE_MS);
    expect(failoverMs).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + 500);

    // While it is frozen, the new leader works (the frozen one's watches buffer the changes).
    await createLease(clients, ns, "during", { gpus: 2 });
    await leaseWhere(clients, ns, "during", "Active", phaseIs("Active"));

    process.kill(first.op.pid, "SIGCONT");
    // The trigger: it did resume and runs (its HTTP server answers).
    const health = await eventually(
      "the resumed replica's /healthz",
      async () => {
        const response = await fetch(`http://127.0.0.1:${first.port}/healthz`);
        return response.status === 200 ? response.status : undefined;
      },
      10_000,
    );
    expect(health).toBe(200);
    const resumedLog = () => first.op.logs();
    await first.op.waitForLog("lost the leader lease", 10_000);
    // Watch it for a while as a standby: several retry periods, and more than a lease duration.
    for (let i = 0; i < 8; i++) {
      const now = await scrape(first.port);
      expect(now.leader).toBe(0);
      expect(now.sent).toBe(atFreeze.sent); // not one write left the process since the freeze
      await sleep(RETRY_MS);
    }
    // The API server's own record agrees: no write from the resumed replica's process since the freeze.
    const audit = controlPlaneControl();
    expect(audit, "the local control plane's audit log").toBeDefined();
    if (audit) {
      const fromResumed = readAudit(audit.handle.dir).filter(
        (e) => e.userAgent.includes(`pid ${first.op.pid}`) && e.at > frozenAt,
      );
      expect(fromResumed.map((e) => `${e.verb} ${e.objectRef.resource}/${e.objectRef.name}`)).toEqual([]);
      // The witness works: the new leader's writes are there.
      expect(readAudit(audit.handle.dir).some((e) => e.userAgent.includes(`pid ${second.op.pid}`))).toBe(
        true,
      );
    }
    const standby = await scrape(first.port);
    console.log(
      `[leader-fence] resumed replica: sent ${standby.sent} (unchanged), refused by the fence ` +
        `${standby.refused}, aborted in flight ${standby.aborted}`,
    );
    // If it tried to write (it logs each refused write at debug level), the fence counted it.
    if (resumedLog().includes("not the leader: write not sent")) expect(standby.refused).toBeGreaterThan(0);
    // The writes it owed were done by the new leader.
    await leaseWhere(clients, ns, "expiring", "Ended", phaseIs("Ended", "Expired"));
    expect(resumedLog()).not.toContain('"level":"error"'); // no error spam from refused writes
    expect(count(second.op.logs(), "lost the leader lease")).toBe(0);
    expect((await scrape(second.port)).leader).toBe(1);

    // Until it leads again: the other replica dies, the resumed one takes over and writes.
    await second.op.kill();
    await eventually("the resumed replica to lead again", async () =>
      count(resumedLog(), '"msg":"became the leader"') >= 2 ? true : undefined,
    );
    await createLease(clients, ns, "after", { gpus: 2 });
    await leaseWhere(clients, ns, "after", "Active", phaseIs("Active"));
    const leading = await scrape(first.port);
    expect(leading.leader).toBe(1);
    expect(leading.sent).toBeGreaterThan(quiet.sent);
    // SIGTERM while leading: the work finishes under the lease, then the lease is released.
    expect(await first.op.stop()).toBe(0);
    expect(first.op.logs()).toContain("stopping: releasing the leader lease");
  }, 120_000);
});

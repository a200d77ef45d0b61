import { describe, expect, it } from "vitest";
import { NotFoundError } from "../../../src/kube/errors.ts";
import { kueueInstalled, toKueueSnapshot } from "../../../src/kube/kueue.ts";
import type { KubeObject } from "../../../src/kube/rest.ts";
import { loopbackWebhooks } from "../../harness/kueue.ts";

const check = (name: string, controllerName: string, active = false): KubeObject => ({
  metadata: { name },
  spec: { controllerName },
  status: active ? { conditions: [{ type: "Active", status: "True" }] } : {},
});

const flavor: KubeObject = {
  metadata: { name: "h100" },
  spec: {
    nodeLabels: { pool: "h100" },
    tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }],
  },
};

function workload(conditions: string[], checks: { name: string; state: string }[]): KubeObject {
  return {
    metadata: {
      namespace: "training",
      name: "job-train",
      uid: "u1",
      creationTimestamp: "2026-12-01T00:00:00Z",
    },
    spec: {
      podSets: [
        {
          name: "workers",
          count: 4,
          template: {
            spec: {
              nodeSelector: { zone: "a" },
              containers: [{ name: "c", resources: { limits: { "nvidia.com/gpu": "8" } } }],
            },
          },
        },
      ],
    },
    status: {
      conditions: conditions.map((type) => ({
        type,
        status: "True",
        lastTransitionTime: "2026-12-01T00:00:00Z",
      })),
      admission: {
        clusterQueue: "cq",
        podSetAssignments: [{ name: "workers", count: 3, flavors: { "nvidia.com/gpu": "h100" } }],
      },
      admissionChecks: checks.map((c) => ({ ...c, message: "", lastTransitionTime: "2026-12-01T00:00:00Z" })),
    },
  };
}

const snapshotOf = (workloads: KubeObject[], checks: KubeObject[]) =>
  toKueueSnapshot({ workloads, admissionChecks: checks, flavors: [flavor] }, ["nvidia.com/gpu"]);

describe("Kueue objects as the core sees them", () => {
  it("turns a Workload waiting on gpulease's check into its pods, with the assigned flavor's labels and tolerations", () => {
    const snap = snapshotOf(
      [workload(["QuotaReserved"], [{ name: "capacity", state: "Pending" }])],
      [check("capacity", "gpulease.io/capacity"), check("prov", "kueue.x-k8s.io/provisioning-request", true)],
    );
    expect(snap.admissionChecks).toEqual([{ name: "capacity", active: false }]);
    const [view] = snap.workloads;
    expect(view).toMatchObject({
      namespace: "training",
      name: "job-train",
      check: "capacity",
      state: "Pending",
    });
    // The assignment's count (partial admission) wins over the pod set's.
    expect(view?.pods).toHaveLength(3);
    expect(view?.pods[0]).toMatchObject({
      gpus: { "nvidia.com/gpu": 8 },
      nodeSelector: { zone: "a", pool: "h100" },
      tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }],
      unschedulable: true,
      group: "kueue/job-train",
      groupSize: 3,
    });
  });

  it("leaves out Workloads without reserved quota, finished, or without a check of gpulease", () => {
    const ours = [check("capacity", "gpulease.io/capacity")];
    expect(snapshotOf([workload([], [{ name: "capacity", state: "Pending" }])], ours).workloads).toEqual([]);
    expect(
      snapshotOf(
        [workload(["QuotaReserved", "Admitted", "Finished"], [{ name: "capacity", state: "Ready" }])],
        ours,
      ).workloads,
    ).toEqual([]);
    expect(
      snapshotOf([workload(["QuotaReserved"], [{ name: "prov", state: "Pending" }])], ours).workloads,
    ).toEqual([]);
  });

  it("keeps an admitted Workload with when it was admitted and the group its Job's pods will have", () => {
    const raw = workload(["QuotaReserved", "Admitted"], [{ name: "capacity", state: "Ready" }]);
    raw.metadata = {
      ...raw.metadata,
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "train", uid: "j1", controller: true }],
    };
    const [view] = snapshotOf([raw], [check("capacity", "gpulease.io/capacity")]).workloads;
    expect(view).toMatchObject({
      state: "Ready",
      admittedAt: Date.parse("2026-12-01T00:00:00Z"),
      jobGroup: "job/train",
    });
  });
});

describe("Kueue's webhooks on loopback (test harness)", () => {
  it("keeps only the webhooks of groups Kueue serves here, pointed at 127.0.0.1 with the CA bundle", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "kueue-webhooks-"));
    writeFileSync(join(dir, "ca.crt"), "CA");
    const manifests = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mutating-webhook-configuration
webhooks:
- name: mjob.kb.io
  clientConfig: { service: { name: webhook-service, namespace: system, path: /mutate-batch-v1-job } }
  rules: [{ apiGroups: [batch], apiVersions: [v1], operations: [CREATE], resources: [jobs] }]
- name: mpod.kb.io
  clientConfig: { service: { name: webhook-service, namespace: system, path: /mutate--v1-pod } }
  rules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods] }]
`;
    const pki = { caCert: join(dir, "ca.crt") } as Parameters<typeof loopbackWebhooks>[2];
    const out = loopbackWebhooks(manifests, 9443, pki);
    expect(out).toContain("name: kueue-mutating-webhook-configuration");
    expect(out).toContain("url: https://127.0.0.1:9443/mutate-batch-v1-job");
    expect(out).toContain(`caBundle: ${Buffer.from("CA").toString("base64")}`);
    expect(out).not.toContain("mpod.kb.io");
    expect(out).not.toContain("webhook-service");
  });
});

describe("Kueue detection at start", () => {
  const answering = (answers: (() => unknown)[]) => {
    let calls = 0;
    return {
      get calls() {
        return calls;
      },
      get: <T>(): Promise<T> => {
        const answer = answers[Math.min(calls++, answers.length - 1)] as () => unknown;
        return Promise.resolve().then(() => answer() as T);
      },
    };
  };
  const resources =
    (...names: string[]) =>
    () => ({ resources: names.map((name) => ({ name })) });

  it("is on only when the API serves Workloads, AdmissionChecks and ResourceFlavors", async () => {
    expect(
      await kueueInstalled(answering([resources("workloads", "admissionchecks", "resourceflavors")])),
    ).toBe(true);
    expect(await kueueInstalled(answering([resources("workloads", "clusterqueues")]))).toBe(false);
    const notServed = () => {
      throw new NotFoundError(404, {}, "GET", "/apis/kueue.x-k8s.io/v1beta2");
    };
    expect(await kueueInstalled(answering([notServed]))).toBe(false);
  });

  it("asks again while the API server does not answer, instead of deciding Kueue is absent", async () => {
    const down = () => {
      throw new Error("connect ECONNREFUSED");
    };
    const rest = answering([down, down, resources("workloads", "admissionchecks", "resourceflavors")]);
    const retried: unknown[] = [];
    expect(await kueueInstalled(rest, (e) => retried.push(e), 1)).toBe(true);
    expect(rest.calls).toBe(3);
    expect(retried).toHaveLength(2);
  });
});

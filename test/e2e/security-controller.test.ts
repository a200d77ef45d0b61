/**
 * Issue 14, the controller's side: attacks a malicious tenant ran against the operator itself, each
 * played as the tenant (a user with `edit` in its namespaces, through impersonation). Where an
 * admission policy now refuses the tenant's first step, the step is also taken with admin rights:
 * the operator must hold even where the policy is absent (clusters before 1.36) or was bypassed.
 */
import {
  AdmissionregistrationV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { API_GROUP, API_VERSION } from "../../src/api/index.ts";
import {
  addPool,
  createInternalJob,
  createLease,
  createLeasedPod,
  createTenant,
  eventsFor,
  getLease,
  getQuota,
  leaseWhere,
  phaseIs,
  podsOf,
  reclaimNoticed,
  uniqueId,
} from "../support/gpulease.ts";
import { createTestNamespace, eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { OperatorProcess } from "../support/operator-process.ts";
import { refusal, tenantClients } from "../support/tenant-client.ts";

let admin: KubeClients;
let operator: OperatorProcess;
let internalNs: string;
const pool = uniqueId("pool-sec");
/** Long enough to see an orphan before its eviction, short enough for a test. */
const ORPHAN_GRACE_MS = 4000;

beforeAll(async () => {
  admin = kubeClients(inject("kubeconfig"));
  internalNs = await createTestNamespace(admin, "training");
  operator = new OperatorProcess({
    kubeconfig: inject("kubeconfig"),
    config: {
      lendableNodeSelector: { "gpulease.io/pool": pool },
      evictionGrace: "3s",
      orphanGrace: `${ORPHAN_GRACE_MS / 1000}s`,
    },
  });
  await operator.start();
});

afterAll(async () => {
  expect(await operator.stop()).toBe(0);
  // The test policies refuse only labelled pods, but leave nothing cluster-wide behind.
  const api = admin.config.makeApiClient(AdmissionregistrationV1Api);
  for (const name of testPolicies) {
    await api.deleteValidatingAdmissionPolicyBinding({ name }).catch(() => undefined);
    await api.deleteValidatingAdmissionPolicy({ name }).catch(() => undefined);
  }
});

/** Names of the ValidatingAdmissionPolicies (and their bindings) the tests created. */
const testPolicies: string[] = [];

const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

/** A tenant played by an `edit` user, with an Active 8-GPU lease "work" on its own node and its pod running. */
async function tenantWithRunningPod(tenantSpec: Record<string, unknown> = {}) {
  const group = uniqueId("grp");
  const [node] = (await addPool(admin, pool, 1, { labels: { "test-group": group }, product: group })) as [
    string,
  ];
  const { tenant, namespaces } = await createTenant(admin, { reclaimNotice: "3s", ...tenantSpec });
  const [ns] = namespaces as [string];
  const user = uniqueId("mallory");
  const as = await tenantClients(admin, user, [ns]);
  await createLease(as, ns, "work", { gpus: 8, gpusPerNode: 8, gpuModel: group });
  await leaseWhere(admin, ns, "work", "Active", phaseIs("Active"));
  await createLeasedPod(as, ns, "worker", "work", 8);
  await eventually("tenant pod Running", async () => {
    const pod = await admin.core.readNamespacedPod({ namespace: ns, name: "worker" });
    return pod.status?.phase === "Running" ? pod : undefined;
  });
  return { tenant, ns, node, group, as };
}

/** Takes a step as the tenant; where a policy refuses it (with `expected` in its message), as admin. */
async function asTenantElseAdmin(
  step: (clients: KubeClients) => Promise<unknown>,
  tenant: KubeClients,
  expected: string,
): Promise<void> {
  const refused = await refusal(step(tenant));
  if (refused === undefined) return;
  expect(refused).toContain(expected);
  await step(admin);
}

async function deleteLease(clients: KubeClients, ns: string, name: string) {
  await clients.custom.deleteNamespacedCustomObject({
    group: API_GROUP,
    version: API_VERSION,
    namespace: ns,
    plural: "gpuleases",
    name,
  });
}

async function leaseGone(ns: string, name: string) {
  await eventually(`lease ${ns}/${name} gone`, async () =>
    getLease(admin, ns, name).then(
      () => undefined,
      (e: { code?: number }) => (e.code === 404 ? true : undefined),
    ),
  );
}

describe("relabel, then release (finding 5)", () => {
  it("evicts the orphan after its grace, and internal demand gets the node", async () => {
    const { ns, node, group, as } = await tenantWithRunningPod();
    // The tenant takes its pod out of the lease, then deletes the lease.
    await asTenantElseAdmin(
      (c) =>
        c.core.patchNamespacedPod(
          {
            namespace: ns,
            name: "worker",
            body: [{ op: "remove", path: "/metadata/labels/gpulease.io~1lease" }],
          },
          jsonPatch,
        ),
      as,
      "gpulease.io/lease",
    );
    await deleteLease(as, ns, "work");
    await leaseGone(ns, "work");
    // Internal training needs exactly that node.
    const job = uniqueId("train");
    await createInternalJob(admin, internalNs, job, 1, 8, { "test-group": group });

    // The operator saw the orphan (Event) and does not count its node as free meanwhile.
    const orphaned = await eventually("Orphaned Event", async () => {
      const events = await eventsFor(admin, ns, "worker");
      return events.find((e) => e.reason === "Orphaned");
    });
    expect(orphaned.message).toContain(`runs on lent node ${node} but it carries no gpulease.io/lease label`);
    await operator.waitForLog(`node ${node} is not counted as free`);
    const early = await admin.core.readNamespacedPod({ namespace: ns, name: "worker" });
    expect(early.metadata?.deletionTimestamp).toBeUndefined(); // its grace is not over yet

    // After the grace it is evicted, the node goes back and the internal pod runs there.
    await eventually("the orphan evicted", async () => {
      const pods = await podsOf(admin, ns, "");
      const worker = pods.find((p) => p.metadata?.name === "worker");
      return worker === undefined || worker.metadata?.deletionTimestamp ? true : undefined;
    });
    const scheduled = await eventually(
      "internal pod scheduled on the node",
      async () => {
        const pods = await podsOf(admin, internalNs, `app=${job}`);
        return pods.find((p) => p.spec?.nodeName === node);
      },
      30_000,
    );
    expect(scheduled.spec?.nodeName).toBe(node);
    expect(operator.logs()).toContain("orphan pod on a lent node evicted");
  });
});

describe("strip the finalizer and delete in one breath (finding 6)", () => {
  it("still records the lease's usage in the ledger and evicts its pod", async () => {
    const { tenant, ns, as } = await tenantWithRunningPod();
    await new Promise((r) => setTimeout(r, 1500)); // some GPU-seconds to bill
    // Delete, then strip the finalizer at once: the lease is gone before the operator, which needs a
    // few passes (end it, evict its pods, fold its usage), lets it go. The operator is frozen meanwhile:
    // on a fast run it would otherwise finish those passes first, and the lease would not vanish at all.
    process.kill(operator.pid, "SIGSTOP");
    try {
      await deleteLease(as, ns, "work");
      await asTenantElseAdmin(
        (c) =>
          c.custom.patchNamespacedCustomObject(
            {
              group: API_GROUP,
              version: API_VERSION,
              namespace: ns,
              plural: "gpuleases",
              name: "work",
              body: [{ op: "replace", path: "/metadata/finalizers", value: [] }],
            },
            jsonPatch,
          ),
        as,
        "finalizer",
      );
      await leaseGone(ns, "work");
    } finally {
      process.kill(operator.pid, "SIGCONT");
    }

    const quota = await eventually("the lease's usage in the ledger", async () => {
      const q = await getQuota(admin, tenant);
      return (q.status?.ledger?.retiredLeases ?? 0) >= 1 ? q : undefined;
    });
    expect(quota.status?.ledger?.gpuSeconds ?? 0).toBeGreaterThanOrEqual(8);
    expect(Number(quota.status?.usage?.gpuHours ?? 0)).toBeGreaterThan(0);
    await eventually("the lease's pod evicted", async () => {
      const worker = (await podsOf(admin, ns, "")).find((p) => p.metadata?.name === "worker");
      return worker === undefined || worker.metadata?.deletionTimestamp ? true : undefined;
    });
    const warned = await eventually("LeaseVanished Event on the TenantQuota", async () => {
      const events = await eventsFor(admin, "default", tenant);
      return events.find((e) => e.reason === "LeaseVanished");
    });
    expect(warned.message).toContain("deleted without its finalizer");
  });
});

describe("one tenant's unbindable pods (finding 7)", () => {
  it("binds gated pods that carry their own node-name term, keeping it, and another tenant's pod meanwhile", async () => {
    const { ns, node, as } = await tenantWithRunningPod();
    // 70 GPU-less helpers of the lease, each with a preset term excluding some other node: the
    // operator's pin may only narrow it (a gated pod's affinity cannot lose a term).
    const excluded = uniqueId("elsewhere");
    const helpers = Array.from({ length: 70 }, (_, i) => `helper-${i}`);
    for (const name of helpers)
      await as.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name, labels: { "gpulease.io/lease": "work", app: "helper" } },
          spec: {
            containers: [{ name: "c", image: "x", resources: { requests: { cpu: "1m", memory: "1Mi" } } }],
            terminationGracePeriodSeconds: 1,
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchFields: [{ key: "metadata.name", operator: "NotIn", values: [excluded] }] },
                  ],
                },
              },
            },
          },
        },
      });
    // Another tenant's pod, created after all of them, binds at once.
    const other = await tenantWithRunningPod();
    expect(other.node).not.toBe(node);
    const bound = await eventually(
      "every helper bound, its own term kept",
      async () => {
        const pods = await podsOf(admin, ns, "app=helper");
        const done = pods.filter((p) => p.spec?.nodeName === node);
        return done.length === helpers.length ? pods : undefined;
      },
      45_000,
      500,
    );
    const fields =
      bound[0]?.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
        ?.nodeSelectorTerms?.[0]?.matchFields;
    expect(fields).toEqual([
      { key: "metadata.name", operator: "NotIn", values: [excluded] },
      { key: "metadata.name", operator: "In", values: [node] },
    ]);
    expect(operator.logs()).not.toContain("cannot bind the pod");
  });

  it("backs off a pod whose bind is refused, tells it once, and binds the lease's other pods", async () => {
    const { ns, node, as } = await tenantWithRunningPod();
    // Something the operator cannot know refuses the bind of pods labelled refuse-bind (here an admin's
    // policy; in the attack, the API server's narrowing rule).
    const refused = await refuseBindsOf("security-test.gpulease.io/refuse-bind");
    const helper = (name: string, labels: Record<string, string>) =>
      as.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name, labels: { "gpulease.io/lease": "work", ...labels } },
          spec: {
            containers: [{ name: "c", image: "x", resources: { requests: { cpu: "1m", memory: "1Mi" } } }],
            terminationGracePeriodSeconds: 1,
          },
        },
      });
    await helper("unbindable", { "security-test.gpulease.io/refuse-bind": "true" });
    await helper("bindable", {});
    await eventually("the other pod bound", async () => {
      const pod = await admin.core.readNamespacedPod({ namespace: ns, name: "bindable" });
      return pod.spec?.nodeName === node ? true : undefined;
    });
    const told = await eventually("BindRefused Event", async () => {
      const events = await eventsFor(admin, ns, "unbindable");
      return events.find((e) => e.reason === "BindRefused");
    });
    expect(told.message).toContain(refused);
    const pod = await eventually("GpuLeaseBound=False on the pod", async () => {
      const p = await admin.core.readNamespacedPod({ namespace: ns, name: "unbindable" });
      return p.status?.conditions?.some((c) => c.type === "GpuLeaseBound" && c.status === "False")
        ? p
        : undefined;
    });
    expect(pod.spec?.schedulingGates?.map((g) => g.name)).toContain("gpulease.io/lease");
    // Over 16 s it is tried again (at 5 and 15 s) and told nothing more.
    await new Promise((r) => setTimeout(r, 16_000));
    const events = (await eventsFor(admin, ns, "unbindable")).filter((e) => e.reason === "BindRefused");
    expect(events).toHaveLength(1);
    // One warning line for the pod, however many tries (the Event is logged too, at info).
    const warnings = operator
      .logs()
      .split("\n")
      .filter((l) => l.includes(`"level":"warn"`) && l.includes(`"pod":"unbindable"`));
    expect(warnings).toHaveLength(1);
  }, 60_000);
});

describe("lease priority between tenants (finding 9)", () => {
  it("does not let a tenant shift a reclaim onto another by raising its lease priority", async () => {
    const group = uniqueId("grp");
    await addPool(admin, pool, 2, { labels: { "test-group": group }, product: group });
    const modest = await createTenant(admin, { reclaimNotice: "3s", priority: 50 });
    const pushy = await createTenant(admin, { reclaimNotice: "3s", priority: 50 });
    const [modestNs] = modest.namespaces as [string];
    const [pushyNs] = pushy.namespaces as [string];
    const asModest = await tenantClients(admin, uniqueId("alice"), [modestNs]);
    const asPushy = await tenantClients(admin, uniqueId("mallory"), [pushyNs]);
    // The modest lease has run longer (more work lost if it stops); the pushy one says priority 1000.
    await createLease(asModest, modestNs, "work", { gpus: 8, gpusPerNode: 8, gpuModel: group });
    await leaseWhere(admin, modestNs, "work", "Active", phaseIs("Active"));
    await new Promise((r) => setTimeout(r, 3000));
    await createLease(asPushy, pushyNs, "work", {
      gpus: 8,
      gpusPerNode: 8,
      gpuModel: group,
      priority: 1000,
    });
    await leaseWhere(admin, pushyNs, "work", "Active", phaseIs("Active"));

    await createInternalJob(admin, internalNs, uniqueId("train"), 1, 8, { "test-group": group });
    await reclaimNoticed(admin, pushyNs, "work");
    expect((await getLease(admin, modestNs, "work")).status?.phase).toBe("Active");
  });
});

describe("platform mistakes (finding 10)", () => {
  it("puts back the lent taint an admin removed by hand, with an Event on the node", async () => {
    const { node } = await tenantWithRunningPod();
    const before = await admin.core.readNode({ name: node });
    const others = (before.spec?.taints ?? []).filter((t) => t.key !== "gpulease.io/lent");
    await admin.core.patchNode(
      { name: node, body: [{ op: "replace", path: "/spec/taints", value: others }] },
      jsonPatch,
    );
    await eventually("LentTaintRestored Event", async () => {
      const events = await eventsFor(admin, "default", node);
      return events.some((e) => e.reason === "LentTaintRestored") ? true : undefined;
    });
    const after = await eventually("the taint back", async () => {
      const n = await admin.core.readNode({ name: node });
      return n.spec?.taints?.some((t) => t.key === "gpulease.io/lent") ? n : undefined;
    });
    expect(after.metadata?.labels?.["gpulease.io/state"]).toBe("Lent");
  });

  it("reports an internal pod tolerating everything on a lent node, and the lease turns Ready=False", async () => {
    const group = uniqueId("grp");
    const [node] = (await addPool(admin, pool, 1, { labels: { "test-group": group }, product: group })) as [
      string,
    ];
    const { namespaces } = await createTenant(admin, { reclaimNotice: "3s" });
    const [ns] = namespaces as [string];
    await createLease(admin, ns, "work", { gpus: 4, gpuModel: group });
    await leaseWhere(admin, ns, "work", "Active", phaseIs("Active"));
    await leaseWhere(admin, ns, "work", "Ready", (l) =>
      (l.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    );
    await admin.core.createNamespacedPod({
      namespace: internalNs,
      body: {
        metadata: { name: `greedy-${group}` },
        spec: {
          nodeSelector: { "test-group": group },
          tolerations: [{ operator: "Exists" }],
          terminationGracePeriodSeconds: 1,
          containers: [{ name: "c", image: "x", resources: { limits: { "nvidia.com/gpu": "4" } } }],
        },
      },
    });
    const lease = await leaseWhere(admin, ns, "work", "Ready=False", (l) =>
      (l.status?.conditions ?? []).some((c) => c.type === "Ready" && c.reason === "InternalPodOnNode"),
    );
    const ready = lease.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.status).toBe("False");
    expect(ready?.message).toContain(`4 on ${node}`);
    const nodeEvent = await eventually("InternalPodOnLentNode Event", async () => {
      const events = await eventsFor(admin, "default", node);
      return events.find((e) => e.reason === "InternalPodOnLentNode");
    });
    expect(nodeEvent.message).toContain(`${internalNs}/greedy-${group}`);
  });

  it("reports a tenant's user given edit in a namespace without the tenant label", async () => {
    const { tenant, namespaces } = await createTenant(admin);
    const [ns] = namespaces as [string];
    const user = uniqueId("mallory");
    await tenantClients(admin, user, [ns]);
    const unlabelled = await createTestNamespace(admin, "sandbox");
    await admin.config.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
      namespace: unlabelled,
      body: {
        metadata: { name: `${user}-edit` },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
    });
    const event = await eventually("TenantBoundOutside Event on the TenantQuota", async () => {
      const events = await eventsFor(admin, "default", tenant);
      return events.find((e) => e.reason === "TenantBoundOutside");
    });
    expect(event.message).toContain(
      `RoleBinding ${unlabelled}/${user}-edit gives User/${user} of tenant ${tenant} the role ClusterRole/edit`,
    );
  });
});

describe("dedicated tenants (isolation)", () => {
  it("never places another tenant's lease on a node a Dedicated tenant uses, nor the reverse", async () => {
    const group = uniqueId("grp");
    await addPool(admin, pool, 2, { labels: { "test-group": group }, product: group });
    const shared = await createTenant(admin, { reclaimNotice: "3s" });
    const dedicated = await createTenant(admin, { reclaimNotice: "3s", isolation: "Dedicated" });
    const [sharedNs] = shared.namespaces as [string];
    const [dedicatedNs] = dedicated.namespaces as [string];
    await createLease(admin, sharedNs, "work", { gpus: 4, gpuModel: group });
    const theirs = await leaseWhere(admin, sharedNs, "work", "Active", phaseIs("Active"));
    await createLease(admin, dedicatedNs, "work", { gpus: 4, gpuModel: group });
    const mine = await leaseWhere(admin, dedicatedNs, "work", "Active", phaseIs("Active"));
    const nodesOf = (l: typeof mine) => (l.status?.allocations ?? []).map((a) => a.node);
    expect(nodesOf(mine)).toHaveLength(1);
    expect(nodesOf(theirs)).not.toContain(nodesOf(mine)[0]);
    // A second Shared lease fits only beside the first: the Dedicated tenant's node stays its own.
    await createLease(admin, sharedNs, "more", { gpus: 4, gpuModel: group });
    const more = await leaseWhere(admin, sharedNs, "more", "Active", phaseIs("Active"));
    expect(nodesOf(more)).toEqual(nodesOf(theirs));
  });
});

/**
 * An admin's ValidatingAdmissionPolicy that refuses, as invalid (422), updates to pods carrying `label`
 * that add a required node affinity: the operator's bind. Returns the refusal message, once it acts.
 */
async function refuseBindsOf(label: string): Promise<string> {
  const api = admin.config.makeApiClient(AdmissionregistrationV1Api);
  const name = uniqueId("refuse-bind");
  testPolicies.push(name);
  const message = `binding refused by test policy ${name}`;
  await api.createValidatingAdmissionPolicy({
    body: {
      metadata: { name },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            { apiGroups: [""], apiVersions: ["v1"], operations: ["UPDATE"], resources: ["pods"] },
          ],
        },
        matchConditions: [
          {
            name: "labelled",
            expression: `has(object.metadata.labels) && "${label}" in object.metadata.labels`,
          },
        ],
        validations: [
          {
            expression: "!has(object.spec.affinity) || has(oldObject.spec.affinity)",
            message,
            reason: "Invalid",
          },
        ],
      },
    },
  });
  await api.createValidatingAdmissionPolicyBinding({
    body: { metadata: { name }, spec: { policyName: name, validationActions: ["Deny"] } },
  });
  // The API server loads policies asynchronously: probe with a dry-run update until it refuses.
  const probe = uniqueId("probe");
  await admin.core.createNamespacedPod({
    namespace: internalNs,
    body: {
      metadata: { name: probe, labels: { [label]: "true" } },
      spec: { containers: [{ name: "c", image: "x" }], schedulingGates: [{ name: "test" }] },
    },
  });
  await eventually("the test policy to act", async () => {
    const refusedWith = await refusal(
      admin.core.patchNamespacedPod(
        {
          namespace: internalNs,
          name: probe,
          dryRun: "All",
          body: [
            {
              op: "add",
              path: "/spec/affinity",
              value: {
                nodeAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [
                      { matchFields: [{ key: "metadata.name", operator: "In", values: ["x"] }] },
                    ],
                  },
                },
              },
            },
          ],
        },
        jsonPatch,
      ),
    );
    return refusedWith?.includes(message) ? true : undefined;
  });
  return message;
}

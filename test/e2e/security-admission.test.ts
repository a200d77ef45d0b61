/**
 * Issue 14, admission side: a tenant namespace is a sandbox that ends at its leases' nodes. Each test
 * plays a malicious tenant exactly as the README sets one up (TenantQuota, labelled namespace, the
 * built-in `edit` role, which the project's tenant roles aggregate into) and asserts the refusal the
 * tenant sees, or that nothing lands outside its lease.
 */
import type { V1Pod } from "@kubernetes/client-node";
import {
  AuthorizationV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { describe, expect, inject, it } from "vitest";
import {
  addPool,
  createLease,
  createTenant,
  eventsFor,
  leaseWhere,
  phaseIs,
  uniqueId,
} from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { operatorForThisFile } from "../support/operator-process.ts";
import { refusal, tenantClients } from "../support/tenant-client.ts";

const JSON_PATCH = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
const admin: KubeClients = kubeClients(inject("kubeconfig"));
const { pool } = operatorForThisFile("pool-secadm");

/** A tenant namespace and clients acting as a user with `edit` there. */
async function tenant(spec: Record<string, unknown> = {}) {
  const { tenant: name, namespaces } = await createTenant(admin, spec);
  const [ns] = namespaces as [string];
  const as = await tenantClients(admin, uniqueId("user"), [ns]);
  return { name, ns, as };
}

/** Active leases (name → GPUs) of one tenant on `model`, and the namespace quota raised for them. */
async function activeLeases(ns: string, as: KubeClients, model: string, leases: Record<string, number>) {
  for (const [name, gpus] of Object.entries(leases)) {
    await as.custom.createNamespacedCustomObject({
      group: "gpulease.io",
      version: "v1alpha1",
      namespace: ns,
      plural: "gpuleases",
      body: {
        apiVersion: "gpulease.io/v1alpha1",
        kind: "GpuLease",
        metadata: { name },
        spec: { gpus, gpuModel: model },
      },
    });
  }
  for (const name of Object.keys(leases)) await leaseWhere(admin, ns, name, "Active", phaseIs("Active"));
  const total = Object.values(leases).reduce((a, b) => a + b, 0);
  await eventually("ResourceQuota raised", async () => {
    const rq = await admin.core.readNamespacedResourceQuota({ name: "gpulease", namespace: ns });
    return rq.status?.hard?.["requests.nvidia.com/gpu"] === String(total) ? true : undefined;
  });
}

/**
 * A tenant namespace with an Active 1-GPU lease `room`: the namespace's quota admits pods only while a
 * lease is Active there (README, "Your namespace is a sandbox"). Pods that name another lease stay gated.
 */
async function tenantWithRoom() {
  const model = uniqueId("MODEL");
  await addPool(admin, pool, 1, { product: model });
  const t = await tenant();
  await activeLeases(t.ns, t.as, model, { room: 1 });
  return t;
}

const container = (extra: Record<string, unknown> = {}) => ({
  name: "work",
  image: "registry.example/x:1",
  ...extra,
});
const gpuLimits = (gpus: number) => ({ resources: { limits: { "nvidia.com/gpu": String(gpus) } } });

/** A pod body; `lease` adds the lease label. */
function podBody(name: string, lease: string | undefined, spec: Record<string, unknown> = {}): V1Pod {
  return {
    metadata: { name, ...(lease ? { labels: { "gpulease.io/lease": lease } } : {}) },
    spec: { containers: [container()], terminationGracePeriodSeconds: 1, ...spec },
  } as V1Pod;
}

const createPod = (as: KubeClients, namespace: string, body: V1Pod) =>
  as.core.createNamespacedPod({ namespace, body });

async function eventWith(ns: string, pod: string, reason: string) {
  return eventually(`${reason} Event on ${pod}`, async () =>
    (await eventsFor(admin, ns, pod)).find((e) => e.reason === reason),
  );
}

/** A platform mistake: the tenant's user may also patch pods/resize in `ns`. */
async function grantResize(ns: string, as: KubeClients) {
  const rbac = admin.config.makeApiClient(RbacAuthorizationV1Api);
  const user = as.config.getCurrentUser()?.impersonateUser ?? "";
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: "resize" },
      rules: [{ apiGroups: [""], resources: ["pods/resize"], verbs: ["patch", "update"] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: "resize" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "resize" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    },
  });
  const authorization = admin.config.makeApiClient(AuthorizationV1Api);
  await eventually("pods/resize granted", async () => {
    const review = await authorization.createSubjectAccessReview({
      body: {
        spec: {
          user,
          resourceAttributes: { namespace: ns, verb: "patch", resource: "pods", subresource: "resize" },
        },
      },
    });
    return review.status?.allowed ? true : undefined;
  });
}

describe("security: what a tenant is refused at admission", () => {
  it("finding 1: counts a sidecar's GPUs, so a pod beyond its lease stays gated", async () => {
    const model = uniqueId("MODEL");
    await addPool(admin, pool, 1, { product: model });
    const { ns, as } = await tenant();
    // Two 4-GPU leases: the namespace quota (8) admits the pod; only binding can stop it.
    await activeLeases(ns, as, model, { a: 4, b: 4 });
    await createPod(
      as,
      ns,
      podBody("sidecar-attack", "a", {
        initContainers: [container({ name: "side", restartPolicy: "Always", ...gpuLimits(4) })],
        containers: [container(gpuLimits(4))],
      }),
    );
    const event = await eventWith(ns, "sidecar-attack", "ExceedsLease");
    expect(event.message).toContain("asks for 8 nvidia.com/gpu");
    const pod = await admin.core.readNamespacedPod({ name: "sidecar-attack", namespace: ns });
    expect(pod.spec?.schedulingGates?.map((g) => g.name)).toContain("gpulease.io/lease");
    expect(pod.spec?.nodeName).toBeUndefined();
  });

  it("finding 2: refuses a priority class the platform does not allow, and sets preemptionPolicy Never", async () => {
    const { ns, as } = await tenantWithRoom();
    const message = await refusal(
      createPod(
        as,
        ns,
        podBody("critical", "any", {
          priorityClassName: "system-node-critical",
          nodeSelector: { "gpulease.io/pool": "internal" },
          containers: [container({ resources: { requests: { cpu: "96" } } })],
        }),
      ),
    );
    expect(message).toContain("has priority 2000001000 (priority class system-node-critical)");
    expect(message).toContain("only with a priority class the platform allows (none)");
    const plain = await createPod(as, ns, podBody("plain", "any"));
    expect(plain.spec?.preemptionPolicy).toBe("Never");
  });

  it("finding 3: refuses spec.nodeName, foreign tolerations and named nodes, saying why", async () => {
    const { ns, as } = await tenantWithRoom();
    const [internal] = await addPool(admin, `${pool}-internal`, 1);
    // The attack as found: a CPU-only pod without the lease label, straight onto an internal node.
    expect(await refusal(createPod(as, ns, podBody("by-name", undefined, { nodeName: internal })))).toContain(
      "has no gpulease.io/lease label",
    );
    // With the label it is gated, and the API server itself refuses a node name on a gated pod.
    expect(await refusal(createPod(as, ns, podBody("by-name", "any", { nodeName: internal })))).toContain(
      "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared",
    );
    expect(
      await refusal(
        createPod(
          as,
          ns,
          podBody("tolerate-all", "any", {
            tolerations: [{ operator: "Exists" }],
            nodeSelector: { "gpulease.io/pool": `${pool}-internal` },
          }),
        ),
      ),
    ).toContain("tolerates taints other than gpulease.io/lent (every taint)");
    expect(
      await refusal(
        createPod(
          as,
          ns,
          podBody("hostname", "any", { nodeSelector: { "kubernetes.io/hostname": internal } }),
        ),
      ),
    ).toContain("names nodes in its node selector or node affinity");
    const pinned = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchFields: [{ key: "metadata.name", operator: "In", values: [internal] }] },
          ],
        },
      },
    };
    expect(await refusal(createPod(as, ns, podBody("affinity", "any", { affinity: pinned })))).toContain(
      "names nodes in its node selector or node affinity",
    );
    // The tolerations a tenant pod may carry: the lent-node one (added for it) and the defaults.
    const allowed = await createPod(as, ns, podBody("ok", "any"));
    expect(allowed.spec?.tolerations?.map((t) => t.key).sort()).toEqual([
      "gpulease.io/lent",
      "node.kubernetes.io/not-ready",
      "node.kubernetes.io/unreachable",
    ]);
  });

  it("finding 3: refuses a pod without the lease label, and any change of the label or of its placement", async () => {
    const { ns, as } = await tenantWithRoom();
    expect(await refusal(createPod(as, ns, podBody("helper", undefined)))).toContain(
      "has no gpulease.io/lease label: in a tenant namespace every pod, with or without GPUs",
    );
    await createPod(as, ns, podBody("helper", "mine"));
    const patch = (body: unknown[]) =>
      as.core.patchNamespacedPod({ name: "helper", namespace: ns, body }, JSON_PATCH);
    expect(await refusal(patch([{ op: "remove", path: "/metadata/labels/gpulease.io~1lease" }]))).toContain(
      "the gpulease.io/lease label of pod helper cannot change (from 'mine' to '')",
    );
    expect(
      await refusal(patch([{ op: "replace", path: "/metadata/labels/gpulease.io~1lease", value: "other" }])),
    ).toContain("cannot change (from 'mine' to 'other')");
    expect(
      await refusal(
        patch([{ op: "add", path: "/spec/nodeSelector", value: { "gpulease.io/pool": "internal" } }]),
      ),
    ).toContain("the node selector and node affinity of pod helper cannot change");
  });

  it("finding 3: gates a GPU-less pod and pins it to its lease's node", async () => {
    const model = uniqueId("MODEL");
    const [node] = await addPool(admin, pool, 1, { product: model });
    const { ns, as } = await tenant();
    await activeLeases(ns, as, model, { work: 2 });
    const created = await createPod(as, ns, podBody("helper", "work"));
    expect(created.spec?.schedulingGates?.map((g) => g.name)).toContain("gpulease.io/lease");
    const bound = await eventually("helper bound", async () => {
      const pod = await admin.core.readNamespacedPod({ name: "helper", namespace: ns });
      return pod.spec?.nodeName ? pod : undefined;
    });
    expect(bound.spec?.nodeName).toBe(node);
  });

  it("finding 4: caps a namespace's CPU at its Active leases' share, and gives a pod without requests defaults", async () => {
    const model = uniqueId("MODEL");
    await addPool(admin, pool, 1, { product: model, cpu: "96" });
    const { ns, as } = await tenant();
    // Half the node's GPUs: half its 96 CPUs, 1 TiB and 110 pods.
    await activeLeases(ns, as, model, { half: 4 });
    const quota = await admin.core.readNamespacedResourceQuota({ name: "gpulease", namespace: ns });
    expect(quota.spec?.hard).toMatchObject({
      "requests.cpu": "48",
      "requests.memory": String(2 ** 39),
      pods: "55",
    });
    const cpu = (n: string) => [container({ resources: { requests: { cpu: n } } })];
    const beyond = await refusal(createPod(as, ns, podBody("beyond", "half", { containers: cpu("49") })));
    expect(beyond).toContain("exceeded quota: gpulease, requested: requests.cpu=49");
    expect(beyond).toContain("limited: requests.cpu=48");
    await createPod(as, ns, podBody("within", "half", { containers: cpu("40") }));
    // No requests at all: the operator's LimitRange gives defaults, which the quota counts.
    const plain = await createPod(as, ns, podBody("plain", "half"));
    expect(plain.spec?.containers[0]?.resources?.requests).toEqual({ cpu: "100m", memory: "128Mi" });
    await eventually("both pods bound", async () => {
      const pods = await Promise.all(
        ["within", "plain"].map((name) => admin.core.readNamespacedPod({ name, namespace: ns })),
      );
      return pods.every((p) => p.spec?.nodeName !== undefined) ? true : undefined;
    });
  });

  it("finding 4: keeps a GPU-less pod within its lease's share of a shared node", async () => {
    const model = uniqueId("MODEL");
    await addPool(admin, pool, 1, { product: model, cpu: "96" });
    const acme = await tenant();
    const globex = await tenant();
    // acme's two leases give its namespace 72 CPUs of quota, of which lease "half" has 48 on the node:
    // the quota admits a 60-CPU pod of "half", binding keeps it within its lease's share.
    await activeLeases(acme.ns, acme.as, model, { half: 4, quarter: 2 });
    await activeLeases(globex.ns, globex.as, model, { quarter: 2 });
    await createPod(
      acme.as,
      acme.ns,
      podBody("hog", "half", { containers: [container({ resources: { requests: { cpu: "60" } } })] }),
    );
    const event = await eventWith(acme.ns, "hog", "ExceedsLeaseShare");
    expect(event.message).toContain("asks for 60 CPU");
    expect(event.message).toContain("at most 48 CPU");
    await createPod(
      globex.as,
      globex.ns,
      podBody("trainer", "quarter", {
        containers: [
          container({ resources: { limits: { "nvidia.com/gpu": "2" }, requests: { cpu: "20" } } }),
        ],
      }),
    );
    await eventually("the other tenant's GPU pod Running", async () => {
      const pod = await admin.core.readNamespacedPod({ name: "trainer", namespace: globex.ns });
      return pod.status?.phase === "Running" ? true : undefined;
    });
  });

  it("finding 4: refuses an in-place resize, which would grow a pod past its lease's share", async () => {
    const { ns, as } = await tenantWithRoom();
    await createPod(
      as,
      ns,
      podBody("small", "any", { containers: [container({ resources: { requests: { cpu: "1" } } })] }),
    );
    const resize = () =>
      as.core.patchNamespacedPodResize(
        {
          name: "small",
          namespace: ns,
          body: [{ op: "replace", path: "/spec/containers/0/resources/requests/cpu", value: "96" }],
        },
        JSON_PATCH,
      );
    // edit does not grant pods/resize; a platform that grants it still has the policy.
    expect(await refusal(resize())).toContain('cannot patch resource "pods/resize"');
    await grantResize(ns, as);
    expect(await refusal(resize())).toContain("pod small cannot be resized in a tenant namespace");
  });

  it("finding 6: refuses a tenant's removal of the lease finalizer", async () => {
    const { ns, as } = await tenant();
    await createLease(admin, ns, "mine", { gpus: 1, gpuModel: uniqueId("NO-SUCH-MODEL") });
    const lease = {
      group: "gpulease.io",
      version: "v1alpha1",
      namespace: ns,
      plural: "gpuleases",
      name: "mine",
    };
    await eventually("finalizer set", async () => {
      const got = (await admin.custom.getNamespacedCustomObject(lease)) as {
        metadata?: { finalizers?: string[] };
      };
      return got.metadata?.finalizers?.includes("gpulease.io/finalizer") ? true : undefined;
    });
    const message = await refusal(
      as.custom.patchNamespacedCustomObject(
        { ...lease, body: [{ op: "replace", path: "/metadata/finalizers", value: [] }] },
        JSON_PATCH,
      ),
    );
    expect(message).toContain(
      "only the gpulease operator removes the gpulease.io/finalizer finalizer of GpuLease mine",
    );
    // Deleting the lease stays the tenant's way out.
    await as.custom.deleteNamespacedCustomObject(lease);
  });

  it("finding 8: refuses DRA resource claims in a tenant namespace", async () => {
    const { ns, as } = await tenant();
    const message = await refusal(
      createPod(
        as,
        ns,
        podBody("dra", "any", {
          resourceClaims: [{ name: "gpu", resourceClaimTemplateName: "one-gpu" }],
          containers: [container({ resources: { claims: [{ name: "gpu" }] } })],
        }),
      ),
    );
    expect(message).toContain("uses DRA resourceClaims: gpulease does not lend devices through");
    const claim = await refusal(
      as.custom.createNamespacedCustomObject({
        group: "resource.k8s.io",
        version: "v1",
        namespace: ns,
        plural: "resourceclaims",
        body: {
          apiVersion: "resource.k8s.io/v1",
          kind: "ResourceClaim",
          metadata: { name: "gpu" },
          spec: { devices: { requests: [{ name: "gpu", exactly: { deviceClassName: "gpu.example.com" } }] } },
        },
      }),
    );
    expect(claim).toContain("DRA ResourceClaim gpu refused");
  });
});

describe("security: attacks that already held", () => {
  it("refuses the tenant's removal of the scheduling gate", async () => {
    const { ns, as } = await tenantWithRoom();
    await createPod(as, ns, podBody("gated", "waiting"));
    const message = await refusal(
      as.core.patchNamespacedPod(
        { name: "gated", namespace: ns, body: [{ op: "remove", path: "/spec/schedulingGates" }] },
        JSON_PATCH,
      ),
    );
    expect(message).toContain("only the gpulease operator removes the gpulease.io/lease scheduling gate");
  });

  it("keeps a pod naming another tenant's lease gated: leases are looked up in the pod's namespace", async () => {
    const model = uniqueId("MODEL");
    await addPool(admin, pool, 1, { product: model });
    const victim = await tenant();
    await activeLeases(victim.ns, victim.as, model, { shared: 1 });
    const thief = await tenantWithRoom();
    await createPod(thief.as, thief.ns, podBody("thief", "shared"));
    const event = await eventWith(thief.ns, "thief", "LeaseNotFound");
    expect(event.message).toContain(`no GpuLease named shared in namespace ${thief.ns}`);
    const pod = await admin.core.readNamespacedPod({ name: "thief", namespace: thief.ns });
    expect(pod.spec?.nodeName).toBeUndefined();
  });

  it("refuses a tenant's pods/binding", async () => {
    const { ns, as } = await tenantWithRoom();
    await createPod(as, ns, podBody("bind-me", "any"));
    const message = await refusal(
      as.core.createNamespacedPodBinding({
        name: "bind-me",
        namespace: ns,
        body: { metadata: { name: "bind-me" }, target: { kind: "Node", name: "any-node" } },
      }),
    );
    expect(message).toMatch(/forbidden.*pods\/binding/);
  });
});

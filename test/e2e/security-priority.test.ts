/**
 * Issue 14, finding 2 from the configuration: the priority classes tenant pods may use are the
 * operator configuration's `tenantPriorityClasses`. The operator keeps them in the ConfigMap the
 * validating policy reads, and in a ResourceQuota of every tenant namespace that refuses pods of any
 * other class even when the policy is gone. Plays the tenant with `edit`, as the README sets it up.
 */
import type { V1Pod } from "@kubernetes/client-node";
import {
  AdmissionregistrationV1Api,
  PatchStrategy,
  SchedulingV1Api,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { installPolicies } from "../support/crds.ts";
import { addPool, createLease, createTenant, leaseWhere, phaseIs, uniqueId } from "../support/gpulease.ts";
import { eventually, type KubeClients, kubeClients } from "../support/kube.ts";
import { operatorForThisFile } from "../support/operator-process.ts";
import { refusal, tenantClients } from "../support/tenant-client.ts";

const JSON_PATCH = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
const admin: KubeClients = kubeClients(inject("kubeconfig"));
const scheduling = admin.config.makeApiClient(SchedulingV1Api);
const admission = admin.config.makeApiClient(AdmissionregistrationV1Api);

// Fixed names: the operator's configuration is written before the file runs.
const ALLOWED = "gpulease-e2e-tenant-high";
const PREEMPTING = "gpulease-e2e-tenant-preempting";
const FORBIDDEN = "gpulease-e2e-internal-high";
const { pool } = operatorForThisFile("pool-secprio", { tenantPriorityClasses: [PREEMPTING, ALLOWED] });

beforeAll(async () => {
  const classes = [
    { metadata: { name: ALLOWED }, value: 1000, preemptionPolicy: "Never" },
    { metadata: { name: PREEMPTING }, value: 1000 },
    { metadata: { name: FORBIDDEN }, value: 100000, preemptionPolicy: "Never" },
  ];
  for (const body of classes) {
    await scheduling.deletePriorityClass({ name: body.metadata.name }).catch(() => undefined);
    await scheduling.createPriorityClass({ body });
  }
});
afterAll(async () => {
  for (const name of [ALLOWED, PREEMPTING, FORBIDDEN]) await scheduling.deletePriorityClass({ name });
});

/** A tenant namespace with an Active 1-GPU lease, so its quota admits pods (of other leases, gated). */
async function tenant() {
  const model = uniqueId("MODEL");
  await addPool(admin, pool, 1, { product: model });
  const { namespaces } = await createTenant(admin);
  const [ns] = namespaces as [string];
  await createLease(admin, ns, "room", { gpus: 1, gpuModel: model });
  await leaseWhere(admin, ns, "room", "Active", phaseIs("Active"));
  await eventually("the namespace's quota raised", async () => {
    const rq = await admin.core.readNamespacedResourceQuota({ name: "gpulease", namespace: ns });
    return Number(rq.status?.hard?.pods ?? 0) > 0 ? true : undefined;
  });
  return { ns, as: await tenantClients(admin, uniqueId("user"), [ns]) };
}

/** A pod with the lease label (so the pod policy admits it, gated); `priorityClassName` if given. */
const podBody = (name: string, priorityClassName?: string): V1Pod =>
  ({
    metadata: { name, labels: { "gpulease.io/lease": "any" } },
    spec: {
      containers: [{ name: "work", image: "registry.example/x:1" }],
      terminationGracePeriodSeconds: 1,
      ...(priorityClassName ? { priorityClassName } : {}),
    },
  }) as V1Pod;

const createPod = (as: KubeClients, namespace: string, body: V1Pod) =>
  as.core.createNamespacedPod({ namespace, body });

const CONFIG = { name: "gpulease-tenant-admission", namespace: "gpulease-system" };
const allowList = async () => (await admin.core.readNamespacedConfigMap(CONFIG)).data?.allowedPriorityClasses;

describe("security: priority classes from the operator configuration (finding 2)", () => {
  it("keeps the policy's allow-list equal to the configuration, and puts it back after an edit", async () => {
    // Shipped without the list (none): the operator writes the configuration's, sorted.
    await eventually("the configured allow-list", async () =>
      (await allowList()) === `${ALLOWED},${PREEMPTING}` ? true : undefined,
    );
    await admin.core.patchNamespacedConfigMap(
      {
        ...CONFIG,
        body: [{ op: "replace", path: "/data/allowedPriorityClasses", value: "system-node-critical" }],
      },
      JSON_PATCH,
    );
    await eventually("the allow-list put back", async () =>
      (await allowList()) === `${ALLOWED},${PREEMPTING}` ? true : undefined,
    );
  });

  it("admits a class the configuration allows if it never preempts, and refuses any other", async () => {
    const { ns, as } = await tenant();
    expect(await refusal(createPod(as, ns, podBody("forbidden", FORBIDDEN)))).toContain(
      `only with a priority class the platform allows (${ALLOWED}, ${PREEMPTING})`,
    );
    const created = await eventually("the allow-list to act", async () =>
      createPod(as, ns, podBody("high", ALLOWED)).catch(() => undefined),
    );
    expect(created.spec?.priority).toBe(1000);
    expect(created.spec?.preemptionPolicy).toBe("Never");
    expect(await refusal(createPod(as, ns, podBody("preempting", PREEMPTING)))).toContain(
      `pod preempting may preempt other pods (priority class ${PREEMPTING})`,
    );
  });

  it("refuses another class by the namespace's quota when the policies are gone", async () => {
    const { ns, as } = await tenant();
    const quota = await eventually("the priority quota", async () =>
      admin.core.readNamespacedResourceQuota({ name: "gpulease-priority", namespace: ns }),
    );
    expect(quota.spec?.scopeSelector?.matchExpressions?.map((term) => ({ ...term }))).toEqual([
      { scopeName: "PriorityClass", operator: "Exists" },
      { scopeName: "PriorityClass", operator: "NotIn", values: [ALLOWED, PREEMPTING, "gpulease-tenant"] },
    ]);
    // With the policy, the refusal is the policy's: the quota is the line behind it.
    expect(await refusal(createPod(as, ns, podBody("with-policy", FORBIDDEN)))).toContain(
      "only with a priority class the platform allows",
    );
    await admission.deleteValidatingAdmissionPolicyBinding({ name: "gpulease-tenant-priority" });
    await admission.deleteMutatingAdmissionPolicyBinding({ name: "gpulease-tenant-preemption" });
    try {
      const message = await eventually("the policy to stop acting", async () => {
        const text = await refusal(createPod(as, ns, podBody("forbidden", FORBIDDEN)));
        return text?.includes("exceeded quota") ? text : undefined;
      });
      expect(message).toContain(
        "exceeded quota: gpulease-priority, requested: pods=1, used: pods=0, limited: pods=0",
      );
      expect((await createPod(as, ns, podBody("allowed", ALLOWED))).spec?.priorityClassName).toBe(ALLOWED);
      // A pod that names no class (no mutation gives it one now) is outside the quota's scope.
      const plain = await eventually("a pod without a class", async () => {
        const pod = await createPod(as, ns, podBody(uniqueId("plain")));
        if (pod.spec?.priorityClassName === undefined) return pod;
        await admin.core.deleteNamespacedPod({ name: pod.metadata?.name ?? "", namespace: ns });
        return undefined;
      });
      expect(plain.spec?.priority).toBe(0);
    } finally {
      await installPolicies(inject("kubeconfig")); // applies every policy again and waits until they act
    }
  });
});

/**
 * Kueue's objects (kueue.x-k8s.io/v1beta2), for gpulease's AdmissionCheck controller: whether Kueue is
 * installed, the Workloads that wait on a check of gpulease as views the core decides from, and the
 * two writes (a Workload's check state, an AdmissionCheck's Active condition).
 */
import {
  type CheckState,
  KUEUE_CHECK_CONTROLLER,
  type KueueCheckWrite,
  type KueueSnapshot,
  type KueueWorkloadView,
  workloadGroup,
} from "../core/kueue-check.ts";
import type { PodView } from "../core/model.ts";
import { toPodView } from "./convert.ts";
import { NotFoundError } from "./errors.ts";
import type { KubeObject, KubeRest } from "./rest.ts";

const GROUP_VERSION = "kueue.x-k8s.io/v1beta2";
const BASE = `/apis/${GROUP_VERSION}`;

export const kueuePaths = {
  workloads: () => `${BASE}/workloads`,
  workloadStatus: (ns: string, name: string) => `${BASE}/namespaces/${ns}/workloads/${name}/status`,
  admissionChecks: () => `${BASE}/admissionchecks`,
  admissionCheckStatus: (name: string) => `${BASE}/admissionchecks/${name}/status`,
  resourceFlavors: () => `${BASE}/resourceflavors`,
};

/**
 * Whether the API server serves Kueue's Workloads, AdmissionChecks and ResourceFlavors (its CRDs are
 * installed). Read once at start: without Kueue the operator runs as it always did. An API server that
 * does not answer yet is asked again (1 s doubling to 5 s), as the informers would wait for it anyway.
 */
export async function kueueInstalled(
  rest: Pick<KubeRest, "get">,
  onRetry: (error: unknown) => void = () => {},
  firstDelayMs = 1000,
): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      const list = await rest.get<{ resources?: { name?: string }[] }>(BASE);
      const names = new Set((list.resources ?? []).map((r) => r.name));
      return ["workloads", "admissionchecks", "resourceflavors"].every((n) => names.has(n));
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      onRetry(error);
      await new Promise((r) => setTimeout(r, Math.min(5000, firstDelayMs * 2 ** attempt)));
    }
  }
}

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (value && typeof value === "object" ? (value as Json) : {});
const arr = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const CHECK_STATES: readonly string[] = ["Pending", "Ready", "Retry", "Rejected"];

const conditionTrue = (status: Json, type: string) =>
  arr(status.conditions).some((c) => c.type === type && c.status === "True");

/** The AdmissionChecks whose controllerName is gpulease's, and whether each is Active already. */
export function ourAdmissionChecks(checks: Iterable<KubeObject>): { name: string; active: boolean }[] {
  const out: { name: string; active: boolean }[] = [];
  for (const check of checks) {
    if (str(obj(check.spec).controllerName) !== KUEUE_CHECK_CONTROLLER) continue;
    out.push({ name: check.metadata?.name ?? "", active: conditionTrue(obj(check.status), "Active") });
  }
  return out;
}

/**
 * A Workload waiting on one of `checks`, as the core sees it: undefined unless its quota is reserved,
 * it is not finished, and its status lists one of those checks (an admitted one says since when). Each pod set becomes
 * `count` pods with its template's requests, node selector and tolerations, plus the node labels and
 * tolerations of the flavors Kueue assigned it.
 */
export function toKueueWorkloadView(
  raw: KubeObject,
  checks: ReadonlySet<string>,
  flavors: ReadonlyMap<string, KubeObject>,
  resourceNames: string[],
): KueueWorkloadView | undefined {
  const metadata = obj(raw.metadata);
  const spec = obj(raw.spec);
  const status = obj(raw.status);
  if (!conditionTrue(status, "QuotaReserved") || conditionTrue(status, "Finished")) return undefined;
  const admitted = arr(status.conditions).find((c) => c.type === "Admitted" && c.status === "True");
  const owner = arr(metadata.ownerReferences).find((o) => o.kind === "Job" && o.controller === true);
  const entry = arr(status.admissionChecks).find((c) => checks.has(str(c.name) ?? ""));
  if (!entry) return undefined;
  const namespace = str(metadata.namespace) ?? "";
  const name = str(metadata.name) ?? "";
  const createdAt = Date.parse(str(metadata.creationTimestamp) ?? "") || 0;
  const assignments = new Map(
    arr(obj(status.admission).podSetAssignments).map((a) => [str(a.name) ?? "", a]),
  );
  const pods: PodView[] = [];
  for (const podSet of arr(spec.podSets)) {
    const setName = str(podSet.name) ?? "main";
    const assignment = assignments.get(setName) ?? {};
    const count = Number(assignment.count ?? podSet.count ?? 1);
    const template = obj(podSet.template);
    const podSpec = { ...obj(template.spec) };
    const nodeSelector: Record<string, string> = { ...(obj(podSpec.nodeSelector) as Record<string, string>) };
    const tolerations = [...arr(podSpec.tolerations)];
    for (const flavorName of new Set(Object.values(obj(assignment.flavors)).map(String))) {
      const flavor = obj(flavors.get(flavorName)?.spec);
      Object.assign(nodeSelector, obj(flavor.nodeLabels));
      tolerations.push(...arr(flavor.tolerations));
    }
    podSpec.nodeSelector = nodeSelector;
    podSpec.tolerations = tolerations;
    const template0 = toPodView(
      { metadata: { namespace, name: `${name}-${setName}`, uid: "" }, spec: podSpec },
      resourceNames,
    );
    for (let i = 0; i < count; i++) {
      pods.push({
        ...template0,
        name: `${name}/${setName}-${i}`,
        uid: `${str(metadata.uid) ?? name}/${setName}/${i}`,
        createdAt,
        unschedulable: true,
        unschedulableSince: createdAt,
        group: workloadGroup(name),
        groupSize: 0,
      });
    }
  }
  for (const pod of pods) pod.groupSize = pods.length;
  const state = str(entry.state) ?? "Pending";
  return {
    namespace,
    name,
    uid: str(metadata.uid) ?? "",
    createdAt,
    check: str(entry.name) ?? "",
    state: (CHECK_STATES.includes(state) ? state : "Pending") as CheckState,
    message: str(entry.message) ?? "",
    pods,
    ...(admitted ? { admittedAt: Date.parse(str(admitted.lastTransitionTime) ?? "") || 0 } : {}),
    ...(owner ? { jobGroup: `job/${str(owner.name)}` } : {}),
  };
}

export function toKueueSnapshot(
  sources: {
    workloads: Iterable<KubeObject>;
    admissionChecks: Iterable<KubeObject>;
    flavors: Iterable<KubeObject>;
  },
  resourceNames: string[],
): KueueSnapshot {
  const admissionChecks = ourAdmissionChecks(sources.admissionChecks);
  const names = new Set(admissionChecks.map((c) => c.name));
  const flavors = new Map([...sources.flavors].map((f) => [f.metadata?.name ?? "", f]));
  const workloads: KueueWorkloadView[] = [];
  if (names.size > 0) {
    for (const raw of sources.workloads) {
      const view = toKueueWorkloadView(raw, names, flavors, resourceNames);
      if (view) workloads.push(view);
    }
  }
  return { workloads, admissionChecks };
}

/**
 * Kueue's own check controllers write their entry of `status.admissionChecks` (a list-map keyed by
 * name) by server-side apply of the status subresource; so does gpulease, with its own field manager,
 * applying only its own entry: Kueue's entries and conditions stay Kueue's.
 */
export async function writeCheckState(
  rest: KubeRest,
  write: KueueCheckWrite,
  now: Date,
): Promise<KubeObject> {
  return rest.patch(
    kueuePaths.workloadStatus(write.namespace, write.name),
    "apply",
    {
      apiVersion: GROUP_VERSION,
      kind: "Workload",
      metadata: { namespace: write.namespace, name: write.name },
      status: {
        admissionChecks: [
          {
            name: write.check,
            state: write.state,
            message: write.message.slice(0, 32_768),
            lastTransitionTime: now.toISOString().replace(/\.\d+Z$/, "Z"),
          },
        ],
      },
    },
    true,
  );
}

/** The AdmissionCheck's Active condition: Kueue holds Workloads of an inactive check back. */
export async function activateAdmissionCheck(rest: KubeRest, name: string, now: Date): Promise<KubeObject> {
  return rest.patch(
    kueuePaths.admissionCheckStatus(name),
    "apply",
    {
      apiVersion: GROUP_VERSION,
      kind: "AdmissionCheck",
      metadata: { name },
      status: {
        conditions: [
          {
            type: "Active",
            status: "True",
            reason: "Active",
            message:
              "gpulease reclaims lent GPUs, with the tenants' notice, for Workloads that use this check",
            lastTransitionTime: now.toISOString().replace(/\.\d+Z$/, "Z"),
          },
        ],
      },
    },
    true,
  );
}

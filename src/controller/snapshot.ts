/**
 * Builds the core's ClusterSnapshot from the informer caches. Conversions are memoized per object
 * resourceVersion, so a replan after one change converts one object, not ten thousand.
 */
import type {
  ClusterSnapshot,
  LeaseView,
  MalformedObject,
  NamespaceView,
  NodeView,
  PodView,
  PoolSettings,
  QuotaView,
  VanishedLease,
} from "../core/model.ts";
import {
  formatQuotaAmount,
  LIMIT_RANGE_NAME,
  QUOTA_CPU,
  RESOURCE_QUOTA_NAME,
} from "../core/resource-quotas.ts";
import type { RoleBindingView } from "../core/tenant-bindings.ts";
import {
  ALLOWED_PRIORITY_CLASSES_KEY,
  PRIORITY_QUOTA_NAME,
  TENANT_ADMISSION_CONFIGMAP,
} from "../core/tenant-priority.ts";
import {
  type ConvertSettings,
  isMalformed,
  jobPodsAtOnce,
  toLeaseView,
  toNamespaceView,
  toNodeView,
  toPodView,
  toQuotaView,
} from "../kube/convert.ts";
import { type Informer, objectKey } from "../kube/informer.ts";
import { toKueueSnapshot } from "../kube/kueue.ts";
import { parseQuantity } from "../kube/quantity.ts";
import { toRoleBindingView } from "../kube/rbac-view.ts";
import type { KubeObject } from "../kube/rest.ts";

/**
 * Quota limits as the API server writes them back (canonical quantities: "2" for "2000m", "1Gi" for
 * 1073741824) in the operator's own notation, so the plan compares like with like.
 */
function inOperatorNotation(hard: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(hard).map(([key, value]) => {
      const amount = Math.round(parseQuantity(value) * (key === QUOTA_CPU ? 1000 : 1));
      return [key, formatQuotaAmount(key, amount)];
    }),
  );
}

class Memo<V> {
  private readonly cache = new Map<string, { rv: string | undefined; value: V }>();

  constructor(private readonly convert: (raw: KubeObject) => V) {}

  /** One object's view: the cached one while its resourceVersion is the same, else converted and cached. */
  view(raw: KubeObject): V {
    const key = objectKey(raw);
    const rv = raw.metadata?.resourceVersion;
    const hit = this.cache.get(key);
    if (hit && hit.rv === rv && rv !== undefined) return hit.value;
    const value = this.convert(raw);
    this.cache.set(key, { rv, value });
    return value;
  }

  all(objects: Iterable<KubeObject>): V[] {
    const out: V[] = [];
    const seen = new Set<string>();
    for (const raw of objects) {
      seen.add(objectKey(raw));
      out.push(this.view(raw));
    }
    if (this.cache.size > seen.size)
      for (const key of this.cache.keys()) if (!seen.has(key)) this.cache.delete(key);
    return out;
  }
}

export interface SnapshotSources {
  nodes: Informer;
  pods: Informer;
  namespaces: Informer;
  leases: Informer;
  quotas: Informer;
  /** Internal Jobs (slimmed), for the size of each Job's demand. */
  jobs?: Informer;
  /** The ResourceQuotas the operator keeps, so the plan writes only those that differ. */
  resourceQuotas?: Informer;
  /** The LimitRanges the operator keeps (default requests in tenant namespaces). */
  limitRanges?: Informer;
  /** RoleBindings, to report a tenant's users bound in namespaces without the tenant label. */
  roleBindings?: Informer;
  /** The ConfigMap gpulease-tenant-admission alone, in the operator's namespace. */
  tenantAdmission?: { informer: Informer; namespace: string };
  /** Kueue's Workloads, AdmissionChecks and ResourceFlavors, when Kueue is installed. */
  kueue?: { workloads: Informer; admissionChecks: Informer; flavors: Informer };
}

export class SnapshotBuilder {
  private readonly nodes: Memo<NodeView>;
  private readonly pods: Memo<PodView>;
  private readonly namespaces = new Memo<NamespaceView>(toNamespaceView);
  private readonly roleBindings = new Memo<RoleBindingView>(toRoleBindingView);
  private readonly leases = new Memo<LeaseView | MalformedObject>(toLeaseView);
  private readonly quotas = new Memo<QuotaView | MalformedObject>(toQuotaView);
  /** Every lease as last built, by uid: the operator's own record of a lease deleted under it. */
  private lastLeases = new Map<string, LeaseView>();
  private readonly vanished = new Map<string, VanishedLease>();

  constructor(
    private readonly sources: SnapshotSources,
    private readonly convert: ConvertSettings,
    private readonly settings: PoolSettings,
  ) {
    this.nodes = new Memo((raw) => toNodeView(raw, convert));
    this.pods = new Memo((raw) => toPodView(raw, convert.resourceNames));
  }

  /** The planner's view of a node, as the next snapshot will hold it (converted once per version). */
  nodeView(raw: KubeObject): NodeView {
    return this.nodes.view(raw);
  }

  /** The planner's view of a pod, as the next snapshot will hold it (converted once per version). */
  podView(raw: KubeObject): PodView {
    return this.pods.view(raw);
  }

  /** Pods each Job runs at once, by the demand key its pods carry (`namespace/job/name`). */
  private jobSizes(): Map<string, number> {
    const sizes = new Map<string, number>();
    for (const job of this.sources.jobs?.store.values() ?? []) {
      sizes.set(`${job.metadata?.namespace}/job/${job.metadata?.name}`, jobPodsAtOnce(job));
    }
    return sizes;
  }

  private resourceQuotas(informer: Informer): { namespace: string; hard: Record<string, string> }[] {
    return [...informer.store.values()]
      .filter((raw) => raw.metadata?.name === RESOURCE_QUOTA_NAME)
      .map((raw) => ({
        namespace: raw.metadata?.namespace ?? "",
        hard: inOperatorNotation(
          ((raw.spec as { hard?: Record<string, string> } | undefined)?.hard ?? {}) as Record<string, string>,
        ),
      }));
  }

  /** The default requests of the operator's LimitRanges (their Container item). */
  private limitRanges(informer: Informer): { namespace: string; defaultRequest: Record<string, string> }[] {
    return [...informer.store.values()]
      .filter((raw) => raw.metadata?.name === LIMIT_RANGE_NAME)
      .map((raw) => {
        const limits =
          (raw.spec as { limits?: { type?: string; defaultRequest?: Record<string, string> }[] } | undefined)
            ?.limits ?? [];
        // Any other shape (edited by hand) reads as no defaults, and is rewritten.
        const item = limits.length === 1 && limits[0]?.type === "Container" ? limits[0] : undefined;
        return { namespace: raw.metadata?.namespace ?? "", defaultRequest: item?.defaultRequest ?? {} };
      });
  }

  /** The priority quotas, with the classes their NotIn term leaves out of the scope. */
  private priorityQuotas(informer: Informer): { namespace: string; allowedClasses: string[] }[] {
    return [...informer.store.values()]
      .filter((raw) => raw.metadata?.name === PRIORITY_QUOTA_NAME)
      .map((raw) => {
        const spec = (raw.spec ?? {}) as {
          hard?: Record<string, string>;
          scopeSelector?: {
            matchExpressions?: { scopeName?: string; operator?: string; values?: string[] }[];
          };
        };
        const terms = spec.scopeSelector?.matchExpressions ?? [];
        const notIn = terms.find((t) => t.scopeName === "PriorityClass" && t.operator === "NotIn");
        const exists = terms.some((t) => t.scopeName === "PriorityClass" && t.operator === "Exists");
        // Any other shape (edited by hand) is rewritten: it reads as allowing nothing known.
        const intact = spec.hard?.pods === "0" && exists && notIn !== undefined && terms.length === 2;
        return {
          namespace: raw.metadata?.namespace ?? "",
          allowedClasses: intact ? (notIn.values ?? []) : [],
        };
      });
  }

  private tenantAdmission(source: { informer: Informer; namespace: string }) {
    const raw = source.informer.get(`${source.namespace}/${TENANT_ADMISSION_CONFIGMAP}`);
    const data = (raw?.data ?? {}) as Record<string, string>;
    return {
      namespace: source.namespace,
      exists: raw !== undefined,
      value: data[ALLOWED_PRIORITY_CLASSES_KEY],
    };
  }

  /** Vanished leases the plan says need no more remembering (their usage is in the ledger). */
  forgetVanished(uids: Iterable<string>): void {
    for (const uid of uids) this.vanished.delete(uid);
  }

  /** Leases gone since the last build are remembered as they were last seen, until forgotten. */
  private noteVanished(leases: LeaseView[], malformed: MalformedObject[], now: number): VanishedLease[] {
    const current = new Map(leases.map((l) => [l.uid, l]));
    // A lease the parser now refuses still exists: it has not vanished.
    const unreadable = new Set(malformed.map((m) => `${m.namespace}/${m.name}`));
    for (const [uid, lease] of this.lastLeases) {
      if (current.has(uid) || this.vanished.has(uid)) continue;
      if (unreadable.has(`${lease.namespace}/${lease.name}`)) current.set(uid, lease);
      else this.vanished.set(uid, { lease, vanishedAt: now });
    }
    this.lastLeases = current;
    return [...this.vanished.values()];
  }

  /**
   * `noteVanished: false` reads the leases already known to have vanished without noting new ones: a
   * pass that plans no ledger (the reclaim-first pass) must not take the moment a lease is first seen
   * gone, which the whole plan announces once, at that moment.
   */
  build(
    now: number,
    { noteVanished = true }: { noteVanished?: boolean } = {},
  ): { snapshot: ClusterSnapshot; malformed: MalformedObject[] } {
    const malformed: MalformedObject[] = [];
    const leases: LeaseView[] = [];
    for (const view of this.leases.all(this.sources.leases.store.values())) {
      if (isMalformed(view)) malformed.push(view);
      else leases.push(view);
    }
    const quotas: QuotaView[] = [];
    for (const view of this.quotas.all(this.sources.quotas.store.values())) {
      if (isMalformed(view)) malformed.push(view);
      else quotas.push(view);
    }
    return {
      snapshot: {
        now,
        settings: this.settings,
        nodes: this.nodes.all(this.sources.nodes.store.values()),
        pods: this.pods.all(this.sources.pods.store.values()),
        namespaces: this.namespaces.all(this.sources.namespaces.store.values()),
        leases,
        quotas,
        vanishedLeases: noteVanished
          ? this.noteVanished(leases, malformed, now)
          : [...this.vanished.values()],
        unreadableLeases: malformed
          .filter((m) => m.kind === "GpuLease")
          .map((m) => `${m.namespace}/${m.name}`),
        groupSizes: this.jobSizes(),
        ...(this.sources.resourceQuotas
          ? {
              resourceQuotas: this.resourceQuotas(this.sources.resourceQuotas),
              priorityQuotas: this.priorityQuotas(this.sources.resourceQuotas),
            }
          : {}),
        ...(this.sources.limitRanges ? { limitRanges: this.limitRanges(this.sources.limitRanges) } : {}),
        ...(this.sources.tenantAdmission
          ? { tenantAdmission: this.tenantAdmission(this.sources.tenantAdmission) }
          : {}),
        ...(this.sources.roleBindings
          ? { roleBindings: this.roleBindings.all(this.sources.roleBindings.store.values()) }
          : {}),
        ...(this.sources.kueue
          ? {
              kueue: toKueueSnapshot(
                {
                  workloads: this.sources.kueue.workloads.store.values(),
                  admissionChecks: this.sources.kueue.admissionChecks.store.values(),
                  flavors: this.sources.kueue.flavors.store.values(),
                },
                this.convert.resourceNames,
              ),
            }
          : {}),
      },
      malformed,
    };
  }
}

/**
 * Builds the core's ClusterSnapshot from the informer caches, kept up to date from their change events:
 * a replan after one change converts one object and reads no other, not ten thousand.
 */
import { isDeepStrictEqual } from "node:util";
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

/**
 * One informer's objects as views, kept up to date from its change events: a build converts only the
 * objects that changed since the last one, and hands back the very same array while none did (so the
 * planner can tell an untouched kind by identity). Views are converted once per resourceVersion, and
 * the array keeps the cache's order (a Map's: an update keeps its place, an added object goes last).
 */
class ViewCache<V> {
  /** `index`: the view's place in `array` (kept while the key stays, so an update is patched in place). */
  private readonly views = new Map<string, { rv: string | undefined; value: V; index: number }>();
  /**
   * Keys changed since the last `all()`, in the order they were last added to the cache (updates keep
   * their place, as in the cache); undefined until the first `all()` reads the whole cache.
   */
  private dirty: Set<string> | undefined;
  /** Keys deleted from the cache since the last `all()` (maybe added again: then they went last). */
  private readonly removed = new Set<string>();
  /**
   * With `trackTouched`: the keys `all()` read again since the last `takeTouched()` (every key on the
   * first read).
   */
  private touched: Set<string> | undefined;
  private array: V[] = [];

  constructor(
    private readonly informer: Informer,
    private readonly convert: (raw: KubeObject) => V,
    { trackTouched = false }: { trackTouched?: boolean } = {},
  ) {
    if (trackTouched) this.touched = new Set();
    // Before the operator's own handlers: one of them may start a pass, which must see this change.
    informer.onStoreChange((type, object) => {
      if (this.dirty === undefined) return;
      const key = objectKey(object);
      // An added object goes last in the cache: it goes last here too.
      if (type === "add") this.dirty.delete(key);
      this.dirty.add(key);
      if (type === "delete") this.removed.add(key);
    });
  }

  /** One object's view: the cached one while its resourceVersion is the same, else converted and cached. */
  view(raw: KubeObject): V {
    const key = objectKey(raw);
    const rv = raw.metadata?.resourceVersion;
    const hit = this.views.get(key);
    if (hit && hit.rv === rv && rv !== undefined) return hit.value;
    const value = this.convert(raw);
    if (hit) {
      hit.rv = rv;
      // A new version that reads the same (a heartbeat, a status field the planner never reads) keeps
      // its view: the planner then sees nothing changed, by identity.
      if (isDeepStrictEqual(hit.value, value)) return hit.value;
      hit.value = value;
    } else {
      this.views.set(key, { rv, value, index: -1 });
    }
    // The cache decides what the next build holds: the key is read from it again.
    this.dirty?.add(key);
    return value;
  }

  /** Every object's view, in the cache's order; the same array as last time when nothing changed. */
  all(): V[] {
    if (this.dirty === undefined) return this.readAll();
    if (this.dirty.size === 0) return this.array;
    const { store } = this.informer;
    let placesKept = true;
    for (const key of this.dirty) {
      this.touched?.add(key);
      const raw = store.get(key);
      const entry = this.views.get(key);
      // Deleted (and maybe added again), or first seen outside a build: it takes its place anew.
      if (entry && (entry.index < 0 || this.removed.has(key) || raw === undefined)) {
        this.views.delete(key);
        placesKept = false;
      }
      if (raw !== undefined) {
        if (!this.views.has(key)) placesKept = false;
        this.view(raw);
      }
    }
    if (placesKept) {
      // Only updates: the last array with the changed views put in their places (the same array when
      // every new version read the same).
      let patched: V[] | undefined;
      for (const key of this.dirty) {
        const entry = this.views.get(key);
        if (entry === undefined || this.array[entry.index] === entry.value) continue;
        patched ??= this.array.slice();
        patched[entry.index] = entry.value;
      }
      if (patched) this.array = patched;
    } else {
      this.array = this.placeAll();
    }
    this.dirty.clear();
    this.removed.clear();
    return this.array;
  }

  private readAll(): V[] {
    this.views.clear();
    for (const raw of this.informer.store.values()) {
      const key = objectKey(raw);
      this.views.set(key, { rv: raw.metadata?.resourceVersion, value: this.convert(raw), index: -1 });
      this.touched?.add(key);
    }
    this.dirty = new Set();
    this.array = this.placeAll();
    return this.array;
  }

  private placeAll(): V[] {
    const array: V[] = [];
    for (const entry of this.views.values()) {
      entry.index = array.length;
      array.push(entry.value);
    }
    return array;
  }

  /** The view `all()` last gave for a key. */
  current(key: string): V | undefined {
    const entry = this.views.get(key);
    return entry && entry.index >= 0 ? entry.value : undefined;
  }

  /** The keys read again since the last call (every key, the first time); needs `trackTouched`. */
  takeTouched(): Set<string> {
    const touched = this.touched ?? new Set<string>();
    this.touched = new Set();
    return touched;
  }
}

/** Lease or quota views split into the readable and the malformed, split again only when they change. */
class ParsedViews<V extends object> {
  private last: (V | MalformedObject)[] | undefined;
  private parts: { good: V[]; malformed: MalformedObject[] } = { good: [], malformed: [] };

  constructor(readonly cache: ViewCache<V | MalformedObject>) {}

  all(): { good: V[]; malformed: MalformedObject[] } {
    const views = this.cache.all();
    if (views === this.last) return this.parts;
    const good: V[] = [];
    const malformed: MalformedObject[] = [];
    for (const view of views) {
      if (isMalformed(view)) malformed.push(view);
      else good.push(view as V);
    }
    this.last = views;
    this.parts = { good, malformed };
    return this.parts;
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
  private readonly nodes: ViewCache<NodeView>;
  private readonly pods: ViewCache<PodView>;
  private readonly namespaces: ViewCache<NamespaceView>;
  private readonly roleBindings: ViewCache<RoleBindingView> | undefined;
  private readonly leases: ParsedViews<LeaseView>;
  private readonly quotas: ParsedViews<QuotaView>;
  /**
   * Every lease as the last noting build saw it, by key: the operator's own record of a lease deleted
   * under it.
   */
  private readonly knownLeases = new Map<string, LeaseView>();
  private readonly vanished = new Map<string, VanishedLease>();
  /** The vanished leases as an array, kept while none is added or forgotten. */
  private vanishedList: VanishedLease[] | undefined;

  constructor(
    private readonly sources: SnapshotSources,
    private readonly convert: ConvertSettings,
    private readonly settings: PoolSettings,
  ) {
    this.nodes = new ViewCache(sources.nodes, (raw) => toNodeView(raw, convert));
    this.pods = new ViewCache(sources.pods, (raw) => toPodView(raw, convert.resourceNames));
    this.namespaces = new ViewCache(sources.namespaces, toNamespaceView);
    this.roleBindings = sources.roleBindings && new ViewCache(sources.roleBindings, toRoleBindingView);
    this.leases = new ParsedViews(new ViewCache(sources.leases, toLeaseView, { trackTouched: true }));
    this.quotas = new ParsedViews(new ViewCache(sources.quotas, toQuotaView));
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
    for (const uid of uids) if (this.vanished.delete(uid)) this.vanishedList = undefined;
  }

  private vanishedLeases(): VanishedLease[] {
    this.vanishedList ??= [...this.vanished.values()];
    return this.vanishedList;
  }

  /**
   * Leases gone since the last noting build are remembered as they were last seen, until forgotten.
   * Only the keys whose views changed since then are looked at: a lease vanishes when its key no longer
   * holds a readable lease of the same uid. A lease the parser now refuses still exists: it is kept as
   * last seen, not vanished.
   */
  private noteVanished(now: number): VanishedLease[] {
    const cache = this.leases.cache;
    for (const key of cache.takeTouched()) {
      const known = this.knownLeases.get(key);
      const current = cache.current(key);
      const readable = current !== undefined && !isMalformed(current) ? current : undefined;
      if (known && known.uid !== readable?.uid && !this.vanished.has(known.uid)) {
        if (current !== undefined && isMalformed(current)) continue;
        this.vanished.set(known.uid, { lease: known, vanishedAt: now });
        this.vanishedList = undefined;
      }
      if (readable) this.knownLeases.set(key, readable);
      else this.knownLeases.delete(key);
    }
    return this.vanishedLeases();
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
    const { good: leases, malformed: malformedLeases } = this.leases.all();
    const { good: quotas, malformed: malformedQuotas } = this.quotas.all();
    const malformed = [...malformedLeases, ...malformedQuotas];
    return {
      snapshot: {
        now,
        settings: this.settings,
        nodes: this.nodes.all(),
        pods: this.pods.all(),
        namespaces: this.namespaces.all(),
        leases,
        quotas,
        vanishedLeases: noteVanished ? this.noteVanished(now) : this.vanishedLeases(),
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
        ...(this.roleBindings ? { roleBindings: this.roleBindings.all() } : {}),
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

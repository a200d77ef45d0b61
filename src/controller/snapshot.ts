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
} from "../core/model.ts";
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
import type { KubeObject } from "../kube/rest.ts";

class Memo<V> {
  private readonly cache = new Map<string, { rv: string | undefined; value: V }>();

  constructor(private readonly convert: (raw: KubeObject) => V) {}

  all(objects: Iterable<KubeObject>): V[] {
    const out: V[] = [];
    const seen = new Set<string>();
    for (const raw of objects) {
      const key = objectKey(raw);
      seen.add(key);
      const rv = raw.metadata?.resourceVersion;
      const hit = this.cache.get(key);
      if (hit && hit.rv === rv && rv !== undefined) {
        out.push(hit.value);
        continue;
      }
      const value = this.convert(raw);
      this.cache.set(key, { rv, value });
      out.push(value);
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
}

export class SnapshotBuilder {
  private readonly nodes: Memo<NodeView>;
  private readonly pods: Memo<PodView>;
  private readonly namespaces = new Memo<NamespaceView>(toNamespaceView);
  private readonly leases = new Memo<LeaseView | MalformedObject>(toLeaseView);
  private readonly quotas = new Memo<QuotaView | MalformedObject>(toQuotaView);

  constructor(
    private readonly sources: SnapshotSources,
    convert: ConvertSettings,
    private readonly settings: PoolSettings,
  ) {
    this.nodes = new Memo((raw) => toNodeView(raw, convert));
    this.pods = new Memo((raw) => toPodView(raw, convert.resourceNames));
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
    return [...informer.store.values()].map((raw) => ({
      namespace: raw.metadata?.namespace ?? "",
      hard: ((raw.spec as { hard?: Record<string, string> } | undefined)?.hard ?? {}) as Record<
        string,
        string
      >,
    }));
  }

  build(now: number): { snapshot: ClusterSnapshot; malformed: MalformedObject[] } {
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
        groupSizes: this.jobSizes(),
        ...(this.sources.resourceQuotas
          ? { resourceQuotas: this.resourceQuotas(this.sources.resourceQuotas) }
          : {}),
      },
      malformed,
    };
  }
}

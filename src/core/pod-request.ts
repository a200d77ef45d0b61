/**
 * A pod's request of one resource, as kube-scheduler and ResourceQuota compute it
 * (k8s.io/component-helpers/resource PodRequests). Binding, accounting, lease fit and the
 * ResourceQuota view all see a pod through this one function, so a pod can never hold more than the
 * operator counted. Pure; quantities arrive already parsed.
 *
 * - App containers and restartable init containers (sidecars) run together: their requests add up.
 * - A regular init container runs alone, beside the sidecars started before it: the pod needs at
 *   least its request plus theirs.
 * - The pod needs the larger of the two.
 * - Pod-level `resources.requests` (cpu, memory, hugepages) replace the containers' sum for that
 *   resource.
 * - `overhead` (from the RuntimeClass) comes on top.
 */

export interface ContainerRequest {
  /** requests, or limits where a request is absent (the API server defaults one from the other). */
  requests: Readonly<Record<string, number>>;
}

export interface InitContainerRequest extends ContainerRequest {
  /** restartPolicy: Always: a sidecar that keeps running beside the app containers. */
  sidecar: boolean;
}

export interface PodResourceSpec {
  containers: readonly ContainerRequest[];
  initContainers: readonly InitContainerRequest[];
  /** spec.resources.requests (pod-level resources), where set. */
  podLevel: Readonly<Record<string, number>>;
  /** spec.overhead. */
  overhead: Readonly<Record<string, number>>;
}

/** The resources pod-level `resources` may set; any other there is ignored, as the scheduler does. */
const POD_LEVEL_RESOURCE = /^(cpu|memory|hugepages-.+)$/;

export function podRequest(spec: PodResourceSpec, resource: string): number {
  const of = (c: ContainerRequest) => c.requests[resource] ?? 0;
  let running = spec.containers.reduce((sum, c) => sum + of(c), 0);
  let sidecarsStarted = 0;
  let initPeak = 0;
  for (const init of spec.initContainers) {
    if (init.sidecar) {
      sidecarsStarted += of(init);
      running += of(init);
      initPeak = Math.max(initPeak, sidecarsStarted);
    } else {
      initPeak = Math.max(initPeak, of(init) + sidecarsStarted);
    }
  }
  const containers = Math.max(running, initPeak);
  const podLevel = POD_LEVEL_RESOURCE.test(resource) ? spec.podLevel[resource] : undefined;
  return (podLevel !== undefined ? podLevel : containers) + (spec.overhead[resource] ?? 0);
}

/** The pod's request of each resource that it asks for at all (zero requests left out). */
export function podRequests(spec: PodResourceSpec, resources: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const resource of resources) {
    const request = podRequest(spec, resource);
    if (request > 0) out[resource] = request;
  }
  return out;
}

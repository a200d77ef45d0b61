/** Informer caches and settings for building snapshots in-process (unit tests and benches). */
import type { PoolSettings } from "../../src/core/model.ts";
import type { ConvertSettings } from "../../src/kube/convert.ts";
import { Informer } from "../../src/kube/informer.ts";
import type { KubeObject, KubeRest } from "../../src/kube/rest.ts";

/** An informer whose cache holds `objects`; it never lists or watches. */
export function cachedInformer(objects: KubeObject[] = []): Informer {
  const informer = new Informer("test", {} as KubeRest, "/unused", { watchdogMs: 60_000 });
  for (const object of objects) informer.upsert(object);
  return informer;
}

/** Every node lendable, one GPU resource, the model under the label `model`. */
export const BUILDER_CONVERT: ConvertSettings = {
  lendableSelector: {},
  resourceNames: ["nvidia.com/gpu"],
  gpuModelLabel: "model",
};

/** No idle period, headroom or warnings; usage metered by the minute. */
export const BUILDER_SETTINGS: PoolSettings = {
  idlePeriodMs: 0,
  headroomGpus: 0,
  resourceNames: ["nvidia.com/gpu"],
  expiryWarningMs: 0,
  meteringIntervalMs: 60_000,
  evictionGraceMs: 0,
};

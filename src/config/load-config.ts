/**
 * The operator's configuration: a YAML file (optional) with flags on top, validated by zod. A bad
 * configuration stops the process at start with a message naming the field.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse } from "yaml";
import { type OperatorConfig, operatorConfigSchema } from "./operator-config.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface StartupOptions {
  config: OperatorConfig;
  /** --kubeconfig; without it the loader reads $KUBECONFIG (see src/kube/kubeconfig.ts). */
  kubeconfig: string | undefined;
}

const FLAGS = {
  config: { type: "string" },
  kubeconfig: { type: "string" },
  "log-level": { type: "string" },
  "metrics-port": { type: "string" },
  "idle-period": { type: "string" },
  "headroom-gpus": { type: "string" },
  "expiry-warning": { type: "string" },
  "eviction-grace": { type: "string" },
  "metering-interval": { type: "string" },
  "reference-check-interval": { type: "string" },
  "leader-elect": { type: "boolean" },
  "leader-election-namespace": { type: "string" },
  help: { type: "boolean" },
} as const;

export const USAGE = `gpulease operator

  --config FILE                 YAML configuration (see config/manager/operator-config.yaml)
  --kubeconfig FILE             default: $KUBECONFIG (a list is merged as kubectl does), then
                                ~/.kube/config, then in-cluster
  --log-level LEVEL             trace, debug, info, warn, error
  --metrics-port PORT           /metrics, /healthz, /readyz (0 disables)
  --idle-period DURATION        a node is lent only after this long without internal GPU pods
  --headroom-gpus N             idle internal GPUs kept unlent
  --expiry-warning DURATION     ExpiringSoon this long before a lease expires
  --eviction-grace DURATION     PDB-blocked pods are deleted this long after a deadline
  --metering-interval DURATION  how often usage in status is refreshed
  --reference-check-interval DURATION
                                also plan from scratch this often and report any difference from
                                the incremental plan (0s, the default: never)
  --leader-elect                run with leader election (several replicas)
  --leader-election-namespace NS`;

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    node[key] = (node[key] as Record<string, unknown> | undefined) ?? {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

export function loadStartupOptions(argv: string[]): StartupOptions {
  let values: ReturnType<typeof parseArgs<{ options: typeof FLAGS }>>["values"];
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (values.help) throw new ConfigError(USAGE);
  let file: Record<string, unknown> = {};
  if (values.config) {
    let text: string;
    try {
      text = readFileSync(values.config, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read --config ${values.config}: ${(error as Error).message}`);
    }
    const parsed: unknown = parse(text);
    if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed))) {
      throw new ConfigError(`${values.config} must be a YAML mapping of settings`);
    }
    file = (parsed as Record<string, unknown> | null) ?? {};
  }
  const number = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n))
      throw new ConfigError(`--${flag} must be a whole number, got ${JSON.stringify(text)}`);
    return n;
  };
  const overrides: [string[], unknown][] = [
    [["logLevel"], values["log-level"]],
    [["metricsPort"], number("metrics-port", values["metrics-port"])],
    [["idlePeriod"], values["idle-period"]],
    [["headroomGpus"], number("headroom-gpus", values["headroom-gpus"])],
    [["expiryWarning"], values["expiry-warning"]],
    [["evictionGrace"], values["eviction-grace"]],
    [["meteringInterval"], values["metering-interval"]],
    [["referenceCheckInterval"], values["reference-check-interval"]],
    [["leaderElection", "enabled"], values["leader-elect"]],
    [["leaderElection", "namespace"], values["leader-election-namespace"]],
  ];
  for (const [path, value] of overrides) if (value !== undefined) setPath(file, path, value);
  const result = operatorConfigSchema.safeParse(file);
  if (!result.success) {
    const problems = result.error.issues
      .map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`)
      .join("\n");
    throw new ConfigError(
      `invalid configuration${values.config ? ` in ${values.config}` : ""}:\n${problems}`,
    );
  }
  return { config: result.data, kubeconfig: values.kubeconfig };
}

/**
 * Prometheus metrics on the operator's own registry. The machinery uses controller-runtime's names and
 * labels so existing controller dashboards work; the domain metrics start with gpulease_.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

const NAME = "gpulease";

export class Metrics {
  readonly registry = new Registry();

  readonly reconcileTotal = new Counter({
    name: "controller_runtime_reconcile_total",
    help: "Total number of reconciliations per controller",
    labelNames: ["controller", "result"],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: "controller_runtime_reconcile_errors_total",
    help: "Total number of reconciliation errors per controller",
    labelNames: ["controller"],
    registers: [this.registry],
  });
  readonly reconcileTime = new Histogram({
    name: "controller_runtime_reconcile_time_seconds",
    help: "Length of time per reconciliation per controller",
    labelNames: ["controller"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly activeWorkers = new Gauge({
    name: "controller_runtime_active_workers",
    help: "Number of currently used workers per controller",
    labelNames: ["controller"],
    registers: [this.registry],
  });
  readonly workqueueDepth = new Gauge({
    name: "workqueue_depth",
    help: "Current depth of workqueue",
    labelNames: ["name", "controller"],
    registers: [this.registry],
  });
  readonly workqueueAdds = new Counter({
    name: "workqueue_adds_total",
    help: "Total number of adds handled by workqueue",
    labelNames: ["name", "controller"],
    registers: [this.registry],
  });
  readonly workqueueRetries = new Counter({
    name: "workqueue_retries_total",
    help: "Total number of retries handled by workqueue",
    labelNames: ["name", "controller"],
    registers: [this.registry],
  });
  readonly workqueueQueueDuration = new Histogram({
    name: "workqueue_queue_duration_seconds",
    help: "How long in seconds an item stays in workqueue before being requested",
    labelNames: ["name", "controller"],
    buckets: [0.0001, 0.001, 0.01, 0.1, 1, 10, 100],
    registers: [this.registry],
  });
  readonly workqueueWorkDuration = new Histogram({
    name: "workqueue_work_duration_seconds",
    help: "How long in seconds processing an item from workqueue takes",
    labelNames: ["name", "controller"],
    buckets: [0.0001, 0.001, 0.01, 0.1, 1, 10, 100],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: "rest_client_requests_total",
    help: "Number of HTTP requests, partitioned by status code and method",
    labelNames: ["code", "method"],
    registers: [this.registry],
  });

  readonly nodeGpus = new Gauge({
    name: `${NAME}_pool_gpus`,
    help: "GPUs of lendable nodes by node state and GPU model",
    labelNames: ["state", "model"],
    registers: [this.registry],
  });
  readonly leases = new Gauge({
    name: `${NAME}_leases`,
    help: "Leases by phase and tenant; Pending ones also by the reason they wait (status.reason)",
    labelNames: ["phase", "tenant", "reason"],
    registers: [this.registry],
  });
  readonly admissionWait = new Histogram({
    name: `${NAME}_admission_wait_seconds`,
    help: "Time from lease creation to admission",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  readonly evictions = new Counter({
    name: `${NAME}_evictions_total`,
    help: "Pod evictions by reason and outcome",
    labelNames: ["reason", "outcome"],
    registers: [this.registry],
  });
  readonly bindRefusals = new Counter({
    name: `${NAME}_bind_refusals_total`,
    help: "Binds of gated tenant pods the API server refused (each pod then backs off)",
    registers: [this.registry],
  });
  readonly internalPodsOnLentNodes = new Gauge({
    name: `${NAME}_internal_pods_on_lent_nodes`,
    help: "Internal GPU pods running on lent nodes (a platform mistake: they take leases' GPUs)",
    registers: [this.registry],
  });
  readonly tenantBindingsOutside = new Gauge({
    name: `${NAME}_tenant_bindings_outside_tenant_namespaces`,
    help: "RoleBindings giving a tenant's users a role in a namespace without the tenant label",
    registers: [this.registry],
  });
  readonly orphanPods = new Gauge({
    name: `${NAME}_orphan_pods`,
    help: "Tenant pods on lent nodes without an Active lease allocating the node (evicted after orphanGrace)",
    labelNames: ["tenant"],
    registers: [this.registry],
  });
  readonly notices = new Counter({
    name: `${NAME}_reclaim_notices_total`,
    help: "Reclaim notices given to leases, by reason",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly noticeLeadTime = new Histogram({
    name: `${NAME}_reclaim_notice_lead_time_seconds`,
    help: "Time actually given between a reclaim notice and the eviction of the pod",
    buckets: [1, 2, 3, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly evictionDelay = new Histogram({
    name: `${NAME}_reclaim_eviction_delay_seconds`,
    help: "Eviction time minus the reclaim deadline (precision of the notice contract)",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly reclaimReaction = new Histogram({
    name: `${NAME}_reclaim_reaction_seconds`,
    help: "Time from an internal pod becoming Unschedulable to the reclaim notice",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly gpusReclaimed = new Counter({
    name: `${NAME}_reclaimed_gpus_total`,
    help: "GPUs taken back from leases",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly gpuReturnLatency = new Histogram({
    name: `${NAME}_gpu_return_seconds`,
    help: "Time from a node being marked Returning to it being Internal again",
    buckets: [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly tenantGpuSeconds = new Gauge({
    name: `${NAME}_tenant_gpu_seconds`,
    help: "Cumulative GPU-seconds used per tenant (ledger plus live leases)",
    labelNames: ["tenant"],
    registers: [this.registry],
  });
  readonly tenantCharges = new Gauge({
    name: `${NAME}_tenant_charges`,
    help: "Cumulative charges per tenant in its currency",
    labelNames: ["tenant", "currency"],
    registers: [this.registry],
  });
  readonly informerRestarts = new Counter({
    name: `${NAME}_informer_restarts_total`,
    help: "Watch restarts by informer and reason (gone, error, disconnected, watchdog)",
    labelNames: ["informer", "reason"],
    registers: [this.registry],
  });
  readonly eventBacklog = new Gauge({
    name: `${NAME}_events_backlog`,
    help: "Kubernetes Events queued and not yet written (they go out after the writes that caused them)",
    registers: [this.registry],
  });
  readonly eventsDropped = new Counter({
    name: `${NAME}_events_dropped_total`,
    help: "Kubernetes Events dropped because the backlog was full (the API server is too slow or down)",
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: `${NAME}_leader`,
    help: "1 when this replica holds the leader lease",
    registers: [this.registry],
  });
  readonly planReuse = new Counter({
    name: `${NAME}_plan_lease_plans_total`,
    help: "Lease plans of the incremental planner, by whether they were reused from the previous pass or computed",
    labelNames: ["source"],
    registers: [this.registry],
  });
  readonly referenceChecks = new Counter({
    name: `${NAME}_plan_reference_checks_total`,
    help: "Passes whose incremental plan was compared with a plan made from scratch (referenceCheckInterval)",
    registers: [this.registry],
  });
  readonly planDivergences = new Counter({
    name: `${NAME}_plan_divergences_total`,
    help: "Reference checks where the incremental plan differed from the plan made from scratch, by the first part that differed",
    labelNames: ["part"],
    registers: [this.registry],
  });
  readonly apiWrites = new Counter({
    name: `${NAME}_api_writes_total`,
    help:
      "Writes of the operator's work (not the leader Lease's): sent to the API server, refused by the " +
      "leadership fence without being sent, or sent and aborted in flight when leadership was lost",
    labelNames: ["outcome"],
    registers: [this.registry],
  });

  /**
   * Sets gpulease_leases from the leases. Only Pending leases get a `reason` (QuotaExceeded,
   * InsufficientCapacity…), so alerts can tell a wait by design from one the platform must act on;
   * the series of the other phases keep exactly the labels they had before `reason` existed.
   */
  countLeases(
    leases: readonly { namespace: string; status: { phase?: string; reason?: string } }[],
    tenantOf: (namespace: string) => string,
  ): void {
    this.leases.reset();
    for (const lease of leases) {
      const phase = lease.status.phase ?? "Pending";
      const tenant = tenantOf(lease.namespace);
      const reason = phase === "Pending" ? lease.status.reason : undefined;
      this.leases.inc(reason === undefined ? { phase, tenant } : { phase, tenant, reason });
    }
  }

  constructor(defaultMetrics = true) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
    for (const outcome of ["sent", "refused", "aborted"]) this.apiWrites.inc({ outcome }, 0);
  }
}

// The runtime's figures for the original mlx-serving's synchronous getters
// (getBatchQueueStats, getQosStats, getQosConfig, getQosPolicies): a
// snapshot of runtime/info, runtime/state and metrics/get, taken when the
// engine starts (and restarts) and, once a getter has been used, again after
// every generation the engine ran, before that generation's call resolves.
// An engine whose getters nobody uses pays nothing per generation.
import { EngineError } from '../errors/engine-error.js';
import type { QosEvent } from '../supervisor/events.js';
import type { MetricsSnapshot, RuntimeInfo, RuntimeState } from '../wire/generated.js';

export interface Snapshot {
  info: RuntimeInfo;
  state: RuntimeState;
  metrics: MetricsSnapshot;
}

/** The runtime's continuous batching, in the original's BatchQueue terms (counters since start, or resetBatchStats()). */
export interface BatchQueueStats {
  /** config batching.enabled: streams of one model share its decode steps. */
  enabled: boolean;
  /** config batching.adaptive_sizing: prefill chunks sized to keep a step near targetLatencyMs. */
  adaptiveSizing: boolean;
  /** config batching.target_step_ms. */
  targetLatencyMs: number;
  minBatchSize: number;
  /** config batching.max_batch_size. */
  maxBatchSize: number;
  /** Streams decoding now, over all models. */
  currentBatchSize: number;
  /** Streams waiting for a batch slot now. */
  waiting: number;
  /** generate requests the runtime received. */
  totalRequests: number;
  /** Decode steps run (each one batch). */
  totalBatches: number;
  /** Stream tokens per decode step. */
  avgBatchSize: number;
  /** Mean end-to-end time of a request (ms), since the runtime started. */
  avgLatencyMs: number;
  /** Requests completed per second of the runtime's uptime. */
  throughput: number;
}

export interface QosConfigView {
  /** Whether config qos.slos names any SLO. */
  enabled: boolean;
  evaluator: { enabled: boolean; windowS: number };
  /** Remediation: on unless dry_run (then only alerts). */
  executor: { enabled: boolean; dryRun: boolean };
  policyStore: { enabled: boolean; policies: number };
}

export interface QosStats {
  totalRequests: number;
  /** SLO breaches the runtime reported (qos/violation) while this engine ran. */
  violations: number;
  /** Of those, the ones it acted on (shed, reduce_batch). */
  remediations: number;
  violationRate: number;
  /** Time to first token percentiles since the runtime started (ms; 0 before any request). */
  ttftP50: number;
  ttftP95: number;
  ttftP99: number;
  /** Tokens per second of the requests (mean, min, max; 0 before any). */
  avgThroughput: number;
  minThroughput: number;
  maxThroughput: number;
}

export interface QosPolicy {
  name: string;
  /** The remediation: alert, shed or reduce_batch. */
  type: string;
  /** The SLO measured (ttft_p99_ms, ...). */
  metric: string;
  threshold: number;
  windowMs: number;
  action: string;
  /** false under dry_run (alerts only). */
  enabled: boolean;
  /** The model it applies to; null: every model. */
  model: string | null;
}

interface Counters {
  requests: number;
  steps: number;
  tokens: number;
}

export class RuntimeFigures {
  readonly #fetch: () => Promise<Snapshot>;
  #snapshot: Snapshot | undefined;
  #inUse = false;
  #refreshing: Promise<void> | undefined;
  #baseline: Counters = { requests: 0, steps: 0, tokens: 0 };
  #violations = 0;
  #remediations = 0;

  constructor(fetch: () => Promise<Snapshot>) {
    this.#fetch = fetch;
  }

  /** Takes a new snapshot (one at a time: a refresh asked for meanwhile waits for the next one). */
  async refresh(): Promise<void> {
    while (this.#refreshing !== undefined) await this.#refreshing.catch(() => undefined);
    this.#refreshing = this.#fetch().then((snapshot) => void (this.#snapshot = snapshot));
    try {
      await this.#refreshing;
    } finally {
      this.#refreshing = undefined;
    }
  }

  /** After a generation (or a restart): a new snapshot when the getters are in use (a failure leaves the last one). */
  async afterGeneration(): Promise<void> {
    if (this.#inUse) await this.refresh().catch(() => undefined);
  }

  countQos(event: QosEvent): void {
    if (event.kind !== 'violation') return;
    this.#violations += 1;
    if (event.action !== 'alert') this.#remediations += 1;
  }

  /** Counters start over from now (the runtime's own figures do not change). */
  resetBatchStats(): void {
    this.#baseline = this.#counters(this.#use());
  }

  batchQueueStats(): BatchQueueStats {
    const { info, state, metrics } = this.#use();
    const counters = this.#counters({ info, state, metrics });
    const steps = counters.steps - this.#baseline.steps;
    const batches = state.models.map((model) => model.batch).filter((batch) => batch != null);
    return {
      enabled: info.batching?.enabled ?? info.limits.max_batch_size > 1,
      adaptiveSizing: info.batching?.adaptive_sizing ?? false,
      targetLatencyMs: info.batching?.target_step_ms ?? 0,
      minBatchSize: 1,
      maxBatchSize: info.batching?.max_batch_size ?? info.limits.max_batch_size,
      currentBatchSize: batches.reduce((sum, batch) => sum + batch.decoding, 0),
      waiting: batches.reduce((sum, batch) => sum + batch.waiting, 0),
      totalRequests: counters.requests - this.#baseline.requests,
      totalBatches: steps,
      avgBatchSize: steps > 0 ? (counters.tokens - this.#baseline.tokens) / steps : 0,
      avgLatencyMs: metrics.overall.lifetime.e2e_ms.mean ?? 0,
      throughput: metrics.uptime_s > 0 ? metrics.overall.lifetime.requests.completed / metrics.uptime_s : 0,
    };
  }

  qosConfig(): QosConfigView {
    const { qos } = this.#use().metrics;
    const enabled = qos.slos > 0;
    return {
      enabled,
      evaluator: { enabled, windowS: qos.window_s },
      executor: { enabled: enabled && !qos.dry_run, dryRun: qos.dry_run },
      policyStore: { enabled, policies: qos.slos },
    };
  }

  qosStats(): QosStats {
    const { lifetime } = this.#use().metrics.overall;
    const total = lifetime.requests.total;
    return {
      totalRequests: total,
      violations: this.#violations,
      remediations: this.#remediations,
      violationRate: total > 0 ? this.#violations / total : 0,
      ttftP50: lifetime.ttft_ms.p50 ?? 0,
      ttftP95: lifetime.ttft_ms.p95 ?? 0,
      ttftP99: lifetime.ttft_ms.p99 ?? 0,
      avgThroughput: lifetime.tokens_per_s.mean ?? 0,
      minThroughput: lifetime.tokens_per_s.min ?? 0,
      maxThroughput: lifetime.tokens_per_s.max ?? 0,
    };
  }

  qosPolicies(): QosPolicy[] {
    const { qos } = this.#use().metrics;
    return (qos.rules ?? []).map((rule) => ({
      name: rule.model === null ? rule.slo : `${rule.slo}:${rule.model}`,
      type: rule.policy,
      metric: rule.slo,
      threshold: rule.threshold,
      windowMs: qos.window_s * 1000,
      action: rule.policy,
      enabled: !qos.dry_run,
      model: rule.model,
    }));
  }

  // The latest snapshot; from now on one is taken after every generation.
  #use(): Snapshot {
    this.#inUse = true;
    if (this.#snapshot === undefined) {
      throw new EngineError('PROTOCOL_ERROR', 'The runtime does not serve runtime/state and metrics/get (see runtime/info methods): no figures to report.');
    }
    return this.#snapshot;
  }

  #counters({ state, metrics }: Snapshot): Counters {
    const batches = state.models.map((model) => model.batch).filter((batch) => batch != null);
    return {
      requests: metrics.overall.lifetime.requests.total,
      steps: batches.reduce((sum, batch) => sum + (batch.decode_steps ?? 0), 0),
      tokens: batches.reduce((sum, batch) => sum + (batch.decoded_tokens ?? 0), 0),
    };
  }
}

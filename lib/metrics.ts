// Prometheus metrics: one registry per process, shared by the roles running in it. Queue depths
// and ages are read from Redis when scraped, so every role's /metrics shows the whole pipeline.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface QueueSnapshot {
  readonly queue: string;
  readonly counts: Readonly<Record<string, number>>;
  /** Age in seconds of the oldest waiting job, 0 when none waits. */
  readonly oldestWaitingSeconds: number;
}

/** What the store gauges show: Redis memory, and how far retention is behind. */
export interface StoreSnapshot {
  readonly usedMemoryBytes: number;
  /** 0 when Redis has no `maxmemory`. */
  readonly maxMemoryBytes: number;
  /** Seconds the oldest kept final request is past GATEWAY_RETENTION_MS (0 when none is). */
  readonly retentionLagSeconds: number;
}

export interface Metrics {
  readonly registry: Registry;
  readonly requestsAccepted: Counter;
  readonly jobDuration: Histogram<'queue' | 'outcome'>;
  readonly executions: Counter<'outcome'>;
  readonly votes: Counter<'result' | 'reason'>;
  readonly acceptedToAgreed: Histogram;
  readonly acceptedToPublished: Histogram;
  readonly failures: Counter<'code'>;
  readonly sandboxRestarts: Counter<'reason'>;
  readonly chainTxs: Counter<'outcome'>;
  /** Requests refused at admission (project in-flight cap), by source: api, schedule, chain. */
  readonly admissionRefused: Counter<'source'>;
  /** Run jobs an executor put back because their project held its share of the node's slots. */
  readonly runsDeferred: Counter;
  /** Entries of the due-time index consensus handled, by kind (deadline, grace) and what they did. */
  readonly dueEntries: Counter<'kind' | 'result'>;
  /** What the retention sweep removed, by kind (request, ledger_entry, round). */
  readonly retentionRemoved: Counter<'kind'>;
  /**
   * What each handler did, per role, handler and outcome (consensus `vote`, `agree`; sender `publish`;
   * receiver `incoming`; scheduler `sweep`): the proof of one agree transition and one publish job per request.
   */
  readonly handlerOutcomes: Counter<'role' | 'handler' | 'outcome'>;
  /** Installs the source of queue gauges (read on every scrape). */
  setQueueSource(source: () => Promise<readonly QueueSnapshot[]>): void;
  /** Installs the source of the Redis memory and retention lag gauges (read on every scrape). */
  setStoreSource(source: () => Promise<StoreSnapshot>): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_process_' });
  const registers = [registry];
  let queueSource: (() => Promise<readonly QueueSnapshot[]>) | undefined;
  let storeSource: (() => Promise<StoreSnapshot>) | undefined;
  let lastStore: Promise<StoreSnapshot | undefined> | undefined;
  // The three gauges are filled from one read per scrape; no source (or a failed read) shows none.
  const store = () => (lastStore ??= (storeSource?.() ?? Promise.resolve(undefined)).catch(() => undefined).finally(() => setTimeout(() => { lastStore = undefined; }, 100).unref()));
  const storeGauge = (name: string, help: string, pick: (s: StoreSnapshot) => number) => new Gauge({
    name, help, registers,
    async collect() {
      this.reset();
      const snapshot = await store();
      if (snapshot) this.set(pick(snapshot));
    },
  });
  storeGauge('gateway_redis_used_memory_bytes', 'Redis used_memory (INFO memory)', (s) => s.usedMemoryBytes);
  storeGauge('gateway_redis_maxmemory_bytes', 'Redis maxmemory (0: no limit); the status page warns above 80%', (s) => s.maxMemoryBytes);
  storeGauge('gateway_retention_lag_seconds', 'how far the oldest kept final request is past GATEWAY_RETENTION_MS (waiting for an export, a chain publication, or the sweep)', (s) => s.retentionLagSeconds);
  let lastSnapshot: Promise<readonly QueueSnapshot[]> | undefined;
  // Both gauges are filled from one read per scrape.
  const snapshot = () => (lastSnapshot ??= (queueSource?.() ?? Promise.resolve([])).finally(() => setTimeout(() => { lastSnapshot = undefined; }, 100).unref()));
  new Gauge({
    name: 'gateway_queue_jobs', help: 'jobs per queue and state', labelNames: ['queue', 'state'], registers,
    async collect() {
      this.reset();
      for (const q of await snapshot().catch(() => [])) for (const [state, n] of Object.entries(q.counts)) this.set({ queue: q.queue, state }, n);
    },
  });
  new Gauge({
    name: 'gateway_queue_oldest_waiting_seconds', help: 'age of the oldest waiting job per queue', labelNames: ['queue'], registers,
    async collect() {
      this.reset();
      for (const q of await snapshot().catch(() => [])) this.set({ queue: q.queue }, q.oldestWaitingSeconds);
    },
  });
  return {
    registry,
    requestsAccepted: new Counter({ name: 'gateway_requests_accepted_total', help: 'requests accepted over HTTP', registers }),
    jobDuration: new Histogram({ name: 'gateway_job_duration_seconds', help: 'time to handle one job, by queue and outcome', labelNames: ['queue', 'outcome'], buckets: LATENCY_BUCKETS, registers }),
    executions: new Counter({ name: 'gateway_executions_total', help: 'sandbox runs by outcome (ok, error, lost, code_mismatch: stored code that does not hash to its id, never run)', labelNames: ['outcome'], registers }),
    votes: new Counter({ name: 'gateway_votes_total', help: 'votes seen by consensus: accepted, or refused with a reason', labelNames: ['result', 'reason'], registers }),
    acceptedToAgreed: new Histogram({ name: 'gateway_request_agreed_seconds', help: 'time from acceptance to agreement', buckets: LATENCY_BUCKETS, registers }),
    acceptedToPublished: new Histogram({ name: 'gateway_request_published_seconds', help: 'time from acceptance to publication', buckets: LATENCY_BUCKETS, registers }),
    failures: new Counter({ name: 'gateway_requests_failed_total', help: 'requests failed, by code', labelNames: ['code'], registers }),
    sandboxRestarts: new Counter({ name: 'gateway_sandbox_restarts_total', help: 'sandbox processes replaced, by reason', labelNames: ['reason'], registers }),
    chainTxs: new Counter({ name: 'gateway_chain_txs_total', help: 'chain transactions by outcome; failed and unverified count results given up on (unverified: did not verify, never sent)', labelNames: ['outcome'], registers }),
    admissionRefused: new Counter({ name: 'gateway_admission_refused_total', help: 'requests refused because their project had too many in flight, by source', labelNames: ['source'], registers }),
    runsDeferred: new Counter({ name: 'gateway_runs_deferred_total', help: "run jobs put back because their project held its share of a node's run slots", registers }),
    dueEntries: new Counter({ name: 'gateway_due_entries_total', help: 'due-time index entries handled by consensus, by kind and result (moved: due before the request\'s own deadline, applied nothing)', labelNames: ['kind', 'result'], registers }),
    retentionRemoved: new Counter({ name: 'gateway_retention_removed_total', help: 'what the retention sweep removed, by kind (request, ledger_entry, round)', labelNames: ['kind'], registers }),
    handlerOutcomes: new Counter({ name: 'gateway_handler_outcomes_total', help: 'what each job handler or sweep step did, by role, handler and outcome', labelNames: ['role', 'handler', 'outcome'], registers }),
    setQueueSource(source) {
      queueSource = source;
    },
    setStoreSource(source) {
      storeSource = source;
    },
  };
}

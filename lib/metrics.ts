// Prometheus metrics: one registry per process, shared by the roles running in it.
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly requestsAccepted: Counter;
  readonly votesRefused: Counter<'reason'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_process_' });
  return {
    registry,
    requestsAccepted: new Counter({ name: 'gateway_requests_accepted_total', help: 'requests accepted over HTTP', registers: [registry] }),
    votesRefused: new Counter({ name: 'gateway_votes_refused_total', help: 'votes refused by consensus, by reason', labelNames: ['reason'], registers: [registry] }),
  };
}

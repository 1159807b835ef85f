// The repository: the only code that reads or writes gateway state in Redis, one narrow store per area.
import type { Redis } from 'ioredis';
import { GatewayError } from '../errors.ts';
import { createChainStore, type ChainStore } from './chain.ts';
import { createCodeStore, type CodeStore } from './code.ts';
import { createDueStore, type DueStore } from './due.ts';
import { createEventStore, type EventStore } from './final-events.ts';
import { createExportStore, type ExportStore } from './exports.ts';
import { createHealthStore, type HealthStore } from './health.ts';
import { createKeys } from './keys.ts';
import { createLeaseStore, type LeaseStore } from './leases.ts';
import { createLedgerStore, type LedgerStore } from './ledger.ts';
import { createNodeStore, type NodeStore } from './nodes.ts';
import { createNodeStatsStore, type NodeStatsStore } from './node-stats.ts';
import { createProjectStore, type ProjectStore } from './projects.ts';
import { createReceiptStore, type ReceiptStore } from './receipts.ts';
import { createRetentionStore, type RetentionStore } from './retention.ts';
import { createRequestStore, type RequestStore } from './requests.ts';
import { createRoundStore, type RoundStore } from './rounds.ts';
import { createScheduleStore, type ScheduleStore } from './schedules.ts';
import { createSecretStore, type SecretStore } from './secrets.ts';

export type { DueStore, ExportStore, NodeStatsStore, ReceiptStore, RetentionStore };
export type { ChainStore, CodeStore, EventStore, HealthStore, LeaseStore, LedgerStore, NodeStore, ProjectStore, RequestStore, RoundStore, ScheduleStore, SecretStore };

/**
 * Every store over one shared connection. Roles name the methods they use
 * (`Pick<Repository, 'getRequest' | …>`); key names stay inside lib/repository.
 */
export interface Repository
  extends RequestStore, ProjectStore, CodeStore, SecretStore, ScheduleStore, NodeStore, RoundStore,
    LedgerStore, ChainStore, LeaseStore, EventStore, HealthStore, DueStore, NodeStatsStore, ReceiptStore, RetentionStore, ExportStore {
  /**
   * Releases what the repository holds besides the shared connection (nothing today: every store
   * runs on that connection, and final waiters are closed by whoever opened them). Idempotent; the
   * caller closes the connection afterwards.
   */
  close(): Promise<void>;
  /**
   * Records this key layout (the number of request buckets) on first use, and throws GatewayError
   * `invalid_config` when the data was written with another: requests would be looked for in buckets
   * that do not hold them.
   */
  claimLayout(options?: { mayRecord?: boolean }): Promise<void>;
}

export interface RepositoryOptions {
  /** The key namespace (`gw`): every key gets its own hash tag after it (keys.ts). */
  readonly prefix: string;
  /** Hash-tag buckets the request state is spread over (default 1); fixed for the life of the data (claimLayout). */
  readonly buckets?: number;
  /** Needed only where secrets are read or written. */
  readonly masterKey?: Uint8Array;
  /** How long idempotency keys live (default 24 h; chain keys only once the contract holds the result). */
  readonly idempotencyTtlMs?: number;
}

const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

/** One repository over one connection, which it shares (the caller opens and closes it). */
export function createRepository(redis: Redis, options: RepositoryOptions): Repository {
  const keys = createKeys(options.prefix, { buckets: options.buckets });
  const idempotencyTtlMs = options.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
  const { publication, ...requests } = createRequestStore(redis, keys, { idempotencyTtlMs });
  return {
    ...requests,
    ...createProjectStore(redis, keys),
    ...createCodeStore(redis, keys),
    ...createSecretStore(redis, keys, options.masterKey),
    ...createScheduleStore(redis, keys),
    ...createNodeStore(redis, keys),
    ...createNodeStatsStore(redis, keys),
    ...createDueStore(redis, keys),
    ...createRoundStore(redis, keys),
    ...createLedgerStore(redis, keys, publication),
    ...createReceiptStore(redis, keys),
    ...createRetentionStore(redis, keys),
    ...createExportStore(redis, keys),
    ...createChainStore(redis, keys, { idempotencyTtlMs }),
    ...createLeaseStore(redis, keys),
    ...createEventStore(redis, keys),
    ...createHealthStore(redis),
    close: async () => undefined,
    async claimLayout({ mayRecord = true } = {}) {
      const layout = `request-buckets ${keys.buckets}`;
      let stored = await redis.get(keys.layout);
      // The first process that may write records the layout; one that may only read (an executor) goes on.
      if (stored === null) stored = mayRecord ? ((await redis.set(keys.layout, layout, 'NX', 'GET')) ?? layout) : layout;
      if (stored !== layout) {
        throw new GatewayError('invalid_config', `the data in this Redis was written with ${stored.replace('request-buckets ', '')} request buckets, and GATEWAY_REQUEST_BUCKETS is ${keys.buckets}: set it back to the value the data was written with`);
      }
    },
  };
}

// The repository: the only code that reads or writes gateway state in Redis.
import type { Redis } from 'ioredis';
import { createChainRepository } from './chain.ts';
import { startFinalWaiters, type FinalWaiters } from './final-events.ts';
import { createKeys } from './keys.ts';
import { createLeaseRepository } from './leases.ts';
import { createLedgerRepository } from './ledger.ts';
import { createNodeRepository } from './nodes.ts';
import { createProjectRepository } from './projects.ts';
import { createRequestRepository } from './requests.ts';

export type Repository = ReturnType<typeof createRepository>;

const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

/**
 * One repository over one connection; `masterKey` is needed only where secrets are read or written;
 * idempotency keys expire after `idempotencyTtlMs` (default 24 h; chain keys excepted).
 */
export function createRepository(redis: Redis, options: { prefix: string; masterKey?: Uint8Array; idempotencyTtlMs?: number }) {
  const keys = createKeys(options.prefix);
  const ledger = createLedgerRepository(redis, keys);
  const idempotencyTtlMs = options.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
  return {
    keys,
    ...createProjectRepository(redis, keys, options.masterKey),
    ...createRequestRepository(redis, keys, { idempotencyTtlMs }),
    ...createNodeRepository(redis, keys),
    ...createChainRepository(redis, keys, { idempotencyTtlMs }),
    ...ledger,
    ...createLeaseRepository(redis, keys),
    /** Waiters on requests becoming final (a pub/sub connection of their own); close them when done. */
    openFinalWaiters: (): Promise<FinalWaiters> => startFinalWaiters(redis, keys.finalChannel),
    /** True while the connection to Redis is up (answers right away; a request would only queue). */
    isConnected: (): boolean => redis.status === 'ready',
    /** True when Redis answers PING within a second (never waits in the offline queue). */
    async ping(): Promise<boolean> {
      if (redis.status !== 'ready') return false;
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<string>((resolve) => { timer = setTimeout(() => resolve('timeout'), 1000); });
        return (await Promise.race([redis.ping(), timeout])) === 'PONG';
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    close: ledger.close,
  };
}

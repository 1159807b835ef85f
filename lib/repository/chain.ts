// Chain state: bindings of on-chain project ids to gateway projects, and the outbox of published
// chain requests whose results still have to reach the contract.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import type { ChainPublication } from './types.ts';

/** Chain bindings (one gateway project per chain project) and the publication outbox. */
export interface ChainStore {
  /** Binds an on-chain project id to a gateway project (one gateway project per chain project). */
  putChainBinding(chainProjectId: number, projectId: string): Promise<void>;
  /** The chain project id bound to a gateway project, if any. */
  getChainBindingOf(projectId: string): Promise<number | null>;
  /** Every binding: chain project id → gateway project id. */
  listChainBindings(): Promise<Map<number, string>>;
  /** Queues a published chain request for the contract (idempotent). */
  putChainOutbox(requestId: string, nowMs: number): Promise<void>;
  /** The oldest queued ids that are due, at most `limit`. */
  listChainOutbox(nowMs: number, limit: number): Promise<string[]>;
  /**
   * Records where a request's chain publication stands; `retryAtMs` keeps it queued until then, null
   * removes it. Once the contract holds the result, the request's idempotency key starts to expire.
   */
  putChainPublication(requestId: string, publication: ChainPublication, retryAtMs: number | null): Promise<void>;
}

/** The chain store over the shared connection; a committed publication starts the idempotency key's `idempotencyTtlMs`. */
export function createChainStore(redis: Redis, keys: Keys, options: { idempotencyTtlMs: number }): ChainStore {
  return {
    async putChainBinding(chainProjectId, projectId) {
      const previous = await redis.hget(keys.chainBindings, String(chainProjectId));
      const tx = redis.multi().hset(keys.chainBindings, String(chainProjectId), projectId).hset(keys.chainBindingOf, projectId, String(chainProjectId));
      if (previous && previous !== projectId) tx.hdel(keys.chainBindingOf, previous);
      await tx.exec();
    },

    async getChainBindingOf(projectId) {
      const id = await redis.hget(keys.chainBindingOf, projectId);
      return id === null ? null : Number(id);
    },

    async listChainBindings() {
      const all = await redis.hgetall(keys.chainBindings);
      return new Map(Object.entries(all).map(([chainId, projectId]) => [Number(chainId), projectId]));
    },

    async putChainOutbox(requestId, nowMs) {
      await redis.zadd(keys.chainOutbox, 'NX', nowMs, requestId);
    },

    listChainOutbox: (nowMs, limit) => redis.zrangebyscore(keys.chainOutbox, '-inf', nowMs, 'LIMIT', 0, limit),

    async putChainPublication(requestId, publication, retryAtMs) {
      // The request (its bucket) and the outbox (the control plane) are on different slots: the
      // publication first, then the outbox; both writes are idempotent, and an outbox entry left by a
      // crash in between is tried again and finds the publication already there.
      await redis.hset(keys.request(requestId), 'chain', JSON.stringify(publication));
      if (retryAtMs === null) await redis.zrem(keys.chainOutbox, requestId);
      else await redis.zadd(keys.chainOutbox, 'XX', retryAtMs, requestId);
      if (publication.status !== 'committed') return;
      const idemKey = await redis.hget(keys.request(requestId), 'idem');
      if (idemKey) await redis.pexpire(idemKey, options.idempotencyTtlMs);
    },
  };
}

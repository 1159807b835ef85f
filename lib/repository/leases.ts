// Leases: one holder at a time per named lease, renewed by its holder, lost if not renewed within its TTL.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';

// KEYS: lease. ARGV: owner, ttl ms. Takes a free lease or extends our own.
const RENEW = createScript(`
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`);

// KEYS: lease. ARGV: owner. Drops the lease only if this owner still holds it.
const RELEASE = createScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

/** One owner's handle on a named lease. */
export interface Lease {
  /** Takes or extends the lease; true while this owner holds it. */
  renew(): Promise<boolean>;
  /** True if the last renewal succeeded less than a TTL ago. */
  isHeld(): boolean;
  release(): Promise<void>;
}

/** The leases roles hold: the scheduler ticks alone, one chain publisher signs at a time. */
export type LeaseName = 'scheduler' | 'chain-publisher';

/** Named leases: at most one owner holds each at a time. */
export interface LeaseStore {
  /** A handle on the named lease for `owner` (a random id per process); nothing is taken until renew(). */
  openLease(name: LeaseName, owner: string, ttlMs: number): Lease;
}

/** The lease store over the shared connection. */
export function createLeaseStore(redis: Redis, keys: Keys): LeaseStore {
  return {
    openLease: (name, owner, ttlMs) => openLease(redis, keys.lease(name), owner, ttlMs),
  };
}

function openLease(redis: Redis, key: string, owner: string, ttlMs: number): Lease {
  let heldUntil = 0;
  return {
    async renew() {
      const startedAt = Date.now();
      const held = (await RENEW(redis, [key], [owner, ttlMs])) === 1;
      heldUntil = held ? startedAt + ttlMs : 0;
      return held;
    },
    isHeld: () => Date.now() < heldUntil,
    async release() {
      heldUntil = 0;
      await RELEASE(redis, [key], [owner]).catch(() => undefined);
    },
  };
}

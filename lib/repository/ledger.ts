// The ledger in Redis: an append-only list, appended at most once per request (WATCH on the head).
import type { Redis } from 'ioredis';
import { computeLedgerHash, GENESIS_PREV_HASH, type HashedLedgerEntry, type LedgerFields } from '../protocol/ledger.ts';
import type { Keys } from './keys.ts';
import type { LedgerEntry, Page } from './types.ts';

const MAX_APPEND_ATTEMPTS = 50;

export function createLedgerRepository(redis: Redis, keys: Keys) {
  // WATCH is per connection: appends use their own connection, one at a time per process.
  let watcher: Redis | undefined;
  let tail: Promise<unknown> = Promise.resolve();

  async function appendOnce(fields: Omit<LedgerFields, 'seq' | 'prevHash'>): Promise<LedgerEntry> {
    watcher ??= redis.duplicate();
    const conn = watcher;
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      await conn.watch(keys.ledgerHead, keys.ledgerByRequest);
      const [existingSeq, head] = await Promise.all([conn.hget(keys.ledgerByRequest, fields.requestId), conn.get(keys.ledgerHead)]);
      if (existingSeq) {
        await conn.unwatch();
        const doc = await conn.lindex(keys.ledger, Number(existingSeq) - 1);
        return JSON.parse(doc!) as LedgerEntry;
      }
      const [lastSeq, prevHash] = head ? [Number(head.split(' ')[0]), head.split(' ')[1]] : [0, GENESIS_PREV_HASH];
      const entryFields: LedgerFields = { seq: lastSeq + 1, prevHash, ...fields };
      const entry: HashedLedgerEntry = { ...entryFields, hash: computeLedgerHash(entryFields) };
      const result = await conn.multi()
        .rpush(keys.ledger, JSON.stringify(entry))
        .hset(keys.ledgerByRequest, fields.requestId, String(entry.seq))
        .set(keys.ledgerHead, `${entry.seq} ${entry.hash}`)
        .exec();
      if (result) return entry;
    }
    throw new Error('ledger append kept conflicting');
  }

  return {
    /** Appends the request's entry, or returns the entry it already has. */
    appendLedger(fields: Omit<LedgerFields, 'seq' | 'prevHash'>): Promise<LedgerEntry> {
      const run = tail.then(() => appendOnce(fields));
      tail = run.catch(() => undefined);
      return run;
    },

    /** Entries with seq > `after`, oldest first. */
    async listLedger(after: number, limit: number): Promise<Page<LedgerEntry>> {
      const docs = await redis.lrange(keys.ledger, after, after + limit);
      const items = docs.slice(0, limit).map((d) => JSON.parse(d) as LedgerEntry);
      return { items, nextCursor: docs.length > limit ? String(after + limit) : null };
    },

    async getLedgerHead(): Promise<{ length: number; head: string }> {
      const head = await redis.get(keys.ledgerHead);
      return head ? { length: Number(head.split(' ')[0]), head: head.split(' ')[1] } : { length: 0, head: GENESIS_PREV_HASH };
    },

    async close(): Promise<void> {
      const conn = watcher;
      watcher = undefined;
      if (conn) await conn.quit().catch(() => conn.disconnect());
    },
  };
}

export type LedgerRepository = ReturnType<typeof createLedgerRepository>;

// The ledger in Redis: an append-only list, appended at most once per request (WATCH on the head,
// several appends per transaction when they queue up).
import type { Redis } from 'ioredis';
import { closeRedis } from '../redis.ts';
import { computeLedgerHash, GENESIS_PREV_HASH, type HashedLedgerEntry, type LedgerFields } from '../protocol/ledger.ts';
import type { Keys } from './keys.ts';
import type { LedgerEntry, Page } from './types.ts';

const MAX_APPEND_ATTEMPTS = 50;

type AppendFields = Omit<LedgerFields, 'seq' | 'prevHash'>;

interface PendingAppend {
  readonly fields: AppendFields;
  resolve(entry: LedgerEntry): void;
  reject(error: unknown): void;
}

export function createLedgerRepository(redis: Redis, keys: Keys) {
  // WATCH is per connection: appends use their own connection. Appends that arrive while one
  // batch is being written are committed together in the next batch (group commit).
  let watcher: Redis | undefined;
  let pending: PendingAppend[] = [];
  let writing = false;

  async function writeBatch(batch: readonly PendingAppend[]): Promise<Map<string, LedgerEntry>> {
    if (!watcher) {
      watcher = redis.duplicate();
      // Reconnection is ioredis's job; its errors are already reported by the main connection.
      watcher.on('error', () => undefined);
    }
    const conn = watcher;
    const requestIds = [...new Set(batch.map((p) => p.fields.requestId))];
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      await conn.watch(keys.ledgerHead, keys.ledgerByRequest);
      const [existing, head] = await Promise.all([conn.hmget(keys.ledgerByRequest, ...requestIds), conn.get(keys.ledgerHead)]);
      const entries = new Map<string, LedgerEntry>();
      for (const [i, seq] of existing.entries()) {
        if (seq) entries.set(requestIds[i], JSON.parse((await conn.lindex(keys.ledger, Number(seq) - 1))!) as LedgerEntry);
      }
      let [lastSeq, prevHash] = head ? [Number(head.split(' ')[0]), head.split(' ')[1]] : [0, GENESIS_PREV_HASH];
      const fresh: LedgerEntry[] = [];
      for (const { fields } of batch) {
        if (entries.has(fields.requestId)) continue;
        const entryFields: LedgerFields = { seq: lastSeq + 1, prevHash, ...fields };
        const entry: HashedLedgerEntry = { ...entryFields, hash: computeLedgerHash(entryFields) };
        entries.set(fields.requestId, entry);
        fresh.push(entry);
        [lastSeq, prevHash] = [entry.seq, entry.hash];
      }
      if (fresh.length === 0) {
        await conn.unwatch();
        return entries;
      }
      const result = await conn.multi()
        .rpush(keys.ledger, ...fresh.map((e) => JSON.stringify(e)))
        .hset(keys.ledgerByRequest, ...fresh.flatMap((e) => [e.requestId, String(e.seq)]))
        .set(keys.ledgerHead, `${lastSeq} ${prevHash}`)
        .exec();
      if (result) return entries;
    }
    throw new Error('ledger append kept conflicting');
  }

  async function drain(): Promise<void> {
    writing = true;
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        const entries = await writeBatch(batch);
        for (const append of batch) append.resolve(entries.get(append.fields.requestId)!);
      } catch (error) {
        for (const append of batch) append.reject(error);
      }
    }
    writing = false;
  }

  return {
    /** Appends the request's entry, or returns the entry it already has. */
    appendLedger(fields: AppendFields): Promise<LedgerEntry> {
      return new Promise<LedgerEntry>((resolve, reject) => {
        pending.push({ fields, resolve, reject });
        if (!writing) void drain();
      });
    },

    /** Entries with seq > `after`, oldest first. */
    async listLedger(after: number, limit: number): Promise<Page<LedgerEntry>> {
      const docs = await redis.lrange(keys.ledger, after, after + limit);
      const items = docs.slice(0, limit).map((d) => JSON.parse(d) as LedgerEntry);
      return { items, nextCursor: docs.length > limit ? String(after + limit) : null };
    },

    /** The number of entries the ledger list holds (LLEN), whatever its head key says. */
    getLedgerLength: (): Promise<number> => redis.llen(keys.ledger),

    /**
     * Entries `fromSeq`..`fromSeq + count - 1` exactly as stored (JSON text), for the ledger check,
     * which must report an entry that no longer parses rather than fail on it. One entry is read
     * with LINDEX, more with LRANGE.
     */
    async listLedgerText(fromSeq: number, count: number): Promise<string[]> {
      if (count <= 0) return [];
      if (count === 1) {
        const text = await redis.lindex(keys.ledger, fromSeq - 1);
        return text === null ? [] : [text];
      }
      return redis.lrange(keys.ledger, fromSeq - 1, fromSeq + count - 2);
    },

    async getLedgerHead(): Promise<{ length: number; head: string }> {
      const head = await redis.get(keys.ledgerHead);
      return head ? { length: Number(head.split(' ')[0]), head: head.split(' ')[1] } : { length: 0, head: GENESIS_PREV_HASH };
    },

    async close(): Promise<void> {
      const conn = watcher;
      watcher = undefined;
      if (conn) await closeRedis(conn);
    },
  };
}

export type LedgerRepository = ReturnType<typeof createLedgerRepository>;

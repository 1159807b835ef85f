// The due-time index (docs/architecture.md, "Retention, deadlines, errors"): a sorted set per request
// bucket holding each request's deadline and median grace period, scored by when it is due (ms),
// which consensus sweeps (every bucket, merged by due time).
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';

export const DUE_KINDS = ['deadline', 'grace'] as const;
export type DueKind = (typeof DUE_KINDS)[number];

/** One entry: member `<kind>.<requestId>`, score `dueAtMs`. */
export interface DueEntry {
  readonly kind: DueKind;
  readonly requestId: string;
  readonly dueAtMs: number;
}

export interface DueStore {
  /** Adds an entry unless the request has one of that kind already: an existing entry keeps its time, so a repeated call is a no-op. */
  putDueEntry(entry: DueEntry): Promise<void>;
  /** Moves an existing entry to `dueAtMs`; nothing when the entry is gone. */
  moveDueEntry(entry: DueEntry): Promise<void>;
  /** Entries due at or before `nowMs`, earliest first, at most `limit`. */
  listDueEntries(nowMs: number, limit: number): Promise<DueEntry[]>;
  /** Removes the request's entries of `kinds` (all kinds by default). */
  removeDueEntries(requestId: string, kinds?: readonly DueKind[]): Promise<void>;
  /** Of `requestIds`, those with no entry of `kind` (what the repair sweep adds again). */
  listMissingDueEntries(kind: DueKind, requestIds: readonly string[]): Promise<string[]>;
}

/** A due entry's member in the index: `<kind>.<requestId>`. */
export const dueMemberOf = (kind: DueKind, requestId: string) => `${kind}.${requestId}`;

export function createDueStore(redis: Redis, keys: Keys): DueStore {
  const dueOf = (requestId: string) => keys.due(keys.bucketOf(requestId));
  return {
    async putDueEntry({ kind, requestId, dueAtMs }) {
      await redis.zadd(dueOf(requestId), 'NX', dueAtMs, dueMemberOf(kind, requestId));
    },
    async moveDueEntry({ kind, requestId, dueAtMs }) {
      await redis.zadd(dueOf(requestId), 'XX', dueAtMs, dueMemberOf(kind, requestId));
    },
    async listDueEntries(nowMs, limit) {
      const replies = await Promise.all(keys.bucketNumbers.map((b) => redis.zrangebyscore(keys.due(b), '-inf', nowMs, 'WITHSCORES', 'LIMIT', 0, limit)));
      const entries: DueEntry[] = [];
      await Promise.all(replies.map(async (reply, b) => {
        const malformed: string[] = [];
        for (let i = 0; i < reply.length; i += 2) {
          const member = reply[i];
          const dot = member.indexOf('.');
          const kind = member.slice(0, dot) as DueKind;
          if (dot > 0 && DUE_KINDS.includes(kind) && dot < member.length - 1) entries.push({ kind, requestId: member.slice(dot + 1), dueAtMs: Number(reply[i + 1]) });
          else malformed.push(member);
        }
        // A member that names no kind and request can never be applied; left in place it would stay at the head of every batch.
        if (malformed.length > 0) await redis.zrem(keys.due(b), ...malformed);
      }));
      return replies.length === 1 ? entries : entries.sort((a, b) => a.dueAtMs - b.dueAtMs).slice(0, limit);
    },
    async removeDueEntries(requestId, kinds = DUE_KINDS) {
      await redis.zrem(dueOf(requestId), ...kinds.map((kind) => dueMemberOf(kind, requestId)));
    },
    async listMissingDueEntries(kind, requestIds) {
      // One ZMSCORE per bucket, however many requests.
      const byBucket = Map.groupBy(requestIds, (id) => keys.bucketOf(id));
      const missing = new Set<string>();
      await Promise.all([...byBucket].map(async ([b, ids]) => {
        const scores = await redis.zmscore(keys.due(b), ...ids.map((id) => dueMemberOf(kind, id)));
        ids.forEach((id, i) => { if (scores[i] === null) missing.add(id); });
      }));
      return requestIds.filter((id) => missing.has(id));
    },
  };
}

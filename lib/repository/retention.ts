// Retention in Redis (docs/architecture.md, "Retention"): compacting published requests, removing final
// requests, the ledger's front and old rounds in bounded scripts, tombstones of removed requests,
// and what the memory gauges read (the export index is in exports.ts). Every write is a guarded Lua
// script (or a plain ZREM) that a second run (a re-sent command) finds done and leaves alone. Request
// state is spread over buckets (keys.ts): a request script runs once per bucket, on that bucket's keys
// only; the ledger, rounds and cursors are on the control plane.
import type { Redis } from 'ioredis';
import { FINAL_STATUSES } from '../protocol/request-lifecycle.ts';
import { timeOfId } from '../ids.ts';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { Outcome, RoundRecord } from './types.ts';

const HOUR_MS = 3_600_000;
/** Requests, ledger entries or rounds per script call at most: each call keeps Redis busy briefly. */
export const RETENTION_SCRIPT_MAX = 100;

const luaList = (values: readonly string[]) => `{${values.map((v) => `'${v}'`).join(', ')}}`;

// One call per request bucket (every key in the bucket's slot). KEYS: recent, finished, due, then per
// request: record, votes, tombstone hour. ARGV: export mark, count, then per request: id, project id,
// tombstone expiry (ms, absolute). Removes a request only when it is final, and a published one only
// when its ledger entry was exported (seq ≤ the mark) and its chain publication (if any) is over;
// leaves a tombstone `<projectId> <seq>`. The mark is read by the caller before the call: it only
// moves forward, so a mark read early can only make the script remove less.
// Idempotency keys stay: they expire by their TTL (a chain key once the contract holds the result),
// and until then a retried request finds its id, then `410 gone`.
const REMOVE_REQUESTS = createScript(`
local FINAL = ${luaList(FINAL_STATUSES)}
local through = tonumber(ARGV[1]) or 0
local removed, cleaned = {}, {}
for i = 1, tonumber(ARGV[2]) do
  local k = 3 + (i - 1) * 3
  local a = 3 + (i - 1) * 3
  local id = ARGV[a]
  local status = redis.call('HGET', KEYS[k + 1], 'status')
  local isFinal = false
  for _, final in ipairs(FINAL) do if status == final then isFinal = true end end
  local seq = tonumber(string.match(redis.call('HGET', KEYS[k + 1], 'ledger') or '', '"seq":(%d+)')) or 0
  local chain = redis.call('HGET', KEYS[k + 1], 'chain') or ''
  local isChainOpen = string.find(chain, '"status":"pending"', 1, true) or string.find(chain, '"status":"broadcast"', 1, true)
  if not status then
    -- An index entry whose request is gone: only the entry goes.
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    cleaned[#cleaned + 1] = id
  elseif isFinal and seq <= through and not isChainOpen then
    redis.call('DEL', KEYS[k + 1], KEYS[k + 2])
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], 'deadline.' .. id, 'grace.' .. id)
    redis.call('HSET', KEYS[k + 3], id, ARGV[a + 1] .. ' ' .. seq)
    redis.call('PEXPIREAT', KEYS[k + 3], ARGV[a + 2])
    removed[#removed + 1] = id
  end
end
return {removed, cleaned}
`);

// KEYS: ledger list, request → seq hash, base. ARGV: expected base seq, entries to remove, the last
// one's seq and hash, then the removed entries' request ids. Removes the front of the list only
// while the base is the one the caller read (so the list front is the entry after it).
const TRIM_LEDGER = createScript(`
local base = tonumber(string.match(redis.call('GET', KEYS[3]) or '0', '^%d+')) or 0
if base ~= tonumber(ARGV[1]) then return 0 end
local count = tonumber(ARGV[2])
local last = redis.call('LINDEX', KEYS[1], count - 1)
if not last or not string.find(last, '"hash":"' .. ARGV[4] .. '"', 1, true) then return 0 end
redis.call('LTRIM', KEYS[1], count, -1)
for i = 5, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
redis.call('SET', KEYS[3], ARGV[3] .. ' ' .. ARGV[4])
return count
`);

// KEYS: round anchor, then round and tickets of each round removed, oldest first. ARGV: the anchor's
// round expected (0 = none). The newest removed round becomes the anchor (its seed starts the proof
// of the oldest round kept).
const REMOVE_ROUNDS = createScript(`
if tonumber(redis.call('HGET', KEYS[1], 'round') or '0') ~= tonumber(ARGV[1]) then return 0 end
local fields = redis.call('HGETALL', KEYS[#KEYS - 1])
if #fields == 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return (#KEYS - 1) / 2
`);

// One call per request bucket. KEYS: each request's votes. ARGV: per request: number of votes
// changed, then (node id, stored JSON, compacted JSON) each. A vote is replaced only while it is the
// one read (compare and set), so a second run changes nothing.
const COMPACT_VOTES = createScript(`
local a = 1
local changed = 0
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  for j = 0, n - 1 do
    local at = a + 1 + j * 3
    if redis.call('HGET', KEYS[k], ARGV[at]) == ARGV[at + 1] then
      redis.call('HSET', KEYS[k], ARGV[at], ARGV[at + 2])
      changed = changed + 1
    end
  end
  a = a + 1 + n * 3
end
return changed
`);

// KEYS: compaction cursor. ARGV: seq. The cursor only moves forward.
const MOVE_CURSOR = createScript(`
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`);

/** A request the retention sweep removes: its id and project (for the tombstone). */
export interface RemovableRequest {
  readonly id: string;
  readonly projectId: string;
}

/** A ledger entry at the list's front, as the trim needs it. */
export interface TrimmedEntry {
  readonly seq: number;
  readonly hash: string;
  readonly requestId: string;
}

/** A removed request's tombstone: its project and ledger seq (0 when it was not published). */
export interface Tombstone {
  readonly projectId: string;
  readonly seq: number;
}

export interface RetentionStore {
  /** The last seq the compaction handled (0 before any). */
  getCompactionCursor(): Promise<number>;
  /**
   * Drops logs from every vote of the requests, the values of late votes, and stores a counted
   * vote's value only once, in the outcome, when it is the outcome's; then moves the cursor to
   * `cursorSeq`. Returns the votes changed. A vote that changed since it was read is left as it is.
   */
  compactRequests(requests: readonly { readonly id: string; readonly outcome: Outcome }[], cursorSeq: number): Promise<number>;
  /**
   * Removes final requests (record, votes, index entries) and leaves a tombstone for each, living
   * until `tombstoneUntilMs(id)`; a published one only once its ledger entry was exported and its
   * chain publication is over. Index entries of a request whose record is gone are dropped
   * (`cleaned`). Returns the ids removed and cleaned.
   */
  removeRequests(requests: readonly RemovableRequest[], tombstoneUntilMs: (id: string) => number): Promise<{ removed: string[]; cleaned: string[] }>;
  /** Oldest final requests that became final before `beforeMs`, skipping `offset`, at most `limit`. */
  listFinishedBefore(beforeMs: number, offset: number, limit: number): Promise<string[]>;
  /** Which of the requests still exist (one flag per id). */
  haveRequests(ids: readonly string[]): Promise<boolean[]>;
  /** Removes the ledger's first entries (they must start right after `baseSeq`) and makes the last one the base. */
  trimLedger(baseSeq: number, entries: readonly TrimmedEntry[]): Promise<number>;
  /** The newest removed round (the anchor), or null while none was removed. */
  getRoundAnchor(): Promise<RoundRecord | null>;
  /** Removes rounds `from..through` with their tickets (`from` is right after the anchor) and makes `through` the anchor. */
  removeRounds(from: number, through: number): Promise<number>;
  /** Round start times (ms) of rounds `from..through`, NaN for a missing one. */
  listRoundStarts(from: number, through: number): Promise<number[]>;
  /** The tombstone of a removed request, while it lives. */
  getTombstone(requestId: string): Promise<Tombstone | null>;
  /** When the oldest final request still kept became final (ms), or null when none is kept. */
  getOldestFinishedMs(): Promise<number | null>;
  /** Redis `used_memory` and `maxmemory` (0 = no limit), in bytes, from INFO memory. */
  getMemoryUsage(): Promise<{ usedBytes: number; maxBytes: number }>;
}

/** The retention store over the shared connection. */
export function createRetentionStore(redis: Redis, keys: Keys): RetentionStore {
  const hourOf = (id: string) => Math.floor(timeOfId(id) / HOUR_MS);
  // Requests grouped by bucket: a script may only touch one bucket's slot.
  const byBucket = <T extends { readonly id: string }>(requests: readonly T[]): Map<number, T[]> => {
    const groups = new Map<number, T[]>();
    for (const request of requests) {
      const b = keys.bucketOf(request.id);
      groups.set(b, [...(groups.get(b) ?? []), request]);
    }
    return groups;
  };
  return {
    getCompactionCursor: async () => Number((await redis.get(keys.retentionCompacted)) ?? 0),

    async compactRequests(requests, cursorSeq) {
      // One command per key, sent together (different buckets, so no pipeline may span them).
      const stored = await Promise.all(requests.map((request) => redis.hgetall(keys.requestVotes(request.id))));
      const changes = new Map(requests.map((request, i) => [request.id, Object.entries(stored[i]).flatMap(([nodeId, text]) => {
        const compacted = compactVoteText(text, request.outcome);
        return compacted === null ? [] : [[nodeId, text, compacted]];
      })]));
      const counts = await Promise.all([...byBucket(requests).values()].map((group) => {
        const args: (string | number)[] = [];
        for (const { id } of group) args.push(changes.get(id)!.length, ...changes.get(id)!.flat());
        return COMPACT_VOTES(redis, group.map((r) => keys.requestVotes(r.id)), args) as Promise<number>;
      }));
      // The cursor moves once every bucket is done: a run cut short before it compacts again, which changes nothing.
      if (cursorSeq > 0) await MOVE_CURSOR(redis, [keys.retentionCompacted], [cursorSeq]);
      return counts.reduce((a, b) => a + b, 0);
    },

    async removeRequests(requests, tombstoneUntilMs) {
      if (requests.length === 0) return { removed: [], cleaned: [] };
      const through = Number((await redis.get(keys.exportThrough)) ?? 0);
      const replies = await Promise.all([...byBucket(requests)].map(([b, group]) => {
        const scriptKeys = [keys.recentRequests(b), keys.finishedRequests(b), keys.due(b)];
        const args: (string | number)[] = [through, group.length];
        for (const { id, projectId } of group) {
          scriptKeys.push(keys.request(id), keys.requestVotes(id), keys.gone(b, hourOf(id)));
          args.push(id, projectId, tombstoneUntilMs(id));
        }
        return REMOVE_REQUESTS(redis, scriptKeys, args) as Promise<[string[], string[]]>;
      }));
      const removed = new Set(replies.flatMap(([ids]) => ids));
      const cleaned = new Set(replies.flatMap(([, ids]) => ids));
      // The project's list is on the control plane, so it leaves the list after the bucket's script.
      // A crash in between leaves an id whose record is gone in the list, which readers skip
      // (getRequests drops missing records). A re-run after a lost reply reports its own removal as
      // `cleaned`: with its project known, it leaves the list then.
      await Promise.all(requests
        .filter(({ id, projectId }) => projectId !== '' && (removed.has(id) || cleaned.has(id)))
        .map(({ id, projectId }) => redis.zrem(keys.projectRequests(projectId), id)));
      return { removed: requests.map((r) => r.id).filter((id) => removed.has(id)), cleaned: requests.map((r) => r.id).filter((id) => cleaned.has(id)) };
    },

    async listFinishedBefore(beforeMs, offset, limit) {
      if (keys.buckets === 1) return redis.zrangebyscore(keys.finishedRequests(0), '-inf', `(${beforeMs}`, 'LIMIT', offset, limit);
      // The first offset + limit of every bucket hold the first offset + limit of all, in (score, id) order.
      const replies = await Promise.all(keys.bucketNumbers.map((b) => redis.zrangebyscore(keys.finishedRequests(b), '-inf', `(${beforeMs}`, 'WITHSCORES', 'LIMIT', 0, offset + limit)));
      const items: { id: string; score: number }[] = [];
      for (const reply of replies) for (let i = 0; i < reply.length; i += 2) items.push({ id: reply[i], score: Number(reply[i + 1]) });
      items.sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return items.slice(offset, offset + limit).map((item) => item.id);
    },

    haveRequests: async (ids) => (await Promise.all(ids.map((id) => redis.exists(keys.request(id))))).map((n) => n === 1),

    async trimLedger(baseSeq, entries) {
      if (entries.length === 0) return 0;
      const last = entries[entries.length - 1];
      return (await TRIM_LEDGER(redis, [keys.ledger, keys.ledgerByRequest, keys.ledgerBase], [baseSeq, entries.length, last.seq, last.hash, ...entries.map((e) => e.requestId)])) as number;
    },

    async getRoundAnchor() {
      const hash = await redis.hgetall(keys.roundAnchor);
      if (!hash.round) return null;
      return {
        round: Number(hash.round), seed: hash.seed, proof: hash.proof, ticketsRoot: hash.ticketsRoot ?? '', ledgerLength: Number(hash.ledgerLength ?? 0),
        ledgerHead: hash.ledgerHead ?? '', startedAt: hash.startedAt, frozen: hash.frozen === '1',
      };
    },

    async removeRounds(from, through) {
      if (through < from) return 0;
      const roundKeys = Array.from({ length: through - from + 1 }, (_, i) => [keys.round(from + i), keys.roundTickets(from + i)]).flat();
      return (await REMOVE_ROUNDS(redis, [keys.roundAnchor, ...roundKeys], [from - 1])) as number;
    },

    async listRoundStarts(from, through) {
      if (through < from) return [];
      const starts = await Promise.all(Array.from({ length: through - from + 1 }, (_, i) => redis.hget(keys.round(from + i), 'startedAt')));
      return starts.map((at) => (typeof at === 'string' ? Date.parse(at) : NaN));
    },

    async getTombstone(requestId) {
      const hour = hourOf(requestId);
      if (!Number.isFinite(hour)) return null;
      const value = await redis.hget(keys.gone(keys.bucketOf(requestId), hour), requestId);
      if (value === null) return null;
      const [projectId, seq] = value.split(' ');
      return { projectId, seq: Number(seq) };
    },

    async getOldestFinishedMs() {
      const replies = await Promise.all(keys.bucketNumbers.map((b) => redis.zrange(keys.finishedRequests(b), '0', '0', 'WITHSCORES')));
      const scores = replies.filter((reply) => reply.length === 2).map((reply) => Number(reply[1]));
      return scores.length === 0 ? null : Math.min(...scores);
    },

    async getMemoryUsage() {
      const info = await redis.info('memory');
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
      return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
    },
  };
}

/**
 * A stored vote (JSON text) as compaction keeps it, or null when nothing changes: no logs; a late
 * vote without its value (`valueDropped`); a counted vote whose verdict is the outcome's without its
 * verdict, result hash, value and round (`sameAsOutcome`: request-reads.ts restores them from the
 * outcome and the assignment; the same value, by its hash).
 */
export function compactVoteText(text: string, outcome: Pick<Outcome, 'ok' | 'resultHash'>): string | null {
  const vote = JSON.parse(text) as Record<string, unknown>;
  let isChanged = false;
  if ('logs' in vote) {
    delete vote.logs;
    isChanged = true;
  }
  if ('value' in vote && vote.late === true) {
    delete vote.value;
    vote.valueDropped = true;
    isChanged = true;
  } else if ('value' in vote && vote.ok === outcome.ok && vote.resultHash === outcome.resultHash) {
    // The verdict, hash and value are the outcome's and the round the assignment's: kept there once.
    for (const field of ['value', 'ok', 'resultHash', 'round']) delete vote[field];
    vote.sameAsOutcome = true;
    isChanged = true;
  }
  return isChanged ? JSON.stringify(vote) : null;
}

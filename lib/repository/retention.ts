// Retention in Redis (ARCHITECTURE.md, "Retention"): compacting published requests, removing final
// requests, the ledger's front and old rounds in bounded scripts, tombstones of removed requests,
// and what the memory gauges read (the export index is in exports.ts). Every write is one guarded Lua script that a
// second run (a re-sent command) finds done and leaves alone.
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

// KEYS: export through, recent, finished, due, then per request: record, votes, project list,
// tombstone bucket. ARGV: count, then per request: id, project id, tombstone expiry (ms, absolute).
// Removes a request only when it is final, and a published one only when its ledger entry was
// exported and its chain publication (if any) is over; leaves a tombstone `<projectId> <seq>`.
// Idempotency keys stay: they expire by their TTL (a chain key once the contract holds the result),
// and until then a retried request finds its id, then `410 gone`.
const REMOVE_REQUESTS = createScript(`
local FINAL = ${luaList(FINAL_STATUSES)}
local through = tonumber(redis.call('GET', KEYS[1]) or '0')
local removed, cleaned = {}, {}
for i = 1, tonumber(ARGV[1]) do
  local k = 4 + (i - 1) * 4
  local a = 2 + (i - 1) * 3
  local id = ARGV[a]
  local status = redis.call('HGET', KEYS[k + 1], 'status')
  local isFinal = false
  for _, final in ipairs(FINAL) do if status == final then isFinal = true end end
  local seq = tonumber(string.match(redis.call('HGET', KEYS[k + 1], 'ledger') or '', '"seq":(%d+)')) or 0
  local chain = redis.call('HGET', KEYS[k + 1], 'chain') or ''
  local isChainOpen = string.find(chain, '"status":"pending"', 1, true) or string.find(chain, '"status":"broadcast"', 1, true)
  if not status then
    -- An index entry whose request is gone: only the entry goes.
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    cleaned[#cleaned + 1] = id
  elseif isFinal and seq <= through and not isChainOpen then
    redis.call('DEL', KEYS[k + 1], KEYS[k + 2])
    redis.call('ZREM', KEYS[k + 3], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], 'deadline.' .. id, 'grace.' .. id)
    redis.call('HSET', KEYS[k + 4], id, ARGV[a + 1] .. ' ' .. seq)
    redis.call('PEXPIREAT', KEYS[k + 4], ARGV[a + 2])
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

// KEYS: compaction cursor, then each request's votes. ARGV: cursor seq, then per request: number of
// votes changed, then (node id, stored JSON, compacted JSON) each. A vote is replaced only while it
// is the one read (compare and set); the cursor only moves forward.
const COMPACT_VOTES = createScript(`
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
local a = 2
local changed = 0
for k = 2, #KEYS do
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
  return {
    getCompactionCursor: async () => Number((await redis.get(keys.retentionCompacted)) ?? 0),

    async compactRequests(requests, cursorSeq) {
      const pipeline = redis.pipeline();
      for (const request of requests) pipeline.hgetall(keys.requestVotes(request.id));
      const replies = (await pipeline.exec()) ?? [];
      const changes = requests.map((request, i) => {
        const votes = (replies[i][1] ?? {}) as Record<string, string>;
        return Object.entries(votes).flatMap(([nodeId, text]) => {
          const compacted = compactVoteText(text, request.outcome);
          return compacted === null ? [] : [[nodeId, text, compacted]];
        });
      });
      const args: (string | number)[] = [cursorSeq];
      for (const change of changes) args.push(change.length, ...change.flat());
      return (await COMPACT_VOTES(redis, [keys.retentionCompacted, ...requests.map((r) => keys.requestVotes(r.id))], args)) as number;
    },

    async removeRequests(requests, tombstoneUntilMs) {
      if (requests.length === 0) return { removed: [], cleaned: [] };
      const scriptKeys = [keys.exportThrough, keys.recentRequests, keys.finishedRequests, keys.due];
      const args: (string | number)[] = [requests.length];
      for (const { id, projectId } of requests) {
        scriptKeys.push(keys.request(id), keys.requestVotes(id), keys.projectRequests(projectId), keys.gone(hourOf(id)));
        args.push(id, projectId, tombstoneUntilMs(id));
      }
      const [removed, cleaned] = (await REMOVE_REQUESTS(redis, scriptKeys, args)) as [string[], string[]];
      return { removed, cleaned };
    },

    listFinishedBefore: (beforeMs, offset, limit) => redis.zrangebyscore(keys.finishedRequests, '-inf', `(${beforeMs}`, 'LIMIT', offset, limit),

    async haveRequests(ids) {
      if (ids.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.exists(keys.request(id));
      return ((await pipeline.exec()) ?? []).map(([, n]) => n === 1);
    },

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
      const pipeline = redis.pipeline();
      for (let n = from; n <= through; n++) pipeline.hget(keys.round(n), 'startedAt');
      return ((await pipeline.exec()) ?? []).map(([, at]) => (typeof at === 'string' ? Date.parse(at) : NaN));
    },

    async getTombstone(requestId) {
      const hour = hourOf(requestId);
      if (!Number.isFinite(hour)) return null;
      const value = await redis.hget(keys.gone(hour), requestId);
      if (value === null) return null;
      const [projectId, seq] = value.split(' ');
      return { projectId, seq: Number(seq) };
    },

    async getOldestFinishedMs() {
      const [, score] = await redis.zrange(keys.finishedRequests, '0', '0', 'WITHSCORES');
      return score === undefined ? null : Number(score);
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

// The ledger in Redis: an append-only list, appended at most once per request by one Lua script
// per batch on the shared connection (appends that queue up while one is written go in the next).
import type { ChainableCommander, Redis } from 'ioredis';
import { computeLedgerHash, GENESIS_PREV_HASH, type LedgerFields } from '../protocol/ledger.ts';
import { createBatchedWriter } from './batched-writer.ts';
import type { Keys } from './keys.ts';
import { REQUEST_SCRIPT_SOURCES, type PublicationSteps, type TransitionResult } from './requests.ts';
import { createScript, luaSteps } from './script.ts';
import type { LedgerEntry, Page } from './types.ts';

const MAX_APPEND_ATTEMPTS = 50;
/** Entries per script call at most: a batch keeps Redis busy for one script only. */
const MAX_BATCH = 500;
/** Publications per script call at most (each also runs its request's transition). */
const MAX_PUBLISH_BATCH = 100;

// KEYS: ledger list, request → seq hash, head, base. ARGV: expected head text ('' = empty ledger), new
// head text, then (request id, seq, entry JSON) per entry, hashed by the caller from the expected head.
// Entries retention removed from the front are counted by the base (`<seq> <hash>`): index = seq - 1 - base.
// Appends the whole batch, or nothing: when the head moved or a request of the batch already has an
// entry, it returns {'conflict', head, then (request id, stored entry JSON) per such request}, and the
// caller chains the rest again from that head. The hashes stay in TypeScript (computeLedgerHash).
const APPEND_LUA = `
local head = redis.call('GET', KEYS[3]) or ''
local base = tonumber(string.match(redis.call('GET', KEYS[4]) or '0', '^%d+')) or 0
local reply = {'conflict', head}
for i = 3, #ARGV, 3 do
  local seq = redis.call('HGET', KEYS[2], ARGV[i])
  if seq then
    reply[#reply + 1] = ARGV[i]
    reply[#reply + 1] = redis.call('LINDEX', KEYS[1], tonumber(seq) - 1 - base)
  end
end
if head ~= ARGV[1] or #reply > 2 then return reply end
for i = 3, #ARGV, 3 do
  redis.call('RPUSH', KEYS[1], ARGV[i + 2])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[3], ARGV[2])
return {'appended'}
`;
const APPEND = createScript(APPEND_LUA);

// On one Redis (on a cluster the ledger and the requests are on different slots) a batch's append and
// the publications it records are one script: APPEND, then, when it appended, each request's
// TRANSITION to published (requests.ts). KEYS: APPEND's four, then each request's TRANSITION keys.
// ARGV: the number of requests n, then per request how many keys and arguments its TRANSITION takes,
// then APPEND's arguments, then each request's TRANSITION arguments. Returns APPEND's conflict reply
// unchanged (nothing written), or {'appended', then per request the length of its TRANSITION answer
// and the answer}. Re-sent after a lost reply, the append finds the entries stored and answers with a
// conflict: the caller then runs each request's TRANSITION alone, with the same move id, which answers
// 'repeat' for a request this very call published.
const APPEND_AND_PUBLISH = createScript(`${luaSteps({ append: APPEND_LUA, publish: REQUEST_SCRIPT_SOURCES.transition })}
local n = tonumber(ARGV[1])
local at = 2 + 2 * n
local appended = append({KEYS[1], KEYS[2], KEYS[3], KEYS[4]}, {unpack(ARGV, at, at + 1 + 3 * n)})
if appended[1] ~= 'appended' then return appended end
local reply = {'appended'}
local k, a = 5, at + 2 + 3 * n
for i = 1, n do
  local keyCount, argCount = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local answer = publish({unpack(KEYS, k, k + keyCount - 1)}, {unpack(ARGV, a, a + argCount - 1)})
  reply[#reply + 1] = #answer
  for _, v in ipairs(answer) do reply[#reply + 1] = v end
  k, a = k + keyCount, a + argCount
end
return reply
`);

/** The fields of a new entry; the ledger sets `seq` and `prevHash`. */
export type AppendFields = Omit<LedgerFields, 'seq' | 'prevHash'>;

/** The hash-chained ledger: appends (once per request) and the reads the API and its verifier use. */
export interface LedgerStore {
  /** Appends the request's entry, or returns the entry it already has. */
  appendLedger(fields: AppendFields): Promise<LedgerEntry>;
  /**
   * Appends the request's entry (or finds the one it has), then moves the request `agreed →
   * published` with it, finished at `nowMs` (publishRequest's answer). On one Redis both are one
   * script call per batch; on a cluster, where the ledger and the request are on different slots,
   * the append and then the transition.
   */
  publishToLedger(fields: AppendFields, nowMs: number): Promise<{ entry: LedgerEntry } & TransitionResult>;
  /**
   * Entries with seq > `after`, oldest first; entries retention removed are skipped (the page then
   * starts right after the base).
   */
  listLedger(after: number, limit: number): Promise<Page<LedgerEntry>>;
  /** The ledger's length in seqs: entries retention removed (the base) plus those the list holds (LLEN), whatever the head key says. */
  getLedgerLength(): Promise<number>;
  /**
   * Entries `fromSeq`..`fromSeq + count - 1` exactly as stored (JSON text), for the ledger check,
   * which must report an entry that no longer parses rather than fail on it. Empty when `fromSeq`
   * is at or before the base (removed). One entry is read with LINDEX, more with LRANGE.
   */
  listLedgerText(fromSeq: number, count: number): Promise<string[]>;
  /** The last entry retention removed from the front: its seq and hash (0 and 64 zeros when none was removed). */
  getLedgerBase(): Promise<{ seq: number; hash: string }>;
  /** The head key: the last seq and hash (0 and 64 zeros while empty). */
  getLedgerHead(): Promise<{ length: number; head: string }>;
  /** The entry appended for a request, found through the ledger's own request index; null when it has none. */
  getLedgerEntryOf(requestId: string): Promise<LedgerEntry | null>;
}

/**
 * The ledger store over the shared connection (no connection of its own: the append is one script);
 * `publication` is the request store's publish transition, which publishToLedger runs with the append.
 */
export function createLedgerStore(redis: Redis, keys: Keys, publication: PublicationSteps): LedgerStore {
  // The head this process's appends last saw: right unless another process appended since (then one conflict tells).
  const known: KnownHead = { head: '' };
  const appendLedger = createLedgerAppender(redis, keys, known);
  return {
    ...createLedgerReads(redis, keys),
    appendLedger,
    publishToLedger: redis.isCluster ? publishAfterAppend(appendLedger, publication) : createLedgerPublisher(redis, keys, known, publication),
  };
}

/** What the ledger store reads (the receipt store's reads use these alone). */
export type LedgerReads = Omit<LedgerStore, 'appendLedger' | 'publishToLedger'>;

export function createLedgerReads(redis: Redis, keys: Keys): LedgerReads {
  const atBase = createBaseReader(redis, keys);
  return {
    async listLedger(after, limit) {
      const { base, reply } = await atBase((tx, baseSeq) => {
        const start = Math.max(after, baseSeq) - baseSeq;
        tx.lrange(keys.ledger, start, start + limit);
      });
      const docs = reply as string[];
      const from = Math.max(after, base);
      const items = docs.slice(0, limit).map((d) => JSON.parse(d) as LedgerEntry);
      return { items, nextCursor: docs.length > limit ? String(from + limit) : null };
    },
    async getLedgerLength() {
      const { base, reply } = await atBase((tx) => tx.llen(keys.ledger));
      return base + (reply as number);
    },
    async listLedgerText(fromSeq, count) {
      if (count <= 0) return [];
      const { base, reply } = await atBase((tx, baseSeq) => {
        const index = fromSeq - 1 - baseSeq;
        if (count === 1) tx.lindex(keys.ledger, Math.max(index, 0));
        else tx.lrange(keys.ledger, Math.max(index, 0), index + count - 1);
      });
      if (fromSeq <= base) return [];
      if (count === 1) return reply === null ? [] : [reply as string];
      return reply as string[];
    },
    async getLedgerBase() {
      const base = parseHead((await redis.get(keys.ledgerBase)) ?? '');
      return { seq: base.seq, hash: base.hash };
    },
    async getLedgerHead() {
      const head = parseHead((await redis.get(keys.ledgerHead)) ?? '');
      return { length: head.seq, head: head.hash };
    },
    async getLedgerEntryOf(requestId) {
      const seq = await redis.hget(keys.ledgerByRequest, requestId);
      if (seq === null) return null;
      const { base, reply } = await atBase((tx, baseSeq) => tx.lindex(keys.ledger, Math.max(Number(seq) - 1 - baseSeq, 0)));
      return reply === null || Number(seq) <= base ? null : (JSON.parse(reply as string) as LedgerEntry);
    },
  };
}

type BaseRead = (tx: ChainableCommander, baseSeq: number) => unknown;

/**
 * Reads list positions that depend on the base (entries retention removed from the front): one
 * transaction reads the base with the command built for the base last seen, and runs again in
 * the rare case retention moved it in between. Plain reads, no script: a reader's Redis user may
 * only read the ledger.
 */
function createBaseReader(redis: Redis, keys: Keys): (build: BaseRead) => Promise<{ base: number; reply: unknown }> {
  let knownBase = 0;
  return async (build) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const assumed = knownBase;
      const tx = redis.multi().get(keys.ledgerBase);
      build(tx, assumed);
      const replies = ((await tx.exec()) ?? []).map(([error, value]) => {
        if (error) throw error;
        return value;
      });
      knownBase = parseHead((replies[0] as string | null) ?? '').seq;
      if (knownBase === assumed) return { base: knownBase, reply: replies[1] };
    }
    throw new Error('the ledger base kept moving');
  };
}

type KnownHead = { head: string };
type Publication = { entry: LedgerEntry } & TransitionResult;
const ledgerKeysOf = (keys: Keys) => [keys.ledger, keys.ledgerByRequest, keys.ledgerHead, keys.ledgerBase];

/** Group commit: one batch is written at a time; appends that arrive meanwhile wait for the next. */
function createLedgerAppender(redis: Redis, keys: Keys, known: KnownHead): (fields: AppendFields) => Promise<LedgerEntry> {
  return createBatchedWriter(async (batch: readonly AppendFields[]) => {
    const written = await writeBatch(batch, known, (fresh, head, newHead) =>
      APPEND(redis, ledgerKeysOf(keys), [head, newHead, ...appendArgsOf(fresh)]) as Promise<unknown[]>);
    return batch.map((fields) => written.entries.get(fields.requestId)!);
  }, MAX_BATCH);
}

/** On a cluster: the append (its own slot), then the transition (the request's slot). */
function publishAfterAppend(appendLedger: (fields: AppendFields) => Promise<LedgerEntry>, publication: PublicationSteps): LedgerStore['publishToLedger'] {
  return async (fields, nowMs) => {
    const entry = await appendLedger(fields);
    return { entry, ...(await publication.run(fields.requestId, publication.callOf(fields.requestId, entry, nowMs))) };
  };
}

/**
 * On one Redis: publications that arrive while one batch is written go together in the next, each
 * batch one APPEND_AND_PUBLISH call (more only when another process appended meanwhile). A request
 * that is twice in a batch (a redelivered job beside the first) is published by the first; the
 * second gets the transition's answer alone, as a second publishRequest would.
 */
function createLedgerPublisher(redis: Redis, keys: Keys, known: KnownHead, publication: PublicationSteps): LedgerStore['publishToLedger'] {
  const publish = createBatchedWriter(async (batch: readonly { fields: AppendFields; nowMs: number }[]) => {
    const seen = new Set<string>();
    const firsts = batch.filter(({ fields }) => !seen.has(fields.requestId) && seen.add(fields.requestId));
    const published = await publishBatch(redis, keys, firsts, known, publication);
    const answered = new Set<string>();
    return Promise.all(batch.map(async ({ fields, nowMs }): Promise<Publication> => {
      const first = published.get(fields.requestId)!;
      if (!answered.has(fields.requestId)) {
        answered.add(fields.requestId);
        return first;
      }
      return { entry: first.entry, ...(await publication.run(fields.requestId, publication.callOf(fields.requestId, first.entry, nowMs))) };
    }));
  }, MAX_PUBLISH_BATCH);
  return (fields, nowMs) => publish({ fields, nowMs });
}

/** Appends and publishes a batch of distinct requests; gives every request its entry (stored or new) and its transition's answer. */
async function publishBatch(
  redis: Redis, keys: Keys, batch: readonly { fields: AppendFields; nowMs: number }[], known: KnownHead, publication: PublicationSteps,
): Promise<Map<string, Publication>> {
  // One move id per request for all its attempts: a call re-sent after a lost reply is then a repeat.
  const moves = new Map(batch.map(({ fields, nowMs }) => [fields.requestId, { nowMs, moveId: publication.nextMoveId() }]));
  const callOf = (entry: LedgerEntry) => publication.callOf(entry.requestId, entry, moves.get(entry.requestId)!.nowMs, moves.get(entry.requestId)!.moveId);
  const { entries, appended } = await writeBatch(batch.map(({ fields }) => fields), known, (fresh, head, newHead) => {
    const calls = fresh.map(callOf);
    return APPEND_AND_PUBLISH(redis, [...ledgerKeysOf(keys), ...calls.flatMap((call) => call.keys)], [
      fresh.length, ...calls.flatMap((call) => [call.keys.length, call.args.length]),
      head, newHead, ...appendArgsOf(fresh), ...calls.flatMap((call) => call.args),
    ]) as Promise<unknown[]>;
  });
  const published = new Map<string, Publication>();
  // The appended ones: each request's TRANSITION answer follows its length in the reply.
  let at = 1;
  const answers = (appended?.fresh ?? []).map((entry) => {
    const length = Number(appended!.reply[at]);
    const answer = appended!.reply.slice(at + 1, at + 1 + length);
    at += 1 + length;
    return { entry, answer };
  });
  await Promise.all(answers.map(async ({ entry, answer }) => {
    published.set(entry.requestId, { entry, ...(await publication.finish(entry.requestId, answer)) });
  }));
  // Requests whose entry was there before this call (a redelivery, or this call re-sent after a lost
  // reply): the transition alone, with the request's move id.
  await Promise.all([...entries.values()].filter((entry) => !published.has(entry.requestId)).map(async (entry) => {
    published.set(entry.requestId, { entry, ...(await publication.run(entry.requestId, callOf(entry))) });
  }));
  return published;
}

/** APPEND's arguments for the entries: (request id, seq, entry JSON) each. */
const appendArgsOf = (fresh: readonly LedgerEntry[]) => fresh.flatMap((e) => [e.requestId, e.seq, JSON.stringify(e)]);

/**
 * Writes the entries of a batch that are new, chained from the head last seen, with `write` (APPEND,
 * or APPEND_AND_PUBLISH: either answers {'appended', …} or APPEND's conflict reply); chains the rest
 * again from the head a conflict gives. Gives every request's entry, stored or new, and the entries
 * the call that appended wrote, with its reply; moves `known` to the new head.
 */
async function writeBatch(
  batch: readonly AppendFields[], known: KnownHead, write: (fresh: LedgerEntry[], head: string, newHead: string) => Promise<unknown[]>,
): Promise<{ entries: Map<string, LedgerEntry>; appended?: { fresh: LedgerEntry[]; reply: unknown[] } }> {
  const entries = new Map<string, LedgerEntry>();
  for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
    const fresh = chainEntries(parseHead(known.head), batch.filter((fields) => !entries.has(fields.requestId)));
    if (fresh.length === 0) return { entries };
    const last = fresh[fresh.length - 1];
    const newHead = `${last.seq} ${last.hash}`;
    const reply = await write(fresh, known.head, newHead);
    if (reply[0] === 'appended') {
      for (const entry of fresh) entries.set(entry.requestId, entry);
      known.head = newHead;
      return { entries, appended: { fresh, reply } };
    }
    const [, current, ...stored] = reply as string[];
    known.head = current;
    for (let i = 0; i < stored.length; i += 2) entries.set(stored[i], JSON.parse(stored[i + 1]) as LedgerEntry);
  }
  throw new Error('ledger append kept conflicting');
}

/** Entries for the requests (the first fields of each), chained from `head`: seq, prevHash and hash as the protocol defines them. */
function chainEntries(head: { seq: number; hash: string }, batch: readonly AppendFields[]): LedgerEntry[] {
  const fresh = new Map<string, LedgerEntry>();
  let [lastSeq, prevHash] = [head.seq, head.hash];
  for (const fields of batch) {
    if (fresh.has(fields.requestId)) continue;
    const entryFields: LedgerFields = { seq: lastSeq + 1, prevHash, ...fields };
    const entry: LedgerEntry = { ...entryFields, hash: computeLedgerHash(entryFields) };
    fresh.set(fields.requestId, entry);
    [lastSeq, prevHash] = [entry.seq, entry.hash];
  }
  return [...fresh.values()];
}

/** The head key's text, `<seq> <hash>`; empty before the first entry. */
function parseHead(text: string): { seq: number; hash: string } {
  if (!text) return { seq: 0, hash: GENESIS_PREV_HASH };
  const [seq, hash] = text.split(' ');
  return { seq: Number(seq), hash };
}

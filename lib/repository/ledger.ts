// The ledger in Redis: an append-only list, appended at most once per request by one Lua script
// per batch on the shared connection (appends that queue up while one is written go in the next).
import type { ChainableCommander, Redis } from 'ioredis';
import { computeLedgerHash, GENESIS_PREV_HASH, type LedgerFields } from '../protocol/ledger.ts';
import { createBatchedWriter } from './batched-writer.ts';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { LedgerEntry, Page } from './types.ts';

const MAX_APPEND_ATTEMPTS = 50;
/** Entries per script call at most: a batch keeps Redis busy for one script only. */
const MAX_BATCH = 500;

// KEYS: ledger list, request → seq hash, head, base. ARGV: expected head text ('' = empty ledger), new
// head text, then (request id, seq, entry JSON) per entry, hashed by the caller from the expected head.
// Entries retention removed from the front are counted by the base (`<seq> <hash>`): index = seq - 1 - base.
// Appends the whole batch, or nothing: when the head moved or a request of the batch already has an
// entry, it returns {'conflict', head, then (request id, stored entry JSON) per such request}, and the
// caller chains the rest again from that head. The hashes stay in TypeScript (computeLedgerHash).
const APPEND = createScript(`
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
`);

/** The fields of a new entry; the ledger sets `seq` and `prevHash`. */
export type AppendFields = Omit<LedgerFields, 'seq' | 'prevHash'>;

/** The hash-chained ledger: appends (once per request) and the reads the API and its verifier use. */
export interface LedgerStore {
  /** Appends the request's entry, or returns the entry it already has. */
  appendLedger(fields: AppendFields): Promise<LedgerEntry>;
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

/** The ledger store over the shared connection (no connection of its own: the append is one script). */
export function createLedgerStore(redis: Redis, keys: Keys): LedgerStore {
  const atBase = createBaseReader(redis, keys);
  return {
    appendLedger: createLedgerAppender(redis, keys),
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

/** Group commit: one batch is written at a time; appends that arrive meanwhile wait for the next. */
function createLedgerAppender(redis: Redis, keys: Keys): (fields: AppendFields) => Promise<LedgerEntry> {
  // The head this appender last saw: right unless another process appended since (then one conflict tells).
  let knownHead = '';
  return createBatchedWriter(async (batch: readonly AppendFields[]) => {
    const written = await writeBatch(redis, keys, batch, knownHead);
    knownHead = written.head;
    return batch.map((fields) => written.entries.get(fields.requestId)!);
  }, MAX_BATCH);
}

/** Writes the entries of a batch that are new, chained from `head`; gives every request's entry, stored or new. */
async function writeBatch(redis: Redis, keys: Keys, batch: readonly AppendFields[], head: string): Promise<{ entries: Map<string, LedgerEntry>; head: string }> {
  const entries = new Map<string, LedgerEntry>();
  for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
    const fresh = chainEntries(parseHead(head), batch.filter((fields) => !entries.has(fields.requestId)));
    if (fresh.length === 0) return { entries, head };
    const last = fresh[fresh.length - 1];
    const newHead = `${last.seq} ${last.hash}`;
    const args = fresh.flatMap((e) => [e.requestId, e.seq, JSON.stringify(e)]);
    const [outcome, current, ...stored] = (await APPEND(redis, [keys.ledger, keys.ledgerByRequest, keys.ledgerHead, keys.ledgerBase], [head, newHead, ...args])) as string[];
    if (outcome === 'appended') {
      for (const entry of fresh) entries.set(entry.requestId, entry);
      return { entries, head: newHead };
    }
    head = current;
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

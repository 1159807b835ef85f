// The ledger check behind `GET /v1/ledger/verify`: the hash chain, and the newest round's anchor.
// A hash chain alone proves nothing against a store writer, who can rewrite every entry and
// recompute every hash; the anchor can only be made with the counter key, because each round's VRF
// input commits to the ledger's length and head when the round starts.
import { fromHex } from '../../crypto/bytes.ts';
import { GENESIS_PREV_HASH, verifyLedgerEntries, type HashedLedgerEntry } from '../../protocol/ledger.ts';
import { GENESIS_SEED, verifyRound } from '../../protocol/rounds.ts';
import type { Repository } from '../../repository/index.ts';
import type { RoundRecord } from '../../repository/types.ts';

export const LEDGER_VERIFY_PAGE = 1000;

/**
 * A prefix of the ledger that verified: its length, its last hash, and that entry's prevHash.
 * `isBase`: the prefix is what retention removed (the base), taken on the store's word: no entry
 * is left to re-read, and the exports hold those entries.
 */
interface VerifiedPrefix {
  readonly length: number;
  readonly head: string;
  readonly beforeHead: string;
  readonly isBase?: boolean;
}

const EMPTY_PREFIX: VerifiedPrefix = { length: 0, head: GENESIS_PREV_HASH, beforeHead: GENESIS_PREV_HASH };

/** Where a check starts when retention removed the first entries: right after the last removed one. */
const basePrefix = (base: { seq: number; hash: string }): VerifiedPrefix =>
  base.seq === 0 ? EMPTY_PREFIX : { length: base.seq, head: base.hash, beforeHead: GENESIS_PREV_HASH, isBase: true };

/**
 * What the newest round committed to, checked against the ledger: `ok` when the round's proof
 * verifies under the counter public key and the entry at `ledgerLength` hashes to its `ledgerHead`.
 */
export type AnchorReport =
  | { readonly round: number; readonly ledgerLength: number; readonly ok: true }
  | { readonly round: number; readonly ledgerLength: number; readonly ok: false; readonly reason: 'bad_round_proof' | 'head_mismatch' };

/**
 * `GET /v1/ledger/verify`'s answer. `ok: true`: the first `length` entries form a valid chain ending
 * in `head`; `pending` (only when above 0) entries after them are not verified yet. `ok: false`: the
 * entry at `badSeq` breaks the chain; `length`/`head` are the prefix before it. `anchor` is there
 * when the newest round anchors a non-empty part of the verified prefix (and a counter key is known).
 * `base` is there once retention removed entries: those up to `base.seq` are in the exports, and
 * the chain was verified from `base.hash`, the prevHash of the first entry kept.
 */
export type LedgerReport =
  | { readonly ok: true; readonly length: number; readonly head: string; readonly pending?: number; readonly anchor?: AnchorReport; readonly base?: LedgerBase }
  | { readonly ok: false; readonly length: number; readonly head: string; readonly badSeq: number; readonly anchor?: AnchorReport; readonly base?: LedgerBase };

/** The last entry retention removed: its seq and hash. */
export interface LedgerBase {
  readonly seq: number;
  readonly hash: string;
}

export interface LedgerVerifier {
  /**
   * The check anyone may run, at a bounded cost: it keeps the verified prefix in memory, re-reads
   * the entry the prefix ends on (it must still hash to the cached head, with the same prevHash),
   * then verifies at most `maxEntriesPerCall` of the entries appended since and extends the prefix;
   * any more are reported as `pending` and taken by the next calls. It then checks the newest
   * round's anchor (one VRF verification per new round, one entry read), which a rewrite of any
   * entry up to the anchored length breaks. A change to an entry after the anchor and before the
   * last verified one is not seen here; `verifyAll` sees it. When the last verified entry changed,
   * the answer is `ok: false` with `badSeq` at it, and the prefix restarts from seq 1. Concurrent
   * calls share one run.
   */
  verifyNew(): Promise<LedgerReport>;
  /** Re-verifies every entry from seq 1 and the anchor (the admin's check; O(ledger)); its result replaces the cached prefix. Concurrent calls share one run. */
  verifyAll(): Promise<LedgerReport>;
  /** The verified prefix held now. */
  stats(): { verifiedLength: number; verifiedHead: string };
}

type LedgerReads = Pick<Repository, 'getLedgerLength' | 'listLedgerText' | 'getLatestRoundNumber' | 'getRound' | 'getLedgerBase'>;

/** The ledger check, one per webserver process; without a counter public key it checks the chain only. */
export function createLedgerVerifier(repository: LedgerReads, counterPublicKey: Uint8Array | null, maxEntriesPerCall = LEDGER_VERIFY_PAGE): LedgerVerifier {
  let prefix = EMPTY_PREFIX;
  let newRun: Promise<LedgerReport> | undefined;
  let fullRun: Promise<LedgerReport> | undefined;
  const checkAnchor = createAnchorCheck(repository, counterPublicKey);

  async function checkNew(): Promise<LedgerReport> {
    const base = await repository.getLedgerBase();
    // Retention removed what the cache vouched for (or the cache is empty): start right after the base.
    if (prefix.length <= base.seq) prefix = basePrefix(base);
    const start = prefix;
    const isRechecked = start.length > 0 && !start.isBase;
    const [total, lastVerified] = await Promise.all([repository.getLedgerLength(), repository.listLedgerText(start.length, isRechecked ? 1 : 0)]);
    if (isRechecked) {
      const recheck = checkStored(lastVerified, { length: start.length - 1, head: start.beforeHead, beforeHead: GENESIS_PREV_HASH });
      if (recheck.prefix.length !== start.length || recheck.prefix.head !== start.head) {
        // Retention removed the entry since the base was read: start again after the new base.
        if (lastVerified.length === 0 && (await repository.getLedgerBase()).seq >= start.length) return checkNew();
        // What the cache vouched for changed: it vouches for nothing now.
        if (prefix === start) prefix = EMPTY_PREFIX;
        return withBase({ ok: false, length: start.length - 1, head: start.beforeHead, badSeq: start.length }, base);
      }
    }
    const result = checkStored(await repository.listLedgerText(start.length + 1, Math.min(total - start.length, maxEntriesPerCall)), start);
    // A full run that finished meanwhile is newer: keep its prefix.
    if (prefix === start) prefix = result.prefix;
    const anchor = await checkAnchor(result, base);
    if (anchor?.ok === false && prefix === result.prefix) prefix = EMPTY_PREFIX;
    return withBase(withAnchor(report(result, total - result.prefix.length), anchor, base), base);
  }

  async function checkAll(): Promise<LedgerReport> {
    const base = await repository.getLedgerBase();
    let result: StoredCheck = { prefix: basePrefix(base) };
    for (;;) {
      const texts = await repository.listLedgerText(result.prefix.length + 1, LEDGER_VERIFY_PAGE);
      result = checkStored(texts, result.prefix);
      if (result.badSeq !== undefined || texts.length < LEDGER_VERIFY_PAGE) break;
    }
    const anchor = await checkAnchor(result, base);
    prefix = anchor?.ok === false ? EMPTY_PREFIX : result.prefix;
    return withBase(withAnchor(report(result, 0), anchor, base), base);
  }

  return {
    verifyNew: () => (newRun ??= checkNew().finally(() => { newRun = undefined; })),
    verifyAll: () => (fullRun ??= checkAll().finally(() => { fullRun = undefined; })),
    stats: () => ({ verifiedLength: prefix.length, verifiedHead: prefix.head }),
  };
}

/**
 * Checks the newest round's anchor against a verified prefix that reaches it. The round's proof is
 * verified once per round (its record is re-read each time, so a changed record is seen); the
 * anchored entry is re-read every time.
 */
function createAnchorCheck(repository: LedgerReads, counterPublicKey: Uint8Array | null): (result: StoredCheck, base: LedgerBase) => Promise<AnchorReport | undefined> {
  let provenRound: { round: number; proof: string; ledgerHead: string } | undefined;
  return async (result, base) => {
    if (!counterPublicKey || result.badSeq !== undefined) return undefined;
    const latest = await repository.getLatestRoundNumber();
    const round = latest > 0 ? await repository.getRound(latest) : null;
    // An anchored entry that retention removed is in the exports, not here: nothing to check it against.
    if (!round || round.ledgerLength === 0 || round.ledgerLength > result.prefix.length) return undefined;
    if (round.ledgerLength <= base.seq) return undefined;
    const at = { round: round.round, ledgerLength: round.ledgerLength };
    const isProven = provenRound?.round === round.round && provenRound.proof === round.proof && provenRound.ledgerHead === round.ledgerHead;
    if (!isProven) {
      if (!(await isRoundProven(repository, counterPublicKey, round))) return { ...at, ok: false, reason: 'bad_round_proof' };
      provenRound = { round: round.round, proof: round.proof, ledgerHead: round.ledgerHead };
    }
    const [text] = await repository.listLedgerText(round.ledgerLength, 1);
    const entry = text === undefined ? undefined : parseStoredEntry(text);
    return entry?.hash === round.ledgerHead ? { ...at, ok: true } : { ...at, ok: false, reason: 'head_mismatch' };
  };
}

async function isRoundProven(repository: LedgerReads, counterPublicKey: Uint8Array, round: RoundRecord): Promise<boolean> {
  const previous = round.round > 1 ? await repository.getRound(round.round - 1) : null;
  if (round.round > 1 && !previous) return false;
  try {
    return verifyRound(counterPublicKey, {
      round: round.round, seed: fromHex(round.seed, 32), proof: fromHex(round.proof),
      ticketsRoot: fromHex(round.ticketsRoot, 32), ledgerLength: round.ledgerLength, ledgerHead: fromHex(round.ledgerHead, 32),
    }, previous ? fromHex(previous.seed, 32) : GENESIS_SEED);
  } catch {
    return false;
  }
}

type StoredCheck = { readonly prefix: VerifiedPrefix; readonly badSeq?: number };

/** Checks stored entries that follow `prefix`; an entry that is not a JSON object breaks the chain there. */
function checkStored(texts: readonly string[], prefix: VerifiedPrefix): StoredCheck {
  const entries: HashedLedgerEntry[] = [];
  for (const text of texts) {
    const entry = parseStoredEntry(text);
    if (!entry) break;
    entries.push(entry);
  }
  const check = verifyLedgerEntries(entries, prefix.head, prefix.length + 1);
  const verified = check.length - prefix.length;
  const next = verified === 0 ? prefix : { length: check.length, head: check.head, beforeHead: entries[verified - 1].prevHash };
  // badSeq is the position in the list, whatever seq a tampered entry claims.
  return !check.ok || entries.length < texts.length ? { prefix: next, badSeq: check.length + 1 } : { prefix: next };
}

function parseStoredEntry(text: string): HashedLedgerEntry | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as HashedLedgerEntry) : undefined;
  } catch {
    return undefined;
  }
}

function report(result: StoredCheck, pending: number): LedgerReport {
  const { length, head } = result.prefix;
  if (result.badSeq !== undefined) return { ok: false, length, head, badSeq: result.badSeq };
  return { ok: true, length, head, ...(pending > 0 ? { pending } : {}) };
}

/** Adds the anchor's verdict; a failed anchor fails the whole report at the anchored entry. */
function withAnchor(checked: LedgerReport, anchor: AnchorReport | undefined, base: LedgerBase): LedgerReport {
  if (!anchor) return checked;
  if (anchor.ok || !checked.ok) return { ...checked, anchor };
  const before = basePrefix(base);
  return { ok: false, length: before.length, head: before.head, badSeq: anchor.ledgerLength, anchor };
}

/** Names the base once retention removed entries. */
function withBase(checked: LedgerReport, base: LedgerBase): LedgerReport {
  return base.seq > 0 ? { ...checked, base: { seq: base.seq, hash: base.hash } } : checked;
}

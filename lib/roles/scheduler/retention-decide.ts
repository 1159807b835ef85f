// The retention sweep's decisions, pure: which published requests to compact, which final requests,
// ledger entries and rounds to remove, in bounded batches; and the gauges' derived values.
import type { RemovableRequest, TrimmedEntry } from '../../repository/retention.ts';
import type { RequestStatus } from '../../repository/types.ts';

/** Rounds kept behind the latest whatever else: the latest, the frozen one committees draw from, and the one before. */
const ROUNDS_KEPT_BEHIND_LATEST = 2;
/** A receipt starts from round `a - 2` (its seed starts round `a - 1`'s proof): rounds before it may go. */
const ROUNDS_BEFORE_ASSIGNMENT = 2;
/** Above this share of `maxmemory`, the status page warns. */
export const MEMORY_WARNING_RATIO = 0.8;

/** A chain publication still on its way: the publisher reads the request and its votes again. */
const isChainOpen = (chainStatus: string | undefined) => chainStatus === 'pending' || chainStatus === 'broadcast';

/** A ledger entry, oldest first, with what compaction reads of its request (null: the request is gone). */
export interface CompactionCandidate {
  readonly seq: number;
  readonly requestId: string;
  readonly request: { readonly status: RequestStatus; readonly finishedAtMs: number; readonly chainStatus?: string } | null;
}

/**
 * Compaction walks the ledger in order from its cursor: a published request whose publication is
 * at least `logsMs` old is compacted; a request gone or with a chain publication on its way is
 * passed over (the publisher still checks its votes); the walk stops at the first request not due
 * yet (or not published yet: its entry is appended just before the move to `published`).
 */
export function decideCompaction(candidates: readonly CompactionCandidate[], nowMs: number, logsMs: number): { compact: string[]; cursor: number | null } {
  const compact: string[] = [];
  let cursor: number | null = null;
  for (const { seq, requestId, request } of candidates) {
    if (request && (request.status !== 'published' || request.finishedAtMs > nowMs - logsMs)) break;
    if (request && !isChainOpen(request.chainStatus)) compact.push(requestId);
    cursor = seq;
  }
  return { compact, cursor };
}

/** A final request older than the retention period, as removal reads it. */
export interface RemovalCandidate {
  readonly id: string;
  readonly projectId: string;
  readonly status: RequestStatus;
  /** The ledger seq of a published request. */
  readonly seq?: number;
  readonly chainStatus?: string;
}

export type HoldReason = 'not_exported' | 'chain_open' | 'not_final';

/**
 * Which candidates go (at most `batch`): a failed request at once; a published one once its ledger
 * entry was exported (seq ≤ `exportedThrough`) and its chain publication is over. The rest are held,
 * with the reason.
 */
export function decideRequestRemoval(candidates: readonly RemovalCandidate[], exportedThrough: number, batch: number): { remove: RemovableRequest[]; held: { id: string; reason: HoldReason }[] } {
  const remove: RemovableRequest[] = [];
  const held: { id: string; reason: HoldReason }[] = [];
  for (const candidate of candidates) {
    if (remove.length >= batch) break;
    const reason = holdReason(candidate, exportedThrough);
    if (reason) held.push({ id: candidate.id, reason });
    else remove.push({ id: candidate.id, projectId: candidate.projectId });
  }
  return { remove, held };
}

function holdReason(candidate: RemovalCandidate, exportedThrough: number): HoldReason | null {
  if (candidate.status === 'failed') return null;
  if (candidate.status !== 'published') return 'not_final';
  if (candidate.seq === undefined || candidate.seq > exportedThrough) return 'not_exported';
  if (isChainOpen(candidate.chainStatus)) return 'chain_open';
  return null;
}

/** A ledger entry at the front of the list, and whether its request is still kept. */
export interface LedgerFrontEntry extends TrimmedEntry {
  readonly isRequestKept: boolean;
}

/**
 * The ledger's front goes while its entries were exported and their requests removed: the longest
 * such prefix, at most `batch` entries. A kept request keeps its entry and every later one (a
 * receipt needs its entry and the entries up to the anchoring round's head).
 */
export function decideLedgerTrim(front: readonly LedgerFrontEntry[], exportedThrough: number, batch: number): TrimmedEntry[] {
  const trimmed: TrimmedEntry[] = [];
  for (const { seq, hash, requestId, isRequestKept } of front) {
    if (trimmed.length >= batch || seq > exportedThrough || isRequestKept) break;
    trimmed.push({ seq, hash, requestId });
  }
  return trimmed;
}

/** What round removal reads: the first round kept, the latest, start times from `firstKept` on, and the rounds kept entries were assigned in. */
export interface RoundRemovalInput {
  readonly firstKept: number;
  readonly latest: number;
  /** `startedAt` (ms) of rounds `firstKept`, `firstKept + 1`, …, as far as the caller read. */
  readonly starts: readonly number[];
  /** The lowest assignment round among the oldest ledger entries kept and the requests still assigned or agreed (null when there is none). */
  readonly oldestNeededRound: number | null;
  /** Rounds that started at or after this (ms) stay. */
  readonly horizonMs: number;
  readonly batch: number;
}

/**
 * Rounds `from..through` to remove (oldest first, at most `batch`), or null: a round goes once it
 * started before the horizon, no kept ledger entry's receipt and no request on its way needs it
 * (they start at `a - 2`), and it is not among the latest three. The newest removed round becomes
 * the anchor.
 */
export function decideRoundRemoval(input: RoundRemovalInput): { from: number; through: number } | null {
  const { firstKept, latest, starts, oldestNeededRound, horizonMs, batch } = input;
  const limit = Math.min(
    latest - ROUNDS_KEPT_BEHIND_LATEST - 1,
    oldestNeededRound === null ? Number.POSITIVE_INFINITY : oldestNeededRound - ROUNDS_BEFORE_ASSIGNMENT - 1,
    firstKept + batch - 1,
  );
  let through = firstKept - 1;
  while (through + 1 <= limit && starts[through + 1 - firstKept] < horizonMs) through++;
  return through >= firstKept ? { from: firstKept, through } : null;
}

/** Seconds the oldest kept final request is past the retention period (0 when none is). */
export function computeRetentionLagSeconds(nowMs: number, retentionMs: number, oldestFinishedMs: number | null): number {
  if (oldestFinishedMs === null) return 0;
  return Math.max(0, nowMs - retentionMs - oldestFinishedMs) / 1000;
}

/** True when Redis uses more than 80% of its `maxmemory` (never without a limit). */
export function isMemoryNearLimit(usedBytes: number, maxBytes: number): boolean {
  return maxBytes > 0 && usedBytes > MEMORY_WARNING_RATIO * maxBytes;
}

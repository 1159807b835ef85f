// The retention sweep (docs/architecture.md, "Retention"), run by the scheduler under its lease: compacts
// published requests after GATEWAY_RETENTION_LOGS_MS, then removes final requests older than
// GATEWAY_RETENTION_MS (a published one only once exported), the ledger's front behind them and the
// rounds no kept receipt needs; at most GATEWAY_RETENTION_BATCH of each per run, in scripts of 100.
import type { Config } from '../../config.ts';
import { timeOfId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics, StoreSnapshot } from '../../metrics.ts';
import type { Repository } from '../../repository/index.ts';
import { RETENTION_SCRIPT_MAX, type RemovableRequest } from '../../repository/retention.ts';
import type { RequestState } from '../../repository/request-reads.ts';
import type { Outcome } from '../../repository/types.ts';
import type { Clock } from '../../runtime/common.ts';
import { startPeriodic } from '../../runtime/periodic.ts';
import { errorForLog } from '../../logger.ts';
import { createScheduledExport } from './retention-export.ts';
import {
  computeRetentionLagSeconds, decideCompaction, decideLedgerTrim, decideRequestRemoval, decideRoundRemoval, type RemovalCandidate,
} from './retention-decide.ts';

/** Final requests looked at per run at most, held ones included (a held one is passed over, not retried this run). */
const SCAN_FACTOR = 4;
/** Kept ledger entries (the oldest, and the oldest not exported) whose assignment rounds bound round removal. */
const NEEDED_ROUNDS_PAGE = 1000;
/** Requests still assigned or agreed (the oldest in each state) whose assignment rounds bound round removal too. */
const OPEN_ROUNDS_PAGE = 100;

export type RetentionRepository = Pick<Repository,
  | 'getCompactionCursor' | 'compactRequests' | 'listLedger' | 'getRequestStates' | 'listFinishedBefore' | 'getExportThrough' | 'removeRequests'
  | 'getLedgerBase' | 'haveRequests' | 'trimLedger' | 'getRoundAnchor' | 'getLatestRoundNumber' | 'listRoundStarts' | 'removeRounds' | 'listStale'>;

export interface RetentionDeps {
  readonly repository: RetentionRepository;
  readonly config: Pick<Config, 'retentionMs' | 'retentionLogsMs' | 'retentionBatch'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: Pick<Metrics, 'retentionRemoved'>;
}

/** What one run did. */
export interface RetentionReport {
  readonly compacted: number;
  readonly removedRequests: number;
  readonly removedEntries: number;
  readonly removedRounds: number;
}

const NOTHING: RetentionReport = { compacted: 0, removedRequests: 0, removedEntries: 0, removedRounds: 0 };

/**
 * The scheduler's retention work: the sweep every GATEWAY_SWEEP_MS, and with GATEWAY_EXPORT_DIR the
 * export every GATEWAY_EXPORT_EVERY_MS, each only while `isLeader()`. `stop()` waits for a run in progress.
 */
export function startRetention(deps: RetentionDeps & { readonly repository: Repository; readonly config: Config; readonly counterKey: Uint8Array }, isLeader: () => boolean): { stop(): Promise<void> } {
  const { config, logger } = deps;
  const sweep = startPeriodic({ intervalMs: config.sweepMs, run: createRetentionSweep(deps, isLeader), onError: (err) => logger.error({ err: errorForLog(err) }, 'retention sweep failed') });
  const exporter = config.exportDir === undefined ? null : startPeriodic({
    intervalMs: config.exportEveryMs,
    run: createScheduledExport({ ...deps, dir: config.exportDir }, isLeader),
    onError: (err) => logger.error({ err: errorForLog(err) }, 'export failed'),
  });
  return {
    async stop() {
      await exporter?.stop();
      await sweep.stop();
    },
  };
}

/** One retention run; does nothing unless this scheduler holds the lease. */
export function createRetentionSweep(deps: RetentionDeps, isLeader: () => boolean): () => Promise<RetentionReport> {
  const { repository, config, clock, logger, metrics } = deps;
  const batch = config.retentionBatch;

  async function compact(nowMs: number): Promise<number> {
    // The walk stops at the first request not due yet, so the ledger and its requests are read a part
    // at a time, the first part one entry long: while nothing is due (the first hour of traffic, or a
    // sweep that caught up) a sweep reads one entry and one record, not a batch. Records without their
    // votes: the compaction script reads those.
    const decision: { compact: { id: string; outcome: Outcome }[]; cursor: number | null } = { compact: [], cursor: null };
    let after = await repository.getCompactionCursor();
    for (let read = 0, size = 1; read < batch; read += size, size = RETENTION_SCRIPT_MAX) {
      const { items: part } = await repository.listLedger(after, Math.min(size, batch - read));
      if (part.length === 0) break;
      const states = await repository.getRequestStates(part.map((entry) => entry.requestId));
      const walked = decideCompaction(part.map((entry, i) => {
        const request = states[i];
        return {
          seq: entry.seq, requestId: entry.requestId,
          request: request ? { status: request.status, finishedAtMs: Date.parse(request.finishedAt ?? ''), chainStatus: request.chain?.status } : null,
        };
      }), nowMs, config.retentionLogsMs);
      const outcomes = new Map(states.flatMap((request) => (request?.outcome ? [[request.id, request.outcome] as const] : [])));
      decision.compact.push(...walked.compact.map((id) => ({ id, outcome: outcomes.get(id)! })));
      if (walked.cursor !== null) decision.cursor = walked.cursor;
      after = part[part.length - 1].seq;
      if (walked.cursor !== after) break;
    }
    if (decision.cursor === null) return 0;
    const chunks = chunk(decision.compact, RETENTION_SCRIPT_MAX);
    if (chunks.length === 0) chunks.push([]);
    let votes = 0;
    // The cursor moves with the last chunk: a run cut short compacts its requests again, which changes nothing.
    for (let i = 0; i < chunks.length; i++) votes += await repository.compactRequests(chunks[i], i === chunks.length - 1 ? decision.cursor : 0);
    if (decision.compact.length > 0) logger.debug({ requests: decision.compact.length, votes, cursor: decision.cursor }, 'retention compacted');
    return decision.compact.length;
  }

  async function removeRequests(nowMs: number): Promise<number> {
    const horizonMs = nowMs - config.retentionMs;
    const exportedThrough = await repository.getExportThrough();
    let [removed, offset, scanned] = [0, 0, 0];
    const heldReasons = new Map<string, number>();
    while (removed < batch && scanned < batch * SCAN_FACTOR) {
      const ids = await repository.listFinishedBefore(horizonMs, offset, Math.min(batch, RETENTION_SCRIPT_MAX));
      if (ids.length === 0) break;
      scanned += ids.length;
      const records = (await repository.getRequestStates(ids)).filter((r) => r !== null);
      const decision = decideRequestRemoval(records.map(candidateOf), exportedThrough, batch - removed);
      // A request whose record is gone left only its index entries, which the script drops too.
      const found = new Set(records.map((r) => r.id));
      const gone: RemovableRequest[] = ids.filter((id) => !found.has(id)).map((id) => ({ id, projectId: '' }));
      const done = await repository.removeRequests([...decision.remove, ...gone], (id) => tombstoneUntilMs(id, config.retentionMs, nowMs));
      removed += done.removed.length;
      for (const { reason } of decision.held) heldReasons.set(reason, (heldReasons.get(reason) ?? 0) + 1);
      // Removed ids left the index; held ones stay in front of the next page.
      offset += ids.length - done.removed.length - done.cleaned.length;
    }
    if (removed > 0 || heldReasons.size > 0) logger.info({ removed, held: Object.fromEntries(heldReasons) }, 'retention removed requests');
    return removed;
  }

  async function trimLedger(exportedThrough: number): Promise<number> {
    let trimmed = 0;
    // Only exported entries can go, and only from the front: the first look is at one entry, so a
    // sweep with nothing to trim (no export yet, or the oldest request still kept) reads one entry
    // or none, not a batch of entries with a check of each request.
    for (let size = 1; trimmed < batch; size = RETENTION_SCRIPT_MAX) {
      const base = await repository.getLedgerBase();
      if (exportedThrough <= base.seq) break;
      const { items } = await repository.listLedger(base.seq, Math.min(batch - trimmed, size, exportedThrough - base.seq));
      const kept = await repository.haveRequests(items.map((e) => e.requestId));
      const entries = decideLedgerTrim(items.map((e, i) => ({ seq: e.seq, hash: e.hash, requestId: e.requestId, isRequestKept: kept[i] })), exportedThrough, batch - trimmed);
      if (entries.length === 0) break;
      const count = await repository.trimLedger(base.seq, entries);
      if (count === 0) break;
      trimmed += count;
    }
    return trimmed;
  }

  async function removeRounds(nowMs: number): Promise<number> {
    const anchor = await repository.getRoundAnchor();
    const firstKept = anchor ? anchor.round + 1 : 1;
    const latest = await repository.getLatestRoundNumber();
    const starts = await repository.listRoundStarts(firstKept, Math.min(latest, firstKept + batch - 1));
    const bounds = { firstKept, latest, starts, batch, horizonMs: nowMs - config.retentionMs };
    // No round is old enough (a gateway younger than its retention, or a sweep that caught up): what
    // else holds rounds back is not read (it only ever keeps more).
    if (!decideRoundRemoval({ ...bounds, oldestNeededRound: null })) return 0;
    const base = await repository.getLedgerBase();
    // The oldest kept entries, and the oldest not exported yet: an export needs their receipts' rounds.
    const exportedThrough = await repository.getExportThrough();
    const kept = [
      ...(await repository.listLedger(base.seq, NEEDED_ROUNDS_PAGE)).items,
      ...(exportedThrough > base.seq + NEEDED_ROUNDS_PAGE ? (await repository.listLedger(exportedThrough, NEEDED_ROUNDS_PAGE)).items : []),
    ];
    // Requests still on their way need their rounds too: consensus and the sender draw their committee again.
    const open = await repository.getRequestStates([
      ...await repository.listStale('assigned', Number.MAX_SAFE_INTEGER, OPEN_ROUNDS_PAGE),
      ...await repository.listStale('agreed', Number.MAX_SAFE_INTEGER, OPEN_ROUNDS_PAGE),
    ]);
    const needed = [...kept.map((e) => e.round), ...open.flatMap((r) => (r?.assignment ? [r.assignment.round] : []))];
    const range = decideRoundRemoval({ ...bounds, oldestNeededRound: needed.length > 0 ? Math.min(...needed) : null });
    if (!range) return 0;
    let removed = 0;
    for (let from = range.from; from <= range.through; from += RETENTION_SCRIPT_MAX) {
      const count = await repository.removeRounds(from, Math.min(range.through, from + RETENTION_SCRIPT_MAX - 1));
      if (count === 0) break;
      removed += count;
    }
    return removed;
  }

  return async function sweep() {
    if (!isLeader()) return NOTHING;
    const nowMs = clock.now();
    const compacted = await compact(nowMs);
    const removedRequests = await removeRequests(nowMs);
    const removedEntries = await trimLedger(await repository.getExportThrough());
    const removedRounds = await removeRounds(nowMs);
    metrics?.retentionRemoved.inc({ kind: 'request' }, removedRequests);
    metrics?.retentionRemoved.inc({ kind: 'ledger_entry' }, removedEntries);
    metrics?.retentionRemoved.inc({ kind: 'round' }, removedRounds);
    if (removedEntries + removedRounds > 0) logger.info({ removedEntries, removedRounds }, 'retention removed ledger entries and rounds');
    return { compacted, removedRequests, removedEntries, removedRounds };
  };
}

/** What the store gauges show (`/metrics`): Redis memory and the retention lag. */
export async function readStoreSnapshot(repository: Pick<Repository, 'getMemoryUsage' | 'getOldestFinishedMs'>, retentionMs: number, nowMs: number): Promise<StoreSnapshot> {
  const [memory, oldestFinishedMs] = await Promise.all([repository.getMemoryUsage(), repository.getOldestFinishedMs()]);
  return { usedMemoryBytes: memory.usedBytes, maxMemoryBytes: memory.maxBytes, retentionLagSeconds: computeRetentionLagSeconds(nowMs, retentionMs, oldestFinishedMs) };
}

/**
 * A removed request's tombstone lives about as long again as the request was kept: until twice the
 * retention period after the end of the hour it was created in (tombstones share one key per hour,
 * which expires as a whole), and at least one retention period from its removal.
 */
export function tombstoneUntilMs(requestId: string, retentionMs: number, nowMs: number): number {
  const hourEnd = (Math.floor(timeOfId(requestId) / 3_600_000) + 1) * 3_600_000;
  return Math.max(hourEnd + 2 * retentionMs, nowMs + retentionMs);
}

function candidateOf(record: RequestState): RemovalCandidate {
  return { id: record.id, projectId: record.projectId, status: record.status, seq: record.ledger?.seq, chainStatus: record.chain?.status };
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

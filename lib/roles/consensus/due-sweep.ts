// Consensus's sweep of the due-time index: every `GATEWAY_DUE_SWEEP_MS` it takes the entries due by
// its own clock, in batches, applies each (a guarded transition) and only then removes it.
import { errorForLog } from '../../logger.ts';
import type { Repository } from '../../repository/index.ts';
import type { DueEntry } from '../../repository/due.ts';
import { startPeriodic, type Periodic } from '../../runtime/periodic.ts';
import { decideDue } from './decide-due.ts';
import type { Finality, FinalityDeps } from './finality.ts';

const BATCH = 100;
/** Batches per run at most, so entries that stay (a transition that raced a vote) never hold the sweep. */
const MAX_BATCHES = 20;

export type DueSweepDeps = FinalityDeps & {
  readonly repository: Pick<Repository, 'getRequest' | 'listDueEntries' | 'moveDueEntry' | 'removeDueEntries'>;
};

/** Starts the periodic sweep; `runOnce()` resolves with the number of entries handled. */
export function startDueSweep(deps: DueSweepDeps, finality: Finality): Periodic<number> {
  const { repository, clock, config, logger, metrics } = deps;

  /** Applies one due entry. True when the entry is done (removed or moved). */
  async function apply(entry: DueEntry): Promise<boolean> {
    const request = await repository.getRequest(entry.requestId);
    const nowMs = clock.now();
    const decision = decideDue({ entry, request, nowMs, nowIso: new Date(nowMs).toISOString(), requestDeadlineMs: config.requestDeadlineMs });
    const count = (result: string) => metrics.dueEntries.inc({ kind: entry.kind, result });
    switch (decision.kind) {
      case 'drop':
        await repository.removeDueEntries(entry.requestId, [entry.kind]);
        count('dropped');
        return true;
      case 'settle':
        await finality.settle(entry.requestId);
        count('settled');
        return true;
      case 'move':
        // Only the receiver, consensus and the scheduler's repair write the index, each scoring a deadline by the request's accepted-at time.
        logger.warn({ requestId: entry.requestId, dueAtMs: entry.dueAtMs, deadlineMs: decision.dueAtMs }, 'due entry before the request deadline; moved');
        await repository.moveDueEntry({ ...entry, dueAtMs: decision.dueAtMs });
        count('moved');
        return true;
      case 'fail': {
        const { result, isClosed } = await finality.fail(request!, ['queued', 'assigned'], decision.failure);
        count(result);
        return isClosed;
      }
      case 'agree': {
        const { result, isClosed } = await finality.agree(request!, decision.outcome, decision.voteCount === undefined ? {} : { voteCount: decision.voteCount });
        count(result);
        return isClosed;
      }
    }
  }

  async function sweep(): Promise<number> {
    let handled = 0;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const entries = await repository.listDueEntries(clock.now(), BATCH);
      const done = await Promise.all(entries.map((entry) => apply(entry).catch((err: Error) => {
        logger.error({ requestId: entry.requestId, kind: entry.kind, err: errorForLog(err) }, 'due entry failed');
        return false;
      })));
      handled += done.filter(Boolean).length;
      // A short batch was the last; a full one whose entries all stayed would come back unchanged.
      if (entries.length < BATCH || !done.some(Boolean)) break;
    }
    return handled;
  }

  return startPeriodic({ intervalMs: config.dueSweepMs, run: sweep, onError: (err) => logger.error({ err: errorForLog(err) }, 'due sweep failed') });
}

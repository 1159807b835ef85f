// Consensus's writes at finality: apply an agreement or a failure as one guarded transition, then
// settle the request (its nodes' statistics once, its due entries removed). Shared by votes and the due sweep.
import { jobIds, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { Failure, Outcome, RequestRecord, StoredVote } from '../../repository/types.ts';
import type { RoleBase } from '../../runtime/common.ts';
import { computeRequestNodeStats } from './decide-node-stats.ts';
import { decideFinality } from './decide-vote.ts';

export type FinalityDeps = RoleBase & {
  readonly repository: Pick<Repository, 'getRequest' | 'agreeRequest' | 'failRequest' | 'putDueEntry' | 'removeDueEntries' | 'putRequestNodeStats'>;
  readonly queues: QueueSet;
};

/** What applying a decision did: `closed` once voting on the request is over (by this call or before). */
export type Applied = { readonly result: 'agreed' | Failure['code'] | 'pending'; readonly isClosed: boolean };

export interface Finality {
  /** Tallies the votes recorded so far and applies what they decide; a median at `q` ok numbers starts its grace period. */
  finalize(request: RequestRecord, votes: readonly StoredVote[]): Promise<'pending' | 'grace' | 'agreed' | 'no_quorum'>;
  /** `assigned → agreed` (then the publish job); with `voteCount`, only while the request holds exactly those votes. */
  agree(request: RequestRecord, outcome: Outcome, voteCount?: number): Promise<Applied>;
  /** `→ failed` from `from`. */
  fail(request: RequestRecord, from: readonly ('queued' | 'assigned')[], failure: Failure): Promise<Applied>;
  /** Adds the request's node statistics (once per request), then removes its due entries: after the effect, never before. */
  settle(requestId: string): Promise<void>;
}

export function createFinality(deps: FinalityDeps): Finality {
  const { repository, queues, clock, config, logger, metrics } = deps;

  async function settle(requestId: string): Promise<void> {
    // Read after the transition: every counted vote is in (none can be added once voting closed).
    const request = await repository.getRequest(requestId);
    if (request?.assignment) await repository.putRequestNodeStats(requestId, computeRequestNodeStats(request));
    await repository.removeDueEntries(requestId);
  }

  async function agree(request: RequestRecord, outcome: Outcome, voteCount?: number): Promise<Applied> {
    const { applied, statusBefore } = await repository.agreeRequest(request.id, outcome, clock.now(), voteCount === undefined ? {} : { voteCount });
    // Still assigned: another vote came in since the decision; whoever recorded it (or the next sweep) decides again.
    if (!applied && statusBefore === 'assigned') return { result: 'pending', isClosed: false };
    if (applied || statusBefore === 'agreed') {
      await queues.add('publish', jobIds.publish(request.id), { kind: 'publish', requestId: request.id });
      if (applied) {
        metrics.acceptedToAgreed.observe((clock.now() - Date.parse(request.createdAt)) / 1000);
        logger.info({ requestId: request.id, round: request.assignment?.round, ok: outcome.ok }, 'request agreed');
      }
    }
    if (statusBefore !== null) await settle(request.id);
    return { result: 'agreed', isClosed: statusBefore !== null };
  }

  async function fail(request: RequestRecord, from: readonly ('queued' | 'assigned')[], failure: Failure): Promise<Applied> {
    const { applied, statusBefore } = await repository.failRequest(request.id, from, failure, clock.now());
    if (applied) {
      metrics.failures.inc({ code: failure.code });
      logger.info({ requestId: request.id, round: request.assignment?.round }, `request failed: ${failure.code.replace('_', ' ')}`);
    }
    // Not applied only when the request left `from` meanwhile: its voting is over either way.
    if (statusBefore !== null) await settle(request.id);
    return { result: failure.code, isClosed: statusBefore !== null };
  }

  async function finalize(request: RequestRecord, votes: readonly StoredVote[]): Promise<'pending' | 'grace' | 'agreed' | 'no_quorum'> {
    const decision = decideFinality(request.assignment!, votes, new Date(clock.now()).toISOString());
    switch (decision.kind) {
      case 'pending':
        return 'pending';
      case 'grace':
        // Written when the q-th ok number is recorded; a later vote finds the entry and leaves its time as it is.
        await repository.putDueEntry({ kind: 'grace', requestId: request.id, dueAtMs: clock.now() + config.medianGraceMs });
        return 'grace';
      case 'fail':
        await fail(request, ['assigned'], decision.failure);
        return 'no_quorum';
      case 'agree': {
        const { result } = await agree(request, decision.outcome, decision.voteCount);
        return result === 'pending' ? 'pending' : 'agreed';
      }
    }
  }

  return { finalize, agree, fail, settle };
}

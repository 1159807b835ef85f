// Consensus's writes at finality: apply an agreement or a failure as one guarded transition, which
// settles the request in the same step (its nodes' statistics once, its due entries removed) when the
// votes are those the decision saw, and otherwise settle it after. Shared by the deciding vote and the due sweep.
import { jobIds, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { ClosingResult, PredictedAgreement, Settling } from '../../repository/requests.ts';
import type { Assignment, Failure, Outcome, StoredVote } from '../../repository/types.ts';
import type { RoleBase } from '../../runtime/common.ts';
import { computeRequestNodeStats } from './decide-node-stats.ts';

export type FinalityDeps = RoleBase & {
  readonly repository: Pick<Repository, 'getRequest' | 'agreeRequest' | 'failRequest' | 'settleRequest'>;
  readonly queues: QueueSet;
};

/**
 * What finality needs of a request, with the votes the decision was taken from: the transition
 * settles the request with the statistics counted from them while they are all the votes it holds
 * (otherwise it gives back those that counted, and the statistics are counted from those).
 */
export type ClosingRequest = { readonly id: string; readonly createdAt: string; readonly assignment?: Assignment; readonly votes: readonly StoredVote[] };

/** What applying a decision did: `closed` once voting on the request is over (by this call or before). */
export type Applied = { readonly result: 'agreed' | Failure['code'] | 'pending'; readonly isClosed: boolean };

export interface ApplyOptions {
  /** With a median value: only while the request holds exactly this many votes (those it was taken from). */
  readonly voteCount?: number;
  /**
   * The deciding vote delivered again (a retried job): the request may have agreed in a run that
   * stopped before its publish job, so the job is added again even when this call did not apply.
   */
  readonly isResume?: boolean;
}

export interface Finality {
  /** `assigned → agreed`, then the publish job: added once, by the call whose transition applied (or a resume). */
  agree(request: ClosingRequest, outcome: Outcome, options?: ApplyOptions): Promise<Applied>;
  /** The agreement a deciding vote's record may apply in the same step (recordVote's), as agree would apply it. */
  agreementFor(request: ClosingRequest, outcome: Outcome, nowMs: number, voteCount?: number): PredictedAgreement;
  /** What follows an agreement's transition run by such a record: agree's steps after its own transition. */
  agreed(request: ClosingRequest, outcome: Outcome, moved: ClosingResult): Promise<Applied>;
  /** `→ failed` from `from`. */
  fail(request: ClosingRequest, from: readonly ('queued' | 'assigned')[], failure: Failure): Promise<Applied>;
  /** Adds the request's node statistics (once per request) and removes its due entries, in one step: after the effect, never before. */
  settle(requestId: string): Promise<void>;
}

export function createFinality(deps: FinalityDeps): Finality {
  const { repository, queues, clock, logger, metrics } = deps;
  const count = (handler: 'agree' | 'fail' | 'publish_job', outcome: string) => metrics.handlerOutcomes.inc({ role: 'consensus', handler, outcome });

  /** What a closing transition settles with, from the votes the decision saw; none for a request never assigned. */
  const settlingOf = (request: ClosingRequest, outcome?: Outcome): Settling | undefined =>
    request.assignment ? { voteCount: request.votes.length, counts: computeRequestNodeStats({ assignment: request.assignment, outcome, votes: request.votes }) } : undefined;

  /** `votes`: every vote once voting closed (a transition's answer); read again when not given. */
  async function settle(requestId: string, closed?: { assignment?: Assignment; outcome?: Outcome; votes: readonly StoredVote[] }): Promise<void> {
    // After the transition: every counted vote is in (none can be added once voting closed).
    const request = closed ?? await repository.getRequest(requestId);
    await repository.settleRequest(requestId, request?.assignment ? computeRequestNodeStats(request) : null);
  }

  /** How a closing transition went, for the counter: `applied`, `repeat` (its own earlier run), or the status that stopped it. */
  const outcomeOf = (t: ClosingResult) => (t.isRepeat ? 'repeat' : t.applied ? 'applied' : `from_${t.statusBefore ?? 'missing'}`);

  async function agree(request: ClosingRequest, outcome: Outcome, options: ApplyOptions = {}): Promise<Applied> {
    const { voteCount, isResume = false } = options;
    const settling = settlingOf(request, outcome);
    const moved = await repository.agreeRequest(request.id, outcome, clock.now(), { ...(voteCount === undefined ? {} : { voteCount }), withVotes: true, ...(settling ? { settle: settling } : {}) });
    return agreed(request, outcome, moved, isResume);
  }

  function agreementFor(request: ClosingRequest, outcome: Outcome, nowMs: number, voteCount?: number): PredictedAgreement {
    const settling = settlingOf(request, outcome);
    // The votes before the deciding one (the last): those the store must hold before it.
    return { priorVotes: request.votes.slice(0, -1), outcome, nowMs, ...(voteCount === undefined ? {} : { voteCount }), ...(settling ? { settle: settling } : {}) };
  }

  /** After an agreement's transition (`moved`): the publish job when it applied (or on a resume), and the settling when it did not settle. */
  async function agreed(request: ClosingRequest, outcome: Outcome, moved: ClosingResult, isResume = false): Promise<Applied> {
    const { applied, statusBefore } = moved;
    count('agree', outcomeOf(moved));
    // Still assigned: another vote came in since a median's decision; the vote that completes it (or the next sweep) decides again.
    if (!applied && statusBefore === 'assigned') return { result: 'pending', isClosed: false };
    if (applied || (isResume && statusBefore === 'agreed')) {
      await queues.add('publish', jobIds.publish(request.id), { kind: 'publish', requestId: request.id });
      count('publish_job', 'added');
      if (applied) {
        metrics.acceptedToAgreed.observe((clock.now() - Date.parse(request.createdAt)) / 1000);
        logger.info({ requestId: request.id, round: request.assignment?.round, ok: outcome.ok }, 'request agreed');
      }
    }
    if (statusBefore !== null && !moved.isSettled) await settle(request.id, moved.votes && { assignment: request.assignment, outcome, votes: moved.votes });
    return { result: 'agreed', isClosed: statusBefore !== null };
  }

  async function fail(request: ClosingRequest, from: readonly ('queued' | 'assigned')[], failure: Failure): Promise<Applied> {
    const settling = settlingOf(request);
    const moved = await repository.failRequest(request.id, from, failure, clock.now(), { withVotes: true, ...(settling ? { settle: settling } : {}) });
    const { applied, statusBefore } = moved;
    count('fail', outcomeOf(moved));
    if (applied) {
      metrics.failures.inc({ code: failure.code });
      logger.info({ requestId: request.id, round: request.assignment?.round }, `request failed: ${failure.code.replace('_', ' ')}`);
    }
    // Not applied only when the request left `from` meanwhile: its voting is over either way.
    if (statusBefore !== null && !moved.isSettled) await settle(request.id, moved.votes && { assignment: request.assignment, votes: moved.votes });
    return { result: failure.code, isClosed: statusBefore !== null };
  }

  return { agree, agreementFor, agreed: (request, outcome, moved) => agreed(request, outcome, moved), fail, settle: (requestId) => settle(requestId) };
}

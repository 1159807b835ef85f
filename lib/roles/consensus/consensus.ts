// Consensus: checks each vote (signature, membership recomputed from the frozen tickets), records it
// once per node (late after finality), and lets the one vote that decides the request finalize it:
// agreed → publish job, or failed (no_quorum); its sweep of the due-time index applies deadlines
// (timeout) and median grace periods.
import type { Vote } from '../../protocol/vote.ts';
import type { JobPayloads, JobResults, QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { ClosingResult, PredictedAgreement, VoteRecording } from '../../repository/requests.ts';
import type { StoredVote } from '../../repository/types.ts';
import { capLogs } from '../../sandbox/outcome.ts';
import { decideVote, decideVoteEffect, type RefusalReason } from './decide-vote.ts';
import { startDueSweep } from './due-sweep.ts';
import { createFinality } from './finality.ts';
import { createVoteFrames, type VoteFrame } from './vote-frames.ts';
import { createVoteForesight } from './vote-foresight.ts';
import { createSignKeyCache } from '../sign-keys.ts';
import { once, startPerNodeWorkers, type RoleBase, type RoleHandle } from '../../runtime/common.ts';

export interface ConsensusDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'getRequestHead' | 'getNode' | 'listNodes' | 'recordVote' | 'agreeRequest' | 'failRequest' | 'getRound' | 'listTickets'
    | 'putDueEntry' | 'moveDueEntry' | 'listDueEntries' | 'removeDueEntries' | 'settleRequest'>;
  readonly queues: QueueSet;
}

type VoteResult = JobResults['votes'];
/** An agreement foreseen: the votes the store will hold with this one, and the agreement they bring (its outcome among it). */
type Prediction = { readonly votes: StoredVote[]; readonly agreement: PredictedAgreement };

/**
 * Voting requests whose votes a consensus process keeps in view, and their weight at most, as the
 * votes' JSON (parsed, they take a few times that); a request whose votes weigh more than a sixteenth
 * of it (256 KiB) is not foreseen.
 */
const FORESEEN_REQUESTS = 1_000;
const FORESEEN_BYTES = 4 * 1024 * 1024;

export async function startConsensus(deps: ConsensusDeps): Promise<RoleHandle> {
  const { repository, logger, config, clock, metrics } = deps;
  const frames = createVoteFrames(repository, logger);
  const signKeyOf = createSignKeyCache(repository, logger);
  const finality = createFinality(deps);
  const count = (outcome: string) => metrics.handlerOutcomes.inc({ role: 'consensus', handler: 'vote', outcome });
  const countPrediction = (outcome: 'applied' | 'not_applied' | 'missed') => metrics.handlerOutcomes.inc({ role: 'consensus', handler: 'agree_with_record', outcome });
  const foresight = createVoteForesight({ maxRequests: FORESEEN_REQUESTS, maxBytes: FORESEEN_BYTES });

  // Redis calls per vote: the record script (which answers with every vote), plus, for the vote that
  // decides, one transition (which settles the statistics and the due entries with it) and the
  // publish job; the request's fixed fields are read once per request and process. When the votes
  // this process knows of make this one the deciding vote on an agreement, its record applies the
  // agreement in the same script (if the store holds exactly those votes), with no transition call.
  async function handleVote({ vote, logs }: Extract<JobPayloads['votes'], { kind: 'vote' }>): Promise<VoteResult> {
    const frame = await frames.get(vote.requestId);
    const signPublicKey = frame ? await signKeyOf(vote.nodeId) : undefined;
    const decision = decideVote({ vote, request: frame?.request ?? null, committee: frame?.committee ?? [], binding: frame?.binding, signPublicKey, maxOutputBytes: config.maxOutputBytes });
    if (decision.kind === 'refuse') return refuse(decision.reason, vote);
    const stored = {
      nodeId: vote.nodeId, round: vote.round, ok: vote.ok, resultHash: vote.resultHash, value: vote.value, signature: vote.signature,
      ...(logs ? { logs: capLogs(logs, { logLines: config.maxLogLines, logBytes: config.maxLogBytes }) } : {}),
    };
    const foreseen = foresight.sending(vote.requestId, stored, decision.valueBytes);
    const predicted = foreseen && predictAgreement(frame!, foreseen, vote.nodeId);
    const recording = await repository.recordVote(vote.requestId, stored, predicted?.agreement).catch((error: unknown) => {
      foresight.forget(vote.requestId); // whether it was stored is unknown: foresee nothing more for the request
      throw error;
    });
    foresight.recorded(vote.requestId, recording);
    switch (recording.outcome) {
      case 'missing':
      case 'not_assigned':
        return refuse('unknown_request', vote);
      case 'duplicate':
        return refuse('duplicate', vote);
      case 'late':
        if (recording.isAgain) {
          count('redelivered_late');
          return 'late';
        }
        metrics.votes.inc({ result: 'late', reason: '' });
        logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, round: vote.round, status: recording.status }, 'late vote recorded');
        count('late');
        return 'late';
      case 'recorded': {
        if (!recording.isAgain) {
          metrics.votes.inc({ result: 'accepted', reason: '' });
          logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, round: vote.round }, 'vote accepted');
        }
        if (predicted && !recording.agreement) countPrediction('missed');
        const result = recording.agreement
          ? await applyAgreement(frame!, recording, vote.nodeId, predicted!, recording.agreement)
          : await applyVote(frame!, recording, vote.nodeId);
        if (result === 'agreed' || result === 'no_quorum') foresight.forget(vote.requestId);
        count(recording.isAgain ? `redelivered_${result}` : result);
        return result;
      }
    }
  }

  /**
   * The agreement this vote brings if the store holds just the foreseen votes once it is recorded (this
   * one last); none when they do not make it the deciding vote on an agreement. What the record then
   * applies is what applyVote would decide from the same votes.
   */
  function predictAgreement(frame: VoteFrame, votes: StoredVote[], nodeId: string): Prediction | undefined {
    const nowMs = clock.now();
    const effect = decideVoteEffect(frame.request.assignment, votes, nodeId, new Date(nowMs).toISOString());
    if (effect.kind !== 'agree') return undefined;
    return { votes, agreement: finality.agreementFor({ ...frame.request, votes }, effect.outcome, nowMs, effect.voteCount) };
  }

  /** The record ran the predicted agreement's transition: finish as agree would (or, not applied, decide as any vote does). */
  async function applyAgreement(frame: VoteFrame, recording: VoteRecording, nodeId: string, predicted: Prediction, moved: ClosingResult): Promise<VoteResult> {
    countPrediction(moved.applied ? 'applied' : 'not_applied');
    if (!moved.applied) return applyVote(frame, recording, nodeId);
    // Applied in one step with the record: the votes are the recording's (none can come between).
    await finality.agreed({ ...frame.request, votes: predicted.votes }, predicted.agreement.outcome, { ...moved, votes: recording.votes });
    return 'agreed';
  }

  /** Only the vote that decides the request applies the decision; a redelivered one finishes what its first run began. */
  async function applyVote(frame: VoteFrame, recording: VoteRecording, nodeId: string): Promise<VoteResult> {
    const { request } = frame;
    const effect = decideVoteEffect(request.assignment, recording.votes, nodeId, new Date(clock.now()).toISOString());
    switch (effect.kind) {
      case 'pending':
      case 'counted':
        return effect.kind;
      case 'grace':
        // Written by the vote that brought the q-th ok number; the entry keeps its time if written before.
        await repository.putDueEntry({ kind: 'grace', requestId: request.id, dueAtMs: clock.now() + config.medianGraceMs });
        return 'grace';
      case 'fail':
        await finality.fail({ ...request, votes: recording.votes }, ['assigned'], effect.failure);
        return 'no_quorum';
      case 'agree': {
        const options = { isResume: recording.isAgain, ...(effect.voteCount === undefined ? {} : { voteCount: effect.voteCount }) };
        const { result } = await finality.agree({ ...request, votes: recording.votes }, effect.outcome, options);
        return result === 'pending' ? 'pending' : 'agreed';
      }
    }
  }

  function refuse(reason: RefusalReason, vote: Vote): `refused: ${RefusalReason}` {
    metrics.votes.inc({ result: 'refused', reason });
    count(reason === 'duplicate' ? 'duplicate' : 'refused');
    logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, reason }, 'vote refused');
    return `refused: ${reason}` as const;
  }

  // Every node sends its votes to its own queue (`votes.<nodeId>`); a worker per registered node takes them.
  const workers = startPerNodeWorkers(deps, 'votes', { vote: handleVote }, {
    listNodeIds: async () => (await repository.listNodes()).map((n) => n.id),
    senderOf: (payload) => payload.vote.nodeId,
    concurrency: config.workerConcurrency,
    refreshMs: config.roundMs,
  });
  const dueSweep = startDueSweep(deps, finality);
  return {
    name: 'consensus',
    isReady: () => workers.isRunning(),
    stop: once(async () => {
      await dueSweep.stop();
      await workers.close();
    }),
  };
}

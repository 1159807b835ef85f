// Consensus: checks each vote (signature, membership recomputed from the frozen tickets), records it
// once per node (late after finality), and lets the one vote that decides the request finalize it:
// agreed → publish job, or failed (no_quorum); its sweep of the due-time index applies deadlines
// (timeout) and median grace periods.
import type { Vote } from '../../protocol/vote.ts';
import type { JobPayloads, JobResults, QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { VoteRecording } from '../../repository/requests.ts';
import { capLogs } from '../../sandbox/outcome.ts';
import { decideVote, decideVoteEffect, type RefusalReason } from './decide-vote.ts';
import { startDueSweep } from './due-sweep.ts';
import { createFinality } from './finality.ts';
import { createVoteFrames, type VoteFrame } from './vote-frames.ts';
import { createSignKeyCache } from '../sign-keys.ts';
import { once, startPerNodeWorkers, type RoleBase, type RoleHandle } from '../../runtime/common.ts';

export interface ConsensusDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'getRequestHead' | 'getNode' | 'listNodes' | 'recordVote' | 'agreeRequest' | 'failRequest' | 'getRound' | 'listTickets'
    | 'putDueEntry' | 'moveDueEntry' | 'listDueEntries' | 'removeDueEntries' | 'settleRequest'>;
  readonly queues: QueueSet;
}

type VoteResult = JobResults['votes'];

export async function startConsensus(deps: ConsensusDeps): Promise<RoleHandle> {
  const { repository, logger, config, clock, metrics } = deps;
  const frames = createVoteFrames(repository, logger);
  const signKeyOf = createSignKeyCache(repository, logger);
  const finality = createFinality(deps);
  const count = (outcome: string) => metrics.handlerOutcomes.inc({ role: 'consensus', handler: 'vote', outcome });

  // Redis calls per vote: the record script (which answers with every vote), plus, for the vote that
  // decides, one transition (which settles the statistics and the due entries with it) and the
  // publish job; the request's fixed fields are read once per request and process.
  async function handleVote({ vote, logs }: Extract<JobPayloads['votes'], { kind: 'vote' }>): Promise<VoteResult> {
    const frame = await frames.get(vote.requestId);
    const signPublicKey = frame ? await signKeyOf(vote.nodeId) : undefined;
    const decision = decideVote({ vote, request: frame?.request ?? null, committee: frame?.committee ?? [], binding: frame?.binding, signPublicKey, maxOutputBytes: config.maxOutputBytes });
    if (decision.kind === 'refuse') return refuse(decision.reason, vote);
    const recording = await repository.recordVote(vote.requestId, {
      nodeId: vote.nodeId, round: vote.round, ok: vote.ok, resultHash: vote.resultHash, value: vote.value, signature: vote.signature,
      ...(logs ? { logs: capLogs(logs, { logLines: config.maxLogLines, logBytes: config.maxLogBytes }) } : {}),
    });
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
        const result = await applyVote(frame!, recording, vote.nodeId);
        count(recording.isAgain ? `redelivered_${result}` : result);
        return result;
      }
    }
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

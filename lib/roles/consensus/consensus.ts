// Consensus: checks each vote (signature, membership recomputed from the frozen tickets, once
// per node), records it, tallies, and finalizes: agreed → publish job, or failed (no_quorum/timeout).
import type { Vote } from '../../protocol/vote.ts';
import { jobIds, type JobPayloads, type JobResults, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestRecord, StoredVote } from '../../repository/types.ts';
import { capLogs } from '../../sandbox/outcome.ts';
import { decideFinality, decideVote, type RefusalReason } from './decide-vote.ts';
import { createCommitteeCache, recomputeCommittee } from '../committee-cache.ts';
import { createSignKeyCache } from '../sign-keys.ts';
import { once, startPerNodeWorkers, type RoleBase, type RoleHandle } from '../../runtime/common.ts';

export interface ConsensusDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'getNode' | 'listNodes' | 'recordVote' | 'agreeRequest' | 'failRequest' | 'getRound' | 'listTickets'>;
  readonly queues: QueueSet;
}

export async function startConsensus(deps: ConsensusDeps): Promise<RoleHandle> {
  const { repository, queues, clock, logger, config, metrics } = deps;
  const committees = createCommitteeCache(repository);
  const signKeyOf = createSignKeyCache(repository);
  const committeeOf = (request: RequestRecord) => recomputeCommittee(committees, request, () => {
    logger.error({ requestId: request.id, round: request.assignment!.round }, 'stored committee differs from the recomputed one; using the recomputed one');
  });

  const finalize = createFinalizer(deps);

  async function handleVote({ vote, logs }: Extract<JobPayloads['votes'], { kind: 'vote' }>): Promise<JobResults['votes']> {
    const request = await repository.getRequest(vote.requestId);
    const [committee, signPublicKey] = request?.assignment ? await Promise.all([committeeOf(request), signKeyOf(vote.nodeId)]) : [[], undefined];
    const decision = decideVote({ vote, request, committee, signPublicKey, maxOutputBytes: config.maxOutputBytes });
    switch (decision.kind) {
      case 'resume':
        return finalize(request!, request!.votes);
      case 'skip':
        return `already ${decision.status}` as const;
      case 'refuse':
        if (decision.isPublishDue) await queues.add('publish', jobIds.publish(vote.requestId), { kind: 'publish', requestId: vote.requestId });
        return refuse(decision.reason, vote);
      case 'record': {
        const recording = await repository.recordVote(vote.requestId, {
          nodeId: vote.nodeId, round: vote.round, ok: vote.ok, resultHash: vote.resultHash, value: vote.value, signature: vote.signature,
          ...(logs ? { logs: capLogs(logs, { logLines: config.maxLogLines, logBytes: config.maxLogBytes }) } : {}),
        });
        if (recording.outcome === 'not_assigned') return refuse('already_final', vote);
        if (recording.outcome === 'duplicate') return refuse('duplicate', vote);
        metrics.votes.inc({ result: 'accepted', reason: '' });
        logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, round: vote.round }, 'vote accepted');
        return finalize(request!, recording.votes);
      }
    }
  }

  function refuse(reason: RefusalReason, vote: Vote): `refused: ${RefusalReason}` {
    metrics.votes.inc({ result: 'refused', reason });
    logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, reason }, 'vote refused');
    return `refused: ${reason}` as const;
  }

  async function handleDeadline({ requestId }: Extract<JobPayloads['votes'], { kind: 'deadline' }>): Promise<JobResults['votes']> {
    const message = `no agreed result within ${config.requestDeadlineMs} ms`;
    // An agreed request is past its deadline's reach: it waits for its publication, not for votes.
    const { applied, statusBefore } = await repository.failRequest(requestId, ['queued', 'assigned'], { code: 'timeout', message }, clock.now());
    if (applied) {
      metrics.failures.inc({ code: 'timeout' });
      logger.info({ requestId }, 'request failed: timeout');
    }
    if (applied) return 'timed out';
    return statusBefore === null ? 'not_found' : `already ${statusBefore}`;
  }

  // Every node sends its votes to its own queue (`votes.<nodeId>`); a worker per registered node takes them.
  const workers = startPerNodeWorkers(deps, 'votes', { vote: handleVote, deadline: handleDeadline }, {
    listNodeIds: async () => (await repository.listNodes()).map((n) => n.id),
    senderOf: (payload) => (payload.kind === 'vote' ? payload.vote.nodeId : ''),
    concurrency: config.workerConcurrency,
    refreshMs: config.roundMs,
  });
  return { name: 'consensus', isReady: () => workers.isRunning(), stop: once(() => workers.close()) };
}

/** Applies what the recorded votes decide: agreed (then the publish job) or failed `no_quorum`, once. */
function createFinalizer(deps: ConsensusDeps): (request: RequestRecord, votes: readonly StoredVote[]) => Promise<JobResults['votes']> {
  const { repository, queues, clock, logger, metrics } = deps;
  return async function finalize(request, votes) {
    const decision = decideFinality(request.assignment!, votes, new Date(clock.now()).toISOString());
    switch (decision.kind) {
      case 'pending':
        return 'pending';
      case 'fail': {
        const { applied } = await repository.failRequest(request.id, ['assigned'], decision.failure, clock.now());
        if (applied) {
          metrics.failures.inc({ code: decision.failure.code });
          logger.info({ requestId: request.id, round: request.assignment!.round }, 'request failed: no quorum');
        }
        return decision.failure.code;
      }
      case 'agree': {
        const { applied, statusBefore } = await repository.agreeRequest(request.id, decision.outcome, clock.now());
        if (applied || statusBefore === 'agreed') {
          await queues.add('publish', jobIds.publish(request.id), { kind: 'publish', requestId: request.id });
          if (applied) {
            metrics.acceptedToAgreed.observe((clock.now() - Date.parse(request.createdAt)) / 1000);
            logger.info({ requestId: request.id, round: request.assignment!.round, ok: decision.outcome.ok }, 'request agreed');
          }
        }
        return 'agreed';
      }
    }
  };
}

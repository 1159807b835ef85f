// Consensus: checks each vote (signature, membership recomputed from the frozen tickets, once
// per node), records it (late after finality), tallies, and finalizes: agreed → publish job, or failed
// (no_quorum); its sweep of the due-time index applies deadlines (timeout) and median grace periods.
import type { Vote } from '../../protocol/vote.ts';
import { jobIds, type JobPayloads, type JobResults, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestRecord } from '../../repository/types.ts';
import { capLogs } from '../../sandbox/outcome.ts';
import { decideVote, type RefusalReason } from './decide-vote.ts';
import { startDueSweep } from './due-sweep.ts';
import { createFinality } from './finality.ts';
import { createCommitteeCache, recomputeCommittee } from '../committee-cache.ts';
import { createSignKeyCache } from '../sign-keys.ts';
import { once, startPerNodeWorkers, type RoleBase, type RoleHandle } from '../../runtime/common.ts';

export interface ConsensusDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'getNode' | 'listNodes' | 'recordVote' | 'agreeRequest' | 'failRequest' | 'getRound' | 'listTickets'
    | 'putDueEntry' | 'moveDueEntry' | 'listDueEntries' | 'removeDueEntries' | 'putRequestNodeStats'>;
  readonly queues: QueueSet;
}

export async function startConsensus(deps: ConsensusDeps): Promise<RoleHandle> {
  const { repository, queues, logger, config, metrics } = deps;
  const committees = createCommitteeCache(repository, logger);
  const signKeyOf = createSignKeyCache(repository, logger);
  const committeeOf = (request: RequestRecord) => recomputeCommittee(committees, request, () => {
    logger.error({ requestId: request.id, round: request.assignment!.round }, 'stored committee differs from the recomputed one; using the recomputed one');
  });

  const finality = createFinality(deps);

  async function handleVote({ vote, logs }: Extract<JobPayloads['votes'], { kind: 'vote' }>): Promise<JobResults['votes']> {
    const request = await repository.getRequest(vote.requestId);
    const [committee, signPublicKey] = request?.assignment ? await Promise.all([committeeOf(request), signKeyOf(vote.nodeId)]) : [[], undefined];
    const decision = decideVote({ vote, request, committee, signPublicKey, maxOutputBytes: config.maxOutputBytes });
    switch (decision.kind) {
      case 'resume':
        return finality.finalize(request!, request!.votes);
      case 'skip':
        return `already ${decision.status}` as const;
      case 'refuse':
        return refuse(decision.reason, vote);
      case 'record': {
        const recording = await repository.recordVote(vote.requestId, {
          nodeId: vote.nodeId, round: vote.round, ok: vote.ok, resultHash: vote.resultHash, value: vote.value, signature: vote.signature,
          ...(logs ? { logs: capLogs(logs, { logLines: config.maxLogLines, logBytes: config.maxLogBytes }) } : {}),
        });
        if (recording.outcome === 'missing' || recording.outcome === 'not_assigned') return refuse('unknown_request', vote);
        if (recording.outcome === 'duplicate') return refuse('duplicate', vote);
        if (recording.outcome === 'late') {
          metrics.votes.inc({ result: 'late', reason: '' });
          logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, round: vote.round, status: recording.status }, 'late vote recorded');
          // A vote after agreement shows the request agreed and maybe stranded before its publication.
          if (recording.status === 'agreed') await queues.add('publish', jobIds.publish(vote.requestId), { kind: 'publish', requestId: vote.requestId });
          return 'late';
        }
        metrics.votes.inc({ result: 'accepted', reason: '' });
        logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, round: vote.round }, 'vote accepted');
        return finality.finalize(request!, recording.votes);
      }
    }
  }

  function refuse(reason: RefusalReason, vote: Vote): `refused: ${RefusalReason}` {
    metrics.votes.inc({ result: 'refused', reason });
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

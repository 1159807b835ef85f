// Consensus: checks each vote (signature, membership recomputed from the frozen tickets, once
// per node), records it, tallies, and finalizes: agreed → publish job, or failed (no_quorum/timeout).
import { UnrecoverableError, type Job } from 'bullmq';
import { fromHex } from '../../crypto/bytes.ts';
import { allowedFrom } from '../../protocol/request-lifecycle.ts';
import type { Vote } from '../../protocol/vote.ts';
import { jobIds, type JobPayloads, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestRecord, StoredVote } from '../../repository/types.ts';
import { capLogs } from '../../sandbox/outcome.ts';
import { decideFinality, decideVote } from './decide-vote.ts';
import { createCommitteeCache } from '../committee-cache.ts';
import { once, startWorker, type RoleBase, type RoleHandle } from '../../runtime/common.ts';

export interface ConsensusDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'getNode' | 'recordVote' | 'agreeRequest' | 'failRequest' | 'getRound' | 'listTickets'>;
  readonly queues: QueueSet;
}

export async function startConsensus(deps: ConsensusDeps): Promise<RoleHandle> {
  const { repository, queues, clock, logger, config, metrics } = deps;
  const committees = createCommitteeCache(repository);
  // Node ids derive from the signing key, so a node's key never changes under its id.
  const signKeys = new Map<string, Uint8Array>();

  async function signKeyOf(nodeId: string): Promise<Uint8Array | undefined> {
    let key = signKeys.get(nodeId);
    if (!key) {
      const node = await repository.getNode(nodeId);
      if (!node) return undefined;
      key = fromHex(node.signPublicKey, 32);
      signKeys.set(nodeId, key);
    }
    return key;
  }

  async function committeeOf(request: RequestRecord): Promise<readonly string[]> {
    const assignment = request.assignment!;
    const selector = await committees.get(assignment.round - 1);
    if (!selector) throw new UnrecoverableError(`round ${assignment.round - 1} has no frozen tickets`);
    const recomputed = selector.select(request.id, assignment.committee.length);
    if (recomputed.join() !== assignment.committee.join()) {
      logger.error({ requestId: request.id, round: assignment.round }, 'stored committee differs from the recomputed one; using the recomputed one');
    }
    return recomputed;
  }

  async function finalize(request: RequestRecord, votes: readonly StoredVote[]): Promise<string> {
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
          await queues.add('publish', jobIds.publish(request.id), { requestId: request.id });
          if (applied) {
            metrics.acceptedToAgreed.observe((clock.now() - Date.parse(request.createdAt)) / 1000);
            logger.info({ requestId: request.id, round: request.assignment!.round, ok: decision.outcome.ok }, 'request agreed');
          }
        }
        return 'agreed';
      }
    }
  }

  async function handleVote(vote: Vote, logs: readonly string[] | undefined): Promise<string> {
    const request = await repository.getRequest(vote.requestId);
    const [committee, signPublicKey] = request?.assignment ? await Promise.all([committeeOf(request), signKeyOf(vote.nodeId)]) : [[], undefined];
    const decision = decideVote({ vote, request, committee, signPublicKey, maxOutputBytes: config.maxOutputBytes });
    switch (decision.kind) {
      case 'resume':
        return finalize(request!, request!.votes);
      case 'skip':
        return `already ${decision.status}`;
      case 'refuse':
        if (decision.isPublishDue) await queues.add('publish', jobIds.publish(vote.requestId), { requestId: vote.requestId });
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

  function refuse(reason: string, vote: Vote): string {
    metrics.votes.inc({ result: 'refused', reason });
    logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, reason }, 'vote refused');
    return `refused: ${reason}`;
  }

  async function handleDeadline(requestId: string): Promise<string> {
    const message = `no agreed result within ${config.requestDeadlineMs} ms`;
    const { applied, statusBefore } = await repository.failRequest(requestId, allowedFrom('failed'), { code: 'timeout', message }, clock.now());
    if (applied) {
      metrics.failures.inc({ code: 'timeout' });
      logger.info({ requestId }, 'request failed: timeout');
    }
    return applied ? 'timed out' : `already ${statusBefore}`;
  }

  async function handle(job: Job<JobPayloads['votes']>): Promise<string> {
    const data = job.data;
    return data.kind === 'deadline' ? handleDeadline(data.requestId) : handleVote(data.vote, data.logs);
  }

  const worker = startWorker(deps, 'votes', handle, { concurrency: config.workerConcurrency });
  return { name: 'consensus', isReady: () => worker.isRunning(), stop: once(() => worker.close()) };
}



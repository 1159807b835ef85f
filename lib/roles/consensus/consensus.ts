// Consensus: checks each vote (signature, membership recomputed from the frozen tickets, once
// per node), records it, tallies, and finalizes: agreed → publish job, or failed (no_quorum/timeout).
import { UnrecoverableError, type Job } from 'bullmq';
import { fromHex } from '../../crypto/bytes.ts';
import { checkVote, type Vote } from '../../protocol/vote.ts';
import { computeTally } from '../../protocol/vote-tally.ts';
import { jobIds, type JobPayloads, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestRecord, StoredVote } from '../../repository/types.ts';
import { capLogs, MAX_ERROR_BYTES, utf8Length } from '../../sandbox/outcome.ts';
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
    const assignment = request.assignment!;
    const tally = computeTally({ committeeSize: assignment.committee.length, quorum: assignment.quorum, aggregation: assignment.aggregation }, votes);
    if (tally.status === 'pending') return 'pending';
    if (tally.status === 'no_quorum') {
      const message = `${votes.length} of ${assignment.committee.length} votes and no value can reach the quorum of ${assignment.quorum}`;
      const { applied } = await repository.failRequest(request.id, ['assigned'], { code: 'no_quorum', message }, clock.now());
      if (applied) {
        metrics.failures.inc({ code: 'no_quorum' });
        logger.info({ requestId: request.id, round: assignment.round }, 'request failed: no quorum');
      }
      return 'no_quorum';
    }
    const { ok, value, resultHash, supporters } = tally;
    const { applied, statusBefore } = await repository.agreeRequest(request.id, { ok, value, resultHash, supporters, agreedAt: new Date(clock.now()).toISOString() }, clock.now());
    if (applied || statusBefore === 'agreed') {
      await queues.add('publish', jobIds.publish(request.id), { requestId: request.id });
      if (applied) {
        metrics.acceptedToAgreed.observe((clock.now() - Date.parse(request.createdAt)) / 1000);
        logger.info({ requestId: request.id, round: assignment.round, ok }, 'request agreed');
      }
    }
    return 'agreed';
  }

  async function handleVote(vote: Vote, logs: readonly string[] | undefined): Promise<string> {
    const request = await repository.getRequest(vote.requestId);
    if (!request?.assignment) return refuse('unknown_request', vote);
    const [committee, signPublicKey] = await Promise.all([committeeOf(request), signKeyOf(vote.nodeId)]);
    const stored = request.votes.find((v) => v.nodeId === vote.nodeId);
    const refusal = checkVote({
      requestId: request.id,
      round: request.assignment.round,
      committee,
      votedNodeIds: request.votes.map((v) => v.nodeId),
      isFinal: request.status !== 'assigned',
      signPublicKey,
    }, vote);
    // The same vote delivered again: no second effect, but finish the work a crash may have cut short.
    if (refusal === 'duplicate' && stored?.signature === vote.signature) {
      return request.status === 'assigned' ? finalize(request, request.votes) : `already ${request.status}`;
    }
    if (refusal === 'already_final' && request.status === 'agreed') await queues.add('publish', jobIds.publish(request.id), { requestId: request.id });
    if (refusal) return refuse(refusal, vote);
    // A vote carries user output: nothing larger than the operator's ceilings is stored.
    if (isOversized(vote)) return refuse('oversized', vote);
    const recording = await repository.recordVote(request.id, {
      nodeId: vote.nodeId, round: vote.round, ok: vote.ok, resultHash: vote.resultHash, value: vote.value, signature: vote.signature,
      ...(logs ? { logs: capLogs(logs, { maxLogLines: config.maxLogLines, maxLogBytes: config.maxLogBytes }) } : {}),
    });
    if (recording.outcome === 'not_assigned') return refuse('already_final', vote);
    if (recording.outcome === 'duplicate') return refuse('duplicate', vote);
    metrics.votes.inc({ result: 'accepted', reason: '' });
    logger.info({ requestId: request.id, nodeId: vote.nodeId, round: vote.round }, 'vote accepted');
    return finalize(request, recording.votes);
  }

  // A result above the operator's output ceiling, or an error message above the cut every sandbox
  // applies (4,096 bytes and the ellipsis).
  function isOversized(vote: Vote): boolean {
    try {
      if (!vote.ok) {
        const message = (vote.value as { error?: unknown } | null)?.error;
        return typeof message !== 'string' || utf8Length(message) > MAX_ERROR_BYTES + utf8Length('…');
      }
      return utf8Length(JSON.stringify(vote.value) ?? '') > config.maxOutputBytes;
    } catch {
      return true; // not serializable (nested too deep): nothing to store
    }
  }

  function refuse(reason: string, vote: Vote): string {
    metrics.votes.inc({ result: 'refused', reason });
    logger.info({ requestId: vote.requestId, nodeId: vote.nodeId, reason }, 'vote refused');
    return `refused: ${reason}`;
  }

  async function handleDeadline(requestId: string): Promise<string> {
    const message = `no agreed result within ${config.requestDeadlineMs} ms`;
    const { applied, statusBefore } = await repository.failRequest(requestId, ['queued', 'assigned'], { code: 'timeout', message }, clock.now());
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



// Receiver: turns a queued request into an assignment (round, committee from the frozen tickets
// of the previous round) and sends one run job to each member, plus the deadline job.
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { jobIds, type JobPayloads, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { Assignment, RequestRecord } from '../../repository/types.ts';
import { createCommitteeCache } from '../committee-cache.ts';
import { once, startWorker, type RoleBase, type RoleHandle } from '../../runtime/common.ts';

export interface ReceiverDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'getProject' | 'assignRequest' | 'failRequest' | 'getLatestRoundNumber' | 'getRound' | 'listTickets'>;
  readonly queues: QueueSet;
}

export async function startReceiver(deps: ReceiverDeps): Promise<RoleHandle> {
  const { repository, queues, config, clock, logger, metrics } = deps;
  const committees = createCommitteeCache(repository);

  async function dispatch(request: RequestRecord, assignment: Assignment): Promise<void> {
    const voted = new Set(request.votes.map((v) => v.nodeId));
    await Promise.all([
      ...assignment.committee
        .filter((nodeId) => !voted.has(nodeId))
        .map((nodeId) => queues.add('exec', jobIds.run(request.id, nodeId), { kind: 'run', requestId: request.id }, { nodeId })),
      queues.add('votes', jobIds.deadline(request.id), { kind: 'deadline', requestId: request.id }, { delayMs: config.requestDeadlineMs }),
    ]);
  }

  async function handle(job: Job<JobPayloads['incoming']>, token?: string): Promise<string> {
    const { requestId } = job.data;
    const request = await repository.getRequest(requestId);
    if (!request) throw new UnrecoverableError(`request ${requestId} does not exist`);
    // A redelivery after the assignment was written: make sure the jobs exist (ids dedupe them).
    if (request.status === 'assigned' && request.assignment) {
      await dispatch(request, request.assignment);
      return 'redispatched';
    }
    if (request.status !== 'queued') return `already ${request.status}`;
    const project = await repository.getProject(request.projectId);
    if (!project) {
      const { applied } = await repository.failRequest(requestId, ['queued'], { code: 'rejected', message: 'the project no longer exists' }, clock.now());
      if (applied) metrics.failures.inc({ code: 'rejected' });
      return 'rejected';
    }
    const round = await repository.getLatestRoundNumber();
    const [selector, roundRecord] = await Promise.all([committees.get(round - 1), repository.getRound(round)]);
    const eligible = selector?.eligible ?? 0;
    if (!selector || !roundRecord || eligible < project.committee.quorum) {
      const waitedMs = clock.now() - Date.parse(request.createdAt);
      if (waitedMs < config.assignWaitMs) {
        // No frozen tickets yet (the gateway just started) or too few nodes: look again next round.
        await job.moveToDelayed(clock.now() + Math.min(config.roundMs, 1000), token);
        throw new DelayedError();
      }
      const message = `${eligible} eligible node(s), quorum needs ${project.committee.quorum}`;
      const { applied } = await repository.failRequest(requestId, ['queued'], { code: 'no_nodes', message }, clock.now());
      if (applied) {
        metrics.failures.inc({ code: 'no_nodes' });
        logger.warn({ requestId, round, eligible }, 'request failed: no nodes');
      }
      return 'no_nodes';
    }
    const assignment: Assignment = {
      round,
      roundSeed: roundRecord.seed,
      committee: selector.select(requestId, project.committee.size),
      quorum: project.committee.quorum,
      aggregation: project.aggregation,
      assignedAt: new Date(clock.now()).toISOString(),
    };
    const { applied } = await repository.assignRequest(requestId, assignment, clock.now());
    if (!applied) return 'raced';
    await dispatch(request, assignment);
    logger.info({ requestId, round, committee: assignment.committee }, 'request assigned');
    return 'assigned';
  }

  const worker = startWorker(deps, 'incoming', handle, { concurrency: config.workerConcurrency });
  return {
    name: 'receiver',
    isReady: () => worker.isRunning(),
    stop: once(() => worker.close()),
  };
}

// Receiver: turns a queued request into an assignment (round, committee from the frozen tickets
// of the previous round), writes its deadline into the due-time index and sends one run job to each member.
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { jobIds, type JobPayloads, type JobResults, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestState } from '../../repository/request-reads.ts';
import type { Assignment } from '../../repository/types.ts';
import { decideAssignment } from './decide-assignment.ts';
import { createCommitteeCache } from '../committee-cache.ts';
import { createLoadCache } from '../load-cache.ts';
import { createProjectLoader } from '../project-loader.ts';
import { once, startWorker, type RoleBase, type RoleHandle } from '../../runtime/common.ts';

export interface ReceiverDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequestState' | 'hasVoted' | 'getProject' | 'assignRequest' | 'failRequest' | 'getLatestRoundNumber' | 'getRound' | 'listTickets' | 'getNode' | 'putDueEntry'>;
  readonly queues: QueueSet;
}

/** How long one read of the latest round number serves (rounds last GATEWAY_ROUND_MS, 2 s by default). */
const LATEST_ROUND_MS = 250;

export async function startReceiver(deps: ReceiverDeps): Promise<RoleHandle> {
  const { repository, queues, config, clock, logger, metrics } = deps;
  const committees = createCommitteeCache(repository, logger);
  const loadProject = createProjectLoader(repository, clock);

  // A round's seed never changes once the round exists: read once per round (the latest few kept).
  const seedOf = createLoadCache({ load: async (round: number) => (await repository.getRound(round))?.seed, isKept: (seed) => seed !== undefined, maxEntries: 4 });
  // The latest round number, read at most every LATEST_ROUND_MS and shared by the requests meanwhile:
  // one assigned in a new round's first moments may take the round before, whose committee (from
  // the tickets frozen when that round started) is as valid, and whose records are kept.
  const latestRound = createLoadCache({ load: () => repository.getLatestRoundNumber(), isKept: () => true, maxEntries: 1, ttl: { ms: LATEST_ROUND_MS, clock } });

  const deadlineOf = (request: RequestState) => Date.parse(request.createdAt) + config.requestDeadlineMs;

  /**
   * Sends a run job to each member that has not voted. The deadline is in the due-time index first, so
   * no member runs a request without one: written with the assignment, and again (idempotent: an entry
   * keeps its time) on a redispatch; consensus checks it against the request's accepted-at time before applying it.
   */
  async function dispatch(request: RequestState, assignment: Assignment, isRedispatch: boolean): Promise<void> {
    // A first dispatch follows the assignment, before any vote; a redispatch asks which members voted.
    const hasVoted = isRedispatch ? await Promise.all(assignment.committee.map((nodeId) => repository.hasVoted(request.id, nodeId))) : [];
    if (isRedispatch) await repository.putDueEntry({ kind: 'deadline', requestId: request.id, dueAtMs: deadlineOf(request) });
    await Promise.all(assignment.committee
      .filter((_, i) => !hasVoted[i])
      .map((nodeId) => queues.add('exec', jobIds.run(request.id, nodeId), { kind: 'run', requestId: request.id, projectId: request.projectId }, { nodeId })));
  }

  async function assign({ requestId }: JobPayloads['incoming'], job: Job<JobPayloads['incoming']>, token?: string): Promise<JobResults['incoming']> {
    // The latest round does not depend on the request: both reads in one round trip (the record
    // without its votes: a queued request has none, and a redispatch reads them itself).
    const [request, roundNumber] = await Promise.all([repository.getRequestState(requestId), latestRound('latest')]);
    if (!request) throw new UnrecoverableError(`request ${requestId} does not exist`);
    const [project, selector, seed] = await Promise.all([loadProject(request.projectId), committees.get(roundNumber - 1), seedOf(roundNumber)]);
    const decision = decideAssignment({
      request, project, selector, nowMs: clock.now(), nowIso: new Date(clock.now()).toISOString(), assignWaitMs: config.assignWaitMs, roundMs: config.roundMs,
      round: seed === undefined ? null : { number: roundNumber, seed },
    });
    switch (decision.kind) {
      case 'skip':
        return `already ${decision.status}` as const;
      case 'redispatch':
        await dispatch(request, decision.assignment, true);
        return 'redispatched';
      case 'wait':
        // No frozen tickets yet (the gateway just started) or too few nodes: look again shortly.
        await job.moveToDelayed(decision.untilMs, token);
        metrics.handlerOutcomes.inc({ role: 'receiver', handler: 'incoming', outcome: 'delayed' });
        throw new DelayedError();
      case 'fail': {
        const { applied } = await repository.failRequest(requestId, ['queued'], decision.failure, clock.now());
        if (applied) {
          metrics.failures.inc({ code: decision.failure.code });
          if (decision.failure.code === 'no_nodes') logger.warn({ requestId, round: roundNumber, eligible: selector?.eligible ?? 0 }, 'request failed: no nodes');
        }
        return decision.failure.code;
      }
      case 'assign': {
        const { applied } = await repository.assignRequest(requestId, decision.assignment, clock.now(), deadlineOf(request));
        if (!applied) return 'raced';
        await dispatch(request, decision.assignment, false);
        logger.info({ requestId, round: decision.assignment.round, committee: decision.assignment.committee }, 'request assigned');
        return 'assigned';
      }
    }
  }

  const counted = async (payload: JobPayloads['incoming'], job: Job<JobPayloads['incoming']>, token?: string): Promise<JobResults['incoming']> => {
    const result = await assign(payload, job, token);
    metrics.handlerOutcomes.inc({ role: 'receiver', handler: 'incoming', outcome: result.replace(' ', '_') });
    return result;
  };
  const worker = startWorker(deps, 'incoming', { request: counted }, { concurrency: config.workerConcurrency });
  return {
    name: 'receiver',
    isReady: () => worker.isRunning(),
    stop: once(() => worker.close()),
  };
}

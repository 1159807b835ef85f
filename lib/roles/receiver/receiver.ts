// Receiver: turns a queued request into an assignment (round, committee from the frozen tickets
// of the previous round), writes its deadline into the due-time index and sends one run job to each member.
// A first delivery is one write and the run jobs: the job's hints stand in for a read of the record.
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { jobIds, type JobPayloads, type JobResults, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestState } from '../../repository/request-reads.ts';
import type { AcceptedAs } from '../../repository/requests.ts';
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

  const deadlineOf = (request: Pick<RequestState, 'createdAt'>) => Date.parse(request.createdAt) + config.requestDeadlineMs;

  /**
   * Sends a run job to each member that has not voted. The deadline is in the due-time index first, so
   * no member runs a request without one: written with the assignment, and again (idempotent: an entry
   * keeps its time) on a redispatch; consensus checks it against the request's accepted-at time before applying it.
   */
  async function dispatch(request: Pick<RequestState, 'id' | 'projectId' | 'createdAt'>, assignment: Assignment, isRedispatch: boolean): Promise<void> {
    // A first dispatch follows the assignment, before any vote; a redispatch asks which members voted.
    const hasVoted = isRedispatch ? await Promise.all(assignment.committee.map((nodeId) => repository.hasVoted(request.id, nodeId))) : [];
    if (isRedispatch) await repository.putDueEntry({ kind: 'deadline', requestId: request.id, dueAtMs: deadlineOf(request) });
    await Promise.all(assignment.committee
      .filter((_, i) => !hasVoted[i])
      .map((nodeId) => queues.add('exec', jobIds.run(request.id, nodeId), { kind: 'run', requestId: request.id, projectId: request.projectId }, { nodeId })));
  }

  /** The draw for a request of `projectId` (the project, the previous round's committee and the round's seed come from caches, mostly). */
  async function decide(request: Pick<RequestState, 'id' | 'status' | 'assignment' | 'createdAt'>, projectId: string, roundNumber: number) {
    const [project, selector, seed] = await Promise.all([loadProject(projectId), committees.get(roundNumber - 1), seedOf(roundNumber)]);
    const decision = decideAssignment({
      request, project, selector, nowMs: clock.now(), nowIso: new Date(clock.now()).toISOString(), assignWaitMs: config.assignWaitMs, roundMs: config.roundMs,
      round: seed === undefined ? null : { number: roundNumber, seed },
    });
    return { decision, eligible: selector?.eligible ?? 0 };
  }

  const hints = (outcome: 'used' | 'refused' | 'unused') => metrics.handlerOutcomes.inc({ role: 'receiver', handler: 'incoming_hints', outcome });

  /**
   * A request's first delivery names its project and acceptance time (hints: anyone with queue access
   * writes payloads), so the draw needs no read of the record: the assignment is one guarded write,
   * applied only while the record is queued with that project and acceptance time. Anything else (a
   * job without hints, another decision, a write that did not apply) goes the whole way, from the record.
   */
  async function assignFromHints({ requestId, projectId, acceptedAtMs }: JobPayloads['incoming']): Promise<'assigned' | undefined> {
    if (projectId === undefined || acceptedAtMs === undefined) return undefined;
    const hinted = { id: requestId, projectId, status: 'queued' as const, createdAt: new Date(acceptedAtMs).toISOString() };
    const { decision } = await decide(hinted, projectId, await latestRound('latest'));
    if (decision.kind !== 'assign') return void hints('unused');
    const result = await applyAssignment(hinted, decision.assignment, { projectId, acceptedAtMs });
    hints(result === 'assigned' ? 'used' : 'refused');
    return result === 'assigned' ? result : undefined;
  }

  /** The assignment's guarded write (with the deadline), then the run jobs: `raced` when the write did not apply. */
  async function applyAssignment(request: Pick<RequestState, 'id' | 'projectId' | 'createdAt'>, assignment: Assignment, expected?: AcceptedAs): Promise<'assigned' | 'raced'> {
    const { applied } = await repository.assignRequest(request.id, assignment, clock.now(), deadlineOf(request), expected);
    if (!applied) return 'raced';
    await dispatch(request, assignment, false);
    logger.info({ requestId: request.id, round: assignment.round, committee: assignment.committee }, 'request assigned');
    return 'assigned';
  }

  async function assign(payload: JobPayloads['incoming'], job: Job<JobPayloads['incoming']>, token?: string): Promise<JobResults['incoming']> {
    const fromHints = await assignFromHints(payload);
    if (fromHints) return fromHints;
    const { requestId } = payload;
    // The latest round does not depend on the request: both reads in one round trip (the record
    // without its votes: a queued request has none, and a redispatch reads them itself).
    const [request, roundNumber] = await Promise.all([repository.getRequestState(requestId), latestRound('latest')]);
    if (!request) throw new UnrecoverableError(`request ${requestId} does not exist`);
    const { decision, eligible } = await decide(request, request.projectId, roundNumber);
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
          if (decision.failure.code === 'no_nodes') logger.warn({ requestId, round: roundNumber, eligible }, 'request failed: no nodes');
        }
        return decision.failure.code;
      }
      case 'assign':
        return applyAssignment(request, decision.assignment);
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

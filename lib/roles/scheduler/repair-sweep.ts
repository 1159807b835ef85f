// The scheduler's repair sweep: under its lease, every `GATEWAY_SWEEP_MS`, moves forward each request a
// crash left in an open state with nothing to move it on (bounds per state: docs/architecture.md).
import { jobIds, type JobRef, type QueueSet } from '../../queues.ts';
import type { Lease } from '../../repository/leases.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestRecord } from '../../repository/types.ts';
import type { RoleBase } from '../../runtime/common.ts';
import {
  computeQueuedDeadlineMs, computeQueuedOverdueBeforeMs, computeSweepWindows, decideStrandedAssigned, decideStrandedJob, isJobInFlight, listUnsentMembers,
} from './decide-sweep.ts';

/** Requests looked at per state and sweep: the oldest first, so a backlog is worked off over a few sweeps. */
const BATCH = 500;

export interface RepairSweepDeps extends Pick<RoleBase, 'config' | 'clock' | 'logger' | 'metrics'> {
  readonly repository: Pick<Repository, 'listStale' | 'getRequest' | 'getRequests' | 'listMissingDueEntries' | 'putDueEntry'>;
  readonly queues: Pick<QueueSet, 'add' | 'getJobState' | 'removeJob' | 'hasJobs' | 'areCompleted'>;
}

/**
 * One sweep: `queued` without a live `incoming` job (re-added), or past its deadline and its wait for
 * nodes (a deadline entry: consensus fails it `timeout`); `assigned` with members whose run job was never
 * sent (re-dispatched through the receiver) or without a deadline entry (restored); `agreed` without a live
 * `publish` job (re-added). A job still in flight is never added twice, and each request is read
 * again after its jobs, so one that moved on meanwhile is left alone.
 */
export function createRepairSweep(deps: RepairSweepDeps, lease: Pick<Lease, 'isHeld'>): () => Promise<void> {
  const { repository, queues, config, clock, logger, metrics } = deps;
  /** Per request looked at closely: requeued (or redispatched), or left (its job in flight, or it moved on). */
  const count = (outcome: string, n = 1) => { if (n > 0) metrics.handlerOutcomes.inc({ role: 'scheduler', handler: 'sweep', outcome }, n); };

  async function statusOf(id: string): Promise<RequestRecord['status'] | undefined> {
    return (await repository.getRequest(id))?.status;
  }

  /** Adds a request's next job again when the request still waits in `status` and that job is gone or failed. */
  async function requeueIfStranded(id: string, status: 'queued' | 'agreed', message: string): Promise<void> {
    const [kind, jobId] = status === 'queued' ? ['incoming', jobIds.incoming(id)] as const : ['publish', jobIds.publish(id)] as const;
    const jobState = await queues.getJobState(kind, jobId);
    const isStillInState = (await statusOf(id)) === status;
    const decision = decideStrandedJob({ jobState, isStillInState });
    if (decision.kind === 'leave') return count(isStillInState ? 'left_in_flight' : 'left_moved_on');
    if (decision.isOldJobRemoved) await queues.removeJob(kind, jobId);
    if (kind === 'incoming') await queues.add(kind, jobId, { kind: 'request', requestId: id });
    else await queues.add(kind, jobId, { kind: 'publish', requestId: id });
    count(`requeued_${kind}`);
    logger.info({ requestId: id, jobState }, message);
  }

  async function sweepQueued(staleBeforeMs: number): Promise<void> {
    for (const id of await repository.listStale('queued', staleBeforeMs, BATCH)) await requeueIfStranded(id, 'queued', 'requeued a stranded request');
    // Past its deadline a queued request can no longer agree in time: consensus fails it, as it does an
    // assigned one. The `queued` index is scored by acceptance time, so the overdue are listed directly.
    const overdue = await repository.listStale('queued', computeQueuedOverdueBeforeMs(clock.now(), config), BATCH);
    for (const request of await repository.getRequests(await repository.listMissingDueEntries('deadline', overdue))) {
      if (request.status !== 'queued') continue;
      await repository.putDueEntry({ kind: 'deadline', requestId: request.id, dueAtMs: computeQueuedDeadlineMs(Date.parse(request.createdAt), config) });
      logger.info({ requestId: request.id }, 'deadline entry for a request never assigned');
    }
  }

  async function sweepAssigned(staleBeforeMs: number): Promise<void> {
    const ids = await repository.listStale('assigned', staleBeforeMs, BATCH);
    // A crash between the assignment and its deadline entry leaves a request no deadline would end.
    for (const request of await repository.getRequests(await repository.listMissingDueEntries('deadline', ids))) {
      if (request.status !== 'assigned') continue;
      await repository.putDueEntry({ kind: 'deadline', requestId: request.id, dueAtMs: Date.parse(request.createdAt) + config.requestDeadlineMs });
      logger.info({ requestId: request.id }, 'restored a missing deadline');
    }
    // A request whose incoming job completed had its run jobs sent (the receiver adds them before the
    // job completes): it is left unread (under a backlog, every request waits here past the window).
    const completed = await queues.areCompleted('incoming', ids.map((id) => jobIds.incoming(id)));
    const unsent = ids.filter((_, i) => !completed[i]);
    count('left_dispatched', ids.length - unsent.length);
    // One pipelined look at every run and vote job first; only requests with a member that has neither are looked at closely.
    const requests = await repository.getRequests(unsent);
    const withJobs = await listMembersWithJobs(requests);
    for (const request of requests) {
      if (listUnsentMembers(request.assignment?.committee ?? [], votedNodeIds(request), withJobs.get(request.id) ?? []).length === 0) continue;
      await redispatchIfStranded(request);
    }
  }

  /** The incoming job first, then the run and vote jobs, then the request again: each read after what could have changed it. */
  async function redispatchIfStranded(listed: RequestRecord): Promise<void> {
    const id = listed.id;
    const incomingState = await queues.getJobState('incoming', jobIds.incoming(id));
    const nodeIdsWithJobs = (await listMembersWithJobs([listed])).get(id) ?? [];
    const request = await repository.getRequest(id);
    if (!request?.assignment) return;
    const decision = decideStrandedAssigned({
      request: { status: request.status, committee: request.assignment.committee, votedNodeIds: votedNodeIds(request) },
      incomingState,
      nodeIdsWithJobs,
    });
    if (decision.kind === 'leave') return count(request.status === 'assigned' && isJobInFlight(incomingState) ? 'left_in_flight' : 'left_moved_on');
    if (decision.isOldJobRemoved) await queues.removeJob('incoming', jobIds.incoming(id));
    count('redispatched');
    await queues.add('incoming', jobIds.incoming(id), { kind: 'request', requestId: id });
    logger.warn({ requestId: id, nodeIds: decision.nodeIds, incomingState }, 'redispatched an assigned request without run jobs');
  }

  /** Per request, the members without a vote whose run job or vote job exists. */
  async function listMembersWithJobs(requests: readonly RequestRecord[]): Promise<Map<string, string[]>> {
    const refs: { requestId: string; nodeId: string; run: JobRef; vote: JobRef }[] = [];
    for (const request of requests) {
      const voted = votedNodeIds(request);
      for (const nodeId of request.assignment?.committee ?? []) {
        if (voted.includes(nodeId)) continue;
        refs.push({
          requestId: request.id, nodeId,
          run: { kind: 'exec', jobId: jobIds.run(request.id, nodeId), nodeId },
          vote: { kind: 'votes', jobId: jobIds.vote(request.id, nodeId), nodeId },
        });
      }
    }
    const exists = await queues.hasJobs(refs.flatMap((r) => [r.run, r.vote]));
    const byRequest = new Map<string, string[]>();
    refs.forEach((ref, i) => {
      if (!exists[2 * i] && !exists[2 * i + 1]) return;
      byRequest.set(ref.requestId, [...(byRequest.get(ref.requestId) ?? []), ref.nodeId]);
    });
    return byRequest;
  }

  async function sweepAgreed(staleBeforeMs: number): Promise<void> {
    for (const id of await repository.listStale('agreed', staleBeforeMs, BATCH)) await requeueIfStranded(id, 'agreed', 'requeued an agreed request for publication');
  }

  return async function sweep() {
    if (!lease.isHeld()) return;
    const { staleBeforeMs } = computeSweepWindows(clock.now(), config);
    await sweepQueued(staleBeforeMs);
    await sweepAssigned(staleBeforeMs);
    await sweepAgreed(staleBeforeMs);
  };
}

function votedNodeIds(request: RequestRecord): string[] {
  return request.votes.map((v) => v.nodeId);
}

// The repair sweep's decisions, pure: which requests count as stranded, and what moves each open
// state forward (docs/architecture.md, "Request lifecycle", with the bounds).

import type { RequestStatus } from '../../protocol/request-lifecycle.ts';
import type { JobState } from '../../queues.ts';

/** Requests that entered their state (`queued`, `assigned`, `agreed`) before `staleBeforeMs` have been in it too long. */
export interface SweepWindows {
  readonly staleBeforeMs: number;
}

/** The shortest time a request may sit in a state before the sweep looks at it. */
const MIN_STALE_MS = 2000;

export function computeSweepWindows(nowMs: number, config: { roundMs: number }): SweepWindows {
  return { staleBeforeMs: nowMs - Math.max(MIN_STALE_MS, config.roundMs) };
}

/**
 * True while BullMQ still holds the job: it waits, is delayed, or is active, perhaps under the lock of
 * a worker that died, which the queue's stalled check hands to another worker within seconds
 * (lib/runtime/worker-locks.ts). Re-adding it then would only run it twice.
 */
export function isJobInFlight(state: JobState): boolean {
  return state !== 'missing' && state !== 'completed' && state !== 'failed';
}

export type JobRepair = { readonly kind: 'requeue'; readonly isOldJobRemoved: boolean } | { readonly kind: 'leave' };

/**
 * The job that moves a request out of its state (`incoming` for `queued`, `publish` for `agreed`) is
 * gone or finished, and the request, read after the job, is still in that state: the job ended
 * without moving it (a crash before the job was added, or after its retries ran out), so add it
 * again, after removing a finished job, whose id would otherwise swallow the new one. The request
 * must be read after the job: a job that completed between the sweep's listing and its look at the
 * job had moved the request on, and re-adding it would run it twice.
 */
export function decideStrandedJob(input: { readonly jobState: JobState; readonly isStillInState: boolean }): JobRepair {
  if (!input.isStillInState || isJobInFlight(input.jobState)) return { kind: 'leave' };
  return { kind: 'requeue', isOldJobRemoved: input.jobState !== 'missing' };
}

/** Members of a committee with no recorded vote and neither a run job nor a vote job: their run was never sent. */
export function listUnsentMembers(committee: readonly string[], votedNodeIds: readonly string[], nodeIdsWithJobs: readonly string[]): string[] {
  return committee.filter((nodeId) => !votedNodeIds.includes(nodeId) && !nodeIdsWithJobs.includes(nodeId));
}

export type AssignedRepair = { readonly kind: 'redispatch'; readonly isOldJobRemoved: boolean; readonly nodeIds: readonly string[] } | { readonly kind: 'leave' };

export interface AssignedInput {
  /** The request as read after its jobs were looked at. */
  readonly request: { readonly status: RequestStatus; readonly committee: readonly string[]; readonly votedNodeIds: readonly string[] };
  /** The state of the request's `incoming` job, looked at before its run and vote jobs. */
  readonly incomingState: JobState;
  /** Members whose run job or vote job exists (any state). */
  readonly nodeIdsWithJobs: readonly string[];
}

/**
 * An `assigned` request some member of whose committee has no vote, no run job and no vote job was
 * never fully dispatched (the receiver died between the assignment and the run jobs): re-add its
 * `incoming` job, on which the receiver sends the missing run jobs (decide-assignment's
 * `redispatch`; run job ids dedupe those that exist). Left alone while the `incoming` job is in
 * flight: the receiver is dispatching it now, or gets it back from a dead worker by the stalled check.
 */
export function decideStrandedAssigned(input: AssignedInput): AssignedRepair {
  const { request, incomingState, nodeIdsWithJobs } = input;
  if (request.status !== 'assigned') return { kind: 'leave' };
  const nodeIds = listUnsentMembers(request.committee, request.votedNodeIds, nodeIdsWithJobs);
  if (nodeIds.length === 0 || isJobInFlight(incomingState)) return { kind: 'leave' };
  return { kind: 'redispatch', isOldJobRemoved: incomingState !== 'missing', nodeIds };
}

/**
 * When a request still `queued` gets a deadline entry from the sweep: once both its deadline and its
 * wait for nodes (`no_nodes` is the receiver's answer until then) have passed. Consensus then fails
 * it `timeout` on its next due sweep; a request that can no longer agree in time never runs.
 */
export function computeQueuedDeadlineMs(createdAtMs: number, config: { requestDeadlineMs: number; assignWaitMs: number }): number {
  return createdAtMs + Math.max(config.requestDeadlineMs, config.assignWaitMs);
}

/** Requests accepted before this are overdue at `nowMs` if still `queued` (the inverse of computeQueuedDeadlineMs). */
export function computeQueuedOverdueBeforeMs(nowMs: number, config: { requestDeadlineMs: number; assignWaitMs: number }): number {
  return nowMs - Math.max(config.requestDeadlineMs, config.assignWaitMs);
}

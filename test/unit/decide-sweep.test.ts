// The repair sweep's pure decisions.
import { expect } from 'chai';
import type { JobState } from '../../lib/queues.ts';
import {
  computeQueuedDeadlineMs, computeQueuedOverdueBeforeMs, computeSweepWindows, decideStrandedAssigned, decideStrandedJob, isJobInFlight, listUnsentMembers, type AssignedInput,
} from '../../lib/roles/scheduler/decide-sweep.ts';

const ALL_STATES: JobState[] = ['missing', 'completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'unknown'];
const IN_FLIGHT: JobState[] = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'unknown'];

describe('repair sweep decisions', () => {
  it('counts a job in flight unless it is missing, completed or failed', () => {
    expect(ALL_STATES.filter(isJobInFlight)).to.deep.equal(IN_FLIGHT);
  });

  describe('a request still queued or agreed, by its job', () => {
    const cases: Array<[JobState, unknown]> = [
      ['missing', { kind: 'requeue', isOldJobRemoved: false }],
      ['completed', { kind: 'requeue', isOldJobRemoved: true }],
      ['failed', { kind: 'requeue', isOldJobRemoved: true }],
      ...IN_FLIGHT.map((state): [JobState, unknown] => [state, { kind: 'leave' }]),
    ];
    for (const [jobState, expected] of cases) {
      it(`${jobState} job → ${JSON.stringify(expected)}`, () => expect(decideStrandedJob({ jobState, isStillInState: true })).to.deep.equal(expected));
    }
    it('leaves a request that moved on after its job finished (read after the job): never a second run', () => {
      for (const jobState of ALL_STATES) expect(decideStrandedJob({ jobState, isStillInState: false })).to.deep.equal({ kind: 'leave' });
    });
  });

  describe('an assigned request', () => {
    const committee = ['node_a', 'node_b', 'node_c'];
    const input = (overrides: Partial<AssignedInput> & { votedNodeIds?: string[]; status?: AssignedInput['request']['status'] } = {}): AssignedInput => ({
      request: { status: overrides.status ?? 'assigned', committee, votedNodeIds: overrides.votedNodeIds ?? [] },
      incomingState: overrides.incomingState ?? 'completed',
      nodeIdsWithJobs: overrides.nodeIdsWithJobs ?? [],
    });

    it('lists the members with neither a vote nor a run or vote job', () => {
      expect(listUnsentMembers(committee, ['node_a'], ['node_b'])).to.deep.equal(['node_c']);
      expect(listUnsentMembers(committee, ['node_a', 'node_b'], ['node_c'])).to.deep.equal([]);
    });
    it('re-dispatches one whose run jobs were never sent, after removing its finished incoming job', () => {
      expect(decideStrandedAssigned(input())).to.deep.equal({ kind: 'redispatch', isOldJobRemoved: true, nodeIds: committee });
      expect(decideStrandedAssigned(input({ incomingState: 'failed' }))).to.deep.equal({ kind: 'redispatch', isOldJobRemoved: true, nodeIds: committee });
    });
    it('re-dispatches one whose incoming job is gone, for the members still missing a job', () => {
      expect(decideStrandedAssigned(input({ incomingState: 'missing', votedNodeIds: ['node_a'], nodeIdsWithJobs: ['node_b'] })))
        .to.deep.equal({ kind: 'redispatch', isOldJobRemoved: false, nodeIds: ['node_c'] });
    });
    it('leaves one whose every member voted or has a run or vote job', () => {
      expect(decideStrandedAssigned(input({ votedNodeIds: ['node_a'], nodeIdsWithJobs: ['node_b', 'node_c'] }))).to.deep.equal({ kind: 'leave' });
    });
    for (const incomingState of IN_FLIGHT) {
      it(`leaves one whose incoming job is ${incomingState} (the receiver dispatches it, or gets it back from a dead worker)`, () => {
        expect(decideStrandedAssigned(input({ incomingState }))).to.deep.equal({ kind: 'leave' });
      });
    }
    it('leaves one that left assigned by the time it was read again', () => {
      for (const status of ['queued', 'agreed', 'published', 'failed'] as const) expect(decideStrandedAssigned(input({ status }))).to.deep.equal({ kind: 'leave' });
    });
  });

  it('looks at requests in a state for a round, at least 2 s', () => {
    expect(computeSweepWindows(100_000, { roundMs: 500 })).to.deep.equal({ staleBeforeMs: 98_000 });
    expect(computeSweepWindows(100_000, { roundMs: 4000 })).to.deep.equal({ staleBeforeMs: 96_000 });
  });

  it('gives a queued request a deadline once both its deadline and its wait for nodes have passed', () => {
    expect(computeQueuedDeadlineMs(1_000, { requestDeadlineMs: 30_000, assignWaitMs: 10_000 })).to.equal(31_000);
    expect(computeQueuedDeadlineMs(1_000, { requestDeadlineMs: 5_000, assignWaitMs: 10_000 })).to.equal(11_000);
    expect(computeQueuedOverdueBeforeMs(100_000, { requestDeadlineMs: 30_000, assignWaitMs: 10_000 })).to.equal(70_000);
    expect(computeQueuedOverdueBeforeMs(100_000, { requestDeadlineMs: 5_000, assignWaitMs: 10_000 })).to.equal(90_000);
  });
});

// The repair sweep's pure decisions.
import { expect } from 'chai';
import type { JobState } from '../../lib/queues.ts';
import { computeSweepWindows, decideStrandedQueued } from '../../lib/roles/scheduler/decide-sweep.ts';

describe('repair sweep decisions', () => {
  const cases: Array<[JobState, unknown]> = [
    ['missing', { kind: 'requeue', isOldJobRemoved: false }],
    ['completed', { kind: 'requeue', isOldJobRemoved: true }],
    ['failed', { kind: 'requeue', isOldJobRemoved: true }],
    ['waiting', { kind: 'leave' }],
    ['active', { kind: 'leave' }],
    ['delayed', { kind: 'leave' }],
    ['prioritized', { kind: 'leave' }],
    ['waiting-children', { kind: 'leave' }],
    ['unknown', { kind: 'leave' }],
  ];
  for (const [state, expected] of cases) it(`${state} incoming job → ${JSON.stringify(expected)}`, () => expect(decideStrandedQueued(state)).to.deep.equal(expected));

  it('looks at requests in a state for a round, at least 2 s', () => {
    expect(computeSweepWindows(100_000, { roundMs: 500 })).to.deep.equal({ staleBeforeMs: 98_000 });
    expect(computeSweepWindows(100_000, { roundMs: 4000 })).to.deep.equal({ staleBeforeMs: 96_000 });
  });
});

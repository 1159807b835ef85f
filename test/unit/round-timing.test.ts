// The scheduler's round timer: boundaries a round apart, never two rounds a millisecond apart.
import { expect } from 'chai';
import { nextTickDelayMs } from '../../lib/roles/scheduler/scheduler.ts';

describe('round timer', () => {
  it('waits until the next boundary', () => {
    expect(nextTickDelayMs(10_000, 2000)).to.equal(2000);
    expect(nextTickDelayMs(10_250, 2000)).to.equal(1750);
    expect(nextTickDelayMs(10_999, 2000)).to.equal(1001);
  });

  it('skips a boundary a timer fired just before, instead of starting a second round at once', () => {
    expect(nextTickDelayMs(11_999, 2000)).to.equal(2001);
    expect(nextTickDelayMs(1099, 100)).to.equal(101);
  });
});

// A node's run slots per project: a run past its project's share waits briefly for one of that
// project's slots (handed on in arrival order, never more than the share at once), and is put back
// in the queue only when none frees within the hold.
import { expect } from 'chai';
import { DelayedError, type Job } from 'bullmq';
import { createRunSlots } from '../../lib/roles/executor/run-slots.ts';

/** A job that records where it was put back to (the one BullMQ call run-slots makes). */
function fakeJob(id: string): Job & { delayedUntil?: number } {
  const job = { id, delayedUntil: undefined as number | undefined, async moveToDelayed(until: number) { job.delayedUntil = until; } };
  return job as unknown as Job & { delayedUntil?: number };
}

describe('run slots', () => {
  it('hands a freed slot to the project\'s waiting run, in arrival order, with nothing put back', async () => {
    let deferred = 0;
    const slots = createRunSlots(2, () => deferred++, 60_000);
    const first = await slots.take(fakeJob('a1'), undefined, 'a');
    const second = await slots.take(fakeJob('a2'), undefined, 'a');
    const order: string[] = [];
    const third = slots.take(fakeJob('a3'), undefined, 'a').then((release) => (order.push('a3'), release));
    const fourth = slots.take(fakeJob('a4'), undefined, 'a').then((release) => (order.push('a4'), release));
    // Another project is not held back by a's share.
    const other = await slots.take(fakeJob('b1'), undefined, 'b');
    expect(order).to.deep.equal([]);
    first();
    first(); // a release called twice frees one slot
    const releaseThird = await third;
    expect(order).to.deep.equal(['a3']);
    second();
    const releaseFourth = await fourth;
    expect(order).to.deep.equal(['a3', 'a4']);
    // Both slots are held again: a fifth run waits.
    let fifthTaken = false;
    const fifth = slots.take(fakeJob('a5'), undefined, 'a').then((release) => ((fifthTaken = true), release));
    await new Promise((resolve) => setImmediate(resolve));
    expect(fifthTaken).to.equal(false);
    releaseThird();
    (await fifth)();
    releaseFourth();
    other();
    expect(deferred).to.equal(0);
  });

  it('puts a run back when no slot of its project frees within the hold, later each time it returns', async () => {
    let deferred = 0;
    const slots = createRunSlots(1, () => deferred++, 5);
    const held = await slots.take(fakeJob('a1'), undefined, 'a');
    const job = fakeJob('a2');
    const times: number[] = [];
    for (let i = 0; i < 2; i++) {
      const before = Date.now();
      const error = await slots.take(job, undefined, 'a').then(() => null, (e: unknown) => e);
      expect(error).to.be.instanceOf(DelayedError);
      times.push(job.delayedUntil! - before);
    }
    expect(deferred).to.equal(2);
    // 50 ms, then 100 ms (measured from before the hold, so at least that long).
    expect(times[0]).to.be.within(50, 50 + 1000);
    expect(times[1]).to.be.within(100, 100 + 1000);
    // The timed-out waiters left no claim: the freed slot goes to the next taker at once.
    held();
    slots.forget('a2');
    const again = await slots.take(job, undefined, 'a');
    again();
  });
});

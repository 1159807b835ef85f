// The per-queue lock and stall settings keep the promises their comments make.
import { expect } from 'chai';
import { PER_NODE_QUEUE_KINDS, SHARED_QUEUE_KINDS } from '../../lib/queues.ts';
import { WORKER_LOCKS, workerLockOptions } from '../../lib/runtime/worker-locks.ts';

describe('worker locks', () => {
  for (const kind of [...SHARED_QUEUE_KINDS, ...PER_NODE_QUEUE_KINDS]) {
    const locks = WORKER_LOCKS[kind];
    it(`${kind}: a killed worker's job is taken over within 8 s`, () => {
      expect(locks.lockDurationMs + locks.stalledIntervalMs).to.be.at.most(8000);
    });
    it(`${kind}: a live worker keeps its lock through a 3 s stall of its event loop`, () => {
      expect(locks.lockDurationMs - locks.lockRenewMs).to.be.at.least(3000);
      expect(locks.maxStalledCount).to.be.at.least(1);
    });
  }

  it('gives a run the widest margin: a false stall there costs a second run of the code', () => {
    const margin = (kind: keyof typeof WORKER_LOCKS) => WORKER_LOCKS[kind].lockDurationMs - WORKER_LOCKS[kind].lockRenewMs;
    for (const kind of Object.keys(WORKER_LOCKS) as (keyof typeof WORKER_LOCKS)[]) expect(margin('exec')).to.be.at.least(margin(kind));
  });

  it('hands BullMQ its option names', () => {
    expect(workerLockOptions('incoming')).to.deep.equal({ lockDuration: 4000, lockRenewTime: 1000, stalledInterval: 1000, maxStalledCount: 3 });
  });
});

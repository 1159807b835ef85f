// A malformed job (anyone with queue access can write one) fails at once and for good; the role keeps serving.
import { expect } from 'chai';
import { startRole, type ProcessContext } from '../../lib/process.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { openTestProcess, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

describe('queue contract', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let consensus: RoleHandle;

  before(async () => {
    redis = await startTestRedis();
    ctx = await openTestProcess(redis.url);
    consensus = await startRole('consensus', ctx);
  });
  after(async () => {
    await consensus.stop();
    await ctx.close();
    await redis.stop();
  });

  it('fails a malformed vote job once, without retries, naming the field, and handles the next job', async () => {
    const queue = ctx.queues.get('votes');
    await queue.add('votes', { kind: 'vote', vote: { requestId: 'req_x', nodeId: 'node_x' } } as never, { jobId: 'malformed-vote' });
    await queue.add('votes', { kind: 'launch-missiles' } as never, { jobId: 'unknown-kind' });
    const failed = await waitFor(async () => {
      const [a, b] = await Promise.all([queue.getJob('malformed-vote'), queue.getJob('unknown-kind')]);
      return a?.failedReason && b?.failedReason ? [a, b] : undefined;
    }, 10_000, 'both jobs to fail');
    expect(failed.map((job) => [job.failedReason, job.attemptsMade])).to.deep.equal([['malformed votes job: bad vote', 1], ['malformed votes job: unknown kind', 1]]);
    await ctx.queues.add('votes', 'deadline.req_missing', { kind: 'deadline', requestId: 'req_missing' });
    const next = await waitFor(async () => {
      const job = await queue.getJob('deadline.req_missing');
      return job?.finishedOn ? (job.returnvalue as string) : undefined;
    }, 10_000, 'the next job');
    expect(next).to.equal('not_found');
  });
});

// A malformed job (anyone with queue access can write one) fails at once and for good; the role keeps serving.
import { expect } from 'chai';
import { startRole, type ProcessContext } from '../../lib/process.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { buildNodes } from '../support/builders.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';
import { openTestProcess, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

describe('queue contract', function () {
  this.timeout(30_000);
  allowSharedFixtures(this);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let consensus: RoleHandle;
  const nodes = buildNodes(2);

  before(async () => {
    redis = await startTestRedis();
    ctx = await openTestProcess(redis.url);
    await seedFrozenRound(ctx, nodes);
    consensus = await startRole('consensus', ctx);
  });
  after(async () => {
    await consensus.stop();
    await ctx.close();
    await redis.stop();
  });

  it('fails a malformed vote job once, without retries, naming the field, and handles the next job', async () => {
    const queue = ctx.queues.get('votes', nodes[0].nodeId);
    await queue.add('votes', { kind: 'vote', vote: { requestId: 'req_x', nodeId: nodes[0].nodeId } } as never, { jobId: 'malformed-vote' });
    await queue.add('votes', { kind: 'launch-missiles' } as never, { jobId: 'unknown-kind' });
    const failed = await waitFor(async () => {
      const [a, b] = await Promise.all([queue.getJob('malformed-vote'), queue.getJob('unknown-kind')]);
      return a?.failedReason && b?.failedReason ? [a, b] : undefined;
    }, 10_000, 'both jobs to fail');
    expect(failed.map((job) => [job.failedReason, job.attemptsMade])).to.deep.equal([['malformed votes job: bad vote', 1], ['malformed votes job: unknown kind', 1]]);
    const vote = { requestId: 'req_missing', nodeId: nodes[0].nodeId, round: 2, ok: true, resultHash: 'a'.repeat(64), value: 1, signature: 'b'.repeat(128) };
    await ctx.queues.add('votes', 'next-vote', { kind: 'vote', vote }, { nodeId: nodes[0].nodeId });
    const next = await waitFor(async () => {
      const job = await queue.getJob('next-vote');
      return job?.finishedOn ? (job.returnvalue as string) : undefined;
    }, 10_000, 'the next job');
    expect(next).to.equal('refused: unknown_request');
  });

  it("fails for good a vote a node puts in its own queue in another node's name", async () => {
    const vote = { requestId: 'req_any', nodeId: nodes[1].nodeId, round: 2, ok: true, resultHash: 'a'.repeat(64), value: 1, signature: 'b'.repeat(128) };
    await ctx.queues.add('votes', 'impersonation', { kind: 'vote', vote }, { nodeId: nodes[0].nodeId });
    const job = await waitFor(async () => {
      const found = await ctx.queues.get('votes', nodes[0].nodeId).getJob('impersonation');
      return found?.failedReason ? found : undefined;
    }, 10_000, 'the job to fail');
    expect([job.failedReason, job.attemptsMade]).to.deep.equal([`a job of node ${nodes[1].nodeId} in the votes queue of another node`, 1]);
  });

  it('keeps each queue under a hash tag of its own, and finds its jobs there by plain reads', async () => {
    const votes = `votes.${nodes[0].nodeId}`;
    const vote = { requestId: 'req_layout', nodeId: nodes[0].nodeId, round: 2, ok: true, resultHash: 'a'.repeat(64), value: 1, signature: 'b'.repeat(128) };
    await ctx.queues.add('votes', 'layout-vote', { kind: 'vote', vote }, { nodeId: nodes[0].nodeId });
    // No sender runs: the publish job stays waiting.
    await ctx.queues.add('publish', 'publish.req_layout', { kind: 'publish', requestId: 'req_layout' });
    await waitFor(async () => (await ctx.queues.get('votes', nodes[0].nodeId).getJob('layout-vote'))?.finishedOn, 10_000, 'the vote job');
    const prefix = ctx.config.keyPrefix;
    const tags = new Set<string>();
    for (const key of await ctx.connection.keys(`${prefix}:*`)) {
      const tag = /^[^{]*\{([^}]*)\}/.exec(key)?.[1];
      if (!tag?.startsWith('votes.') && tag !== 'publish') continue;
      expect(key.startsWith(`${prefix}:{${tag}}:${tag}:`), key).to.equal(true);
      tags.add(tag);
    }
    // Consensus runs a worker on every node's vote queue.
    expect([...tags].sort()).to.deep.equal(['publish', ...nodes.map((n) => `votes.${n.nodeId}`)].sort());
    expect(await ctx.connection.exists(`${prefix}:{${votes}}:${votes}:layout-vote`, `${prefix}:{publish}:publish:wait`)).to.equal(2);
    expect(await ctx.queues.hasJobs([
      { kind: 'votes', jobId: 'layout-vote', nodeId: nodes[0].nodeId },
      { kind: 'publish', jobId: 'publish.req_layout' },
      { kind: 'votes', jobId: 'layout-vote', nodeId: nodes[1].nodeId },
    ])).to.deep.equal([true, true, false]);
  });
});

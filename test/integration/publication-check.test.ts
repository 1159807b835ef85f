// Nothing is published on the word of the store: a result a store writer forged after agreement
// fails `unverified` at the sender and never reaches the ledger; an honest one is published.
import { expect } from 'chai';
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeResultHash } from '../../lib/crypto/canonical-json.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { startRole, type ProcessContext } from '../../lib/process.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { Project, RequestRecord } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes } from '../support/builders.ts';
import { TEST_LIMITS, openTestProcess, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const CODE = 'export default (input) => ({ price: input.price })';

describe('publication check', function () {
  this.timeout(30_000);
  // The roles started here (the sender inside the test) are stopped in after().
  allowSharedFixtures(this);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  const handles: RoleHandle[] = [];
  const nodes = buildNodes(3);

  before(async () => {
    redis = await startTestRedis();
    ctx = await openTestProcess(redis.url);
    sandbox = createSandboxRunner();
    await seedFrozenRound(ctx, nodes);
    for (const role of ['receiver', 'consensus'] as const) handles.push(await startRole(role, ctx));
    for (const node of nodes) handles.push(await startExecutor({ ...ctx, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
  });
  after(async () => {
    for (const handle of handles.reverse()) await handle.stop();
    await sandbox.close();
    await ctx.close();
    await redis.stop();
  });

  async function agreedRequest(price: number): Promise<RequestRecord> {
    const nowMs = Date.now();
    const project: Project = {
      id: 'prj_0000000000publicationcheck', name: 'p', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
      limits: TEST_LIMITS, version: 1, codeCid: computeContentId(utf8(CODE)), createdAt: new Date(nowMs).toISOString(),
    };
    await ctx.repository.putProject(project, CODE, 'hash-publication', nowMs);
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs }, { project, input: { price }, source: 'api' });
    return waitFor(async () => {
      const request = await ctx.repository.getRequest(id);
      return request?.status === 'agreed' ? request : undefined;
    }, 15_000, 'agreement');
  }

  const final = (id: string) => waitFor(async () => {
    const request = await ctx.repository.getRequest(id);
    return request?.status === 'published' || request?.status === 'failed' ? request : undefined;
  }, 15_000, 'a final state');

  it('fails a forged outcome unverified and publishes the honest one', async () => {
    const forged = await agreedRequest(1);
    const honest = await agreedRequest(2);
    // A store writer replaces the agreed result: a value and hash no vote signed.
    const outcome = { ...forged.outcome!, value: { price: 1000 }, resultHash: toHex(computeResultHash({ price: 1000 })) };
    await ctx.connection.hset(createKeys(ctx.config.keyPrefix).request(forged.id), 'outcome', JSON.stringify(outcome));
    handles.push(await startRole('sender', ctx));
    await ctx.queues.add('publish', `publish.${forged.id}`, { kind: 'publish', requestId: forged.id });
    await ctx.queues.add('publish', `publish.${honest.id}`, { kind: 'publish', requestId: honest.id });
    const [bad, good] = [await final(forged.id), await final(honest.id)];
    expect(bad.status).to.equal('failed');
    expect(bad.failure).to.deep.equal({ code: 'unverified', message: 'the stored outcome does not verify: the stored result is not the one the votes agree on' });
    expect(good.status).to.equal('published');
    const ledger = await ctx.repository.listLedger(0, 10);
    expect(ledger.items.map((e) => e.requestId)).to.deep.equal([honest.id]);
  });
});

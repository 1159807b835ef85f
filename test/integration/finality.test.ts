// Finality on a real redis-server: deadlines and median grace periods from the due-time index (checked
// against the request's own accepted-at time and consensus's clock), late votes, and per-node statistics
// through the real Koa app.
import { expect } from 'chai';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { createSigner } from '../../lib/crypto/keys.ts';
import { computeVotesDigest } from '../../lib/protocol/ledger.ts';
import { computeVoteBinding, createVote } from '../../lib/protocol/vote.ts';
import { startRole, type ProcessContext } from '../../lib/process.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { Project, RequestRecord } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { startConsensus } from '../../lib/roles/consensus/consensus.ts';
import type { Clock, RoleHandle } from '../../lib/runtime/common.ts';
import { buildNodes, type TestNode } from '../support/builders.ts';
import { ADMIN_TOKEN, TEST_LIMITS, jobResult, openTestProcess, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const CODE = 'export default (input) => input.n;';
const DEADLINE_MS = 20_000;
const GRACE_MS = 2000;

describe('finality: due-time index, median grace, late votes, node statistics', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let handles: RoleHandle[];
  /** Consensus's clock: the tests move it; the sweep's timer stays real. */
  let nowMs: number;
  const clock: Clock = { now: () => nowMs };
  const nodes = buildNodes(5);

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    ctx = await openTestProcess(redis.url, { GATEWAY_REQUEST_DEADLINE_MS: String(DEADLINE_MS), GATEWAY_MEDIAN_GRACE_MS: String(GRACE_MS), GATEWAY_DUE_SWEEP_MS: '50' });
    handles = [];
    nowMs = Date.now();
    await seedFrozenRound(ctx, nodes);
    handles.push(await startRole('receiver', ctx));
    handles.push(await startConsensus({ ...ctx, clock, logger: ctx.logger.child({ role: 'consensus' }) }));
  });
  afterEach(async () => {
    for (const handle of handles.reverse()) await handle.stop();
    await ctx.close();
  });

  const dueKey = () => createKeys(ctx.config.keyPrefix).due(0);

  async function putProject(committee: { size: number; quorum: number }, aggregation: Project['aggregation']): Promise<Project> {
    const project: Project = {
      id: `prj_${Date.now().toString(32).padStart(10, '0')}${Math.random().toString(36).slice(2, 10).padEnd(16, '0')}`,
      name: 'finality', description: '', committee, aggregation, limits: TEST_LIMITS, version: 1,
      codeCid: computeContentId(utf8(CODE)), createdAt: new Date().toISOString(),
    };
    await ctx.repository.putProject(project, CODE, `hash-${project.id}`, Date.now());
    return project;
  }

  /** Accepts a request and waits for its assignment (no executors run: the votes are the test's to send). */
  async function assigned(project: Project): Promise<{ request: RequestRecord; members: TestNode[] }> {
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs: Date.now() }, { project, input: { n: 1 }, source: 'api' });
    const request = await waitFor(async () => {
      const stored = await ctx.repository.getRequest(id);
      return stored?.status === 'assigned' ? stored : undefined;
    }, 10_000, 'assignment');
    return { request, members: request.assignment!.committee.map((m) => nodes.find((n) => n.nodeId === m)!) };
  }

  /** Sends `node`'s signed vote for `value` through its own votes queue and returns the handler's result. */
  async function vote(request: RequestRecord, node: TestNode, value: unknown, ok = true): Promise<unknown> {
    const signed = createVote(createSigner(node.keys.signSecretKey), { requestId: request.id, nodeId: node.nodeId, round: request.assignment!.round, ok, value }, computeVoteBinding(request, request.assignment!));
    const jobId = `vote.${request.id}.${node.nodeId}.${Math.random().toString(36).slice(2, 8)}`;
    await ctx.queues.add('votes', jobId, { kind: 'vote', vote: signed }, { nodeId: node.nodeId });
    return jobResult(ctx, 'votes', jobId, node.nodeId);
  }

  const statusOf = (id: string, status: RequestRecord['status']) => waitFor(async () => {
    const stored = await ctx.repository.getRequest(id);
    return stored?.status === status ? stored : undefined;
  }, 10_000, `status ${status}`);

  it('ignores a deadline entry written early (moving it to the request deadline) and fails timeout only once the deadline really passed', async () => {
    const { request } = await assigned(await putProject({ size: 3, quorum: 2 }, 'exact'));
    const deadlineMs = Date.parse(request.createdAt) + DEADLINE_MS;
    expect(await ctx.connection.zscore(dueKey(), `deadline.${request.id}`)).to.equal(String(deadlineMs));
    // What a forged deadline would look like: the request's entry, due long ago.
    await ctx.connection.zadd(dueKey(), 1, `deadline.${request.id}`);
    await waitFor(async () => ((await ctx.connection.zscore(dueKey(), `deadline.${request.id}`)) === String(deadlineMs) ? true : undefined), 10_000, 'the entry moved back');
    expect((await ctx.repository.getRequest(request.id))?.status).to.equal('assigned');

    nowMs = deadlineMs;
    const failed = await statusOf(request.id, 'failed');
    expect(failed.failure).to.deep.equal({ code: 'timeout', message: `no agreed result within ${DEADLINE_MS} ms of acceptance` });
    await waitFor(async () => ((await ctx.connection.zcard(dueKey())) === 0 ? true : undefined), 10_000, 'the entry removed');
  });

  it('finalizes a median after its grace period with the lower median of its q votes; the sender publishes it; a later vote is late and never counts', async () => {
    const { request, members } = await assigned(await putProject({ size: 3, quorum: 2 }, 'median'));
    expect(await vote(request, members[0], 30)).to.equal('pending');
    expect(await vote(request, members[1], 10)).to.equal('grace');
    expect(await ctx.connection.zscore(dueKey(), `grace.${request.id}`)).to.equal(String(nowMs + GRACE_MS));
    expect((await ctx.repository.getRequest(request.id))?.status).to.equal('assigned');

    nowMs += GRACE_MS;
    const agreed = await statusOf(request.id, 'agreed');
    expect(agreed.outcome).to.deep.include({ ok: true, value: 10, supporters: [members[0].nodeId, members[1].nodeId] });
    handles.push(await startRole('sender', ctx));
    const published = await statusOf(request.id, 'published');

    expect(await vote(request, members[2], 20)).to.equal('late');
    const after = (await ctx.repository.getRequest(request.id))!;
    expect(after.votes.map((v) => [v.nodeId, v.value, v.late === true])).to.deep.equal([[members[0].nodeId, 30, false], [members[1].nodeId, 10, false], [members[2].nodeId, 20, true]]);
    expect(after.outcome).to.deep.equal(published.outcome);
    const entry = (await ctx.repository.listLedger(0, 10)).items.find((e) => e.requestId === request.id)!;
    expect(entry.votesDigest).to.equal(computeVotesDigest(published.votes));
    expect(entry.votesDigest).to.equal(computeVotesDigest(after.votes), 'the late vote is not in the digest');
    await waitFor(async () => ((await ctx.connection.zcard(dueKey())) === 0 ? true : undefined), 10_000, 'both entries removed');
  });

  it('finalizes a median at once when all k votes are in, and at its deadline with the q votes it has', async () => {
    const project = await putProject({ size: 3, quorum: 2 }, 'median');
    const full = await assigned(project);
    expect(await vote(full.request, full.members[0], 10)).to.equal('pending');
    expect(await vote(full.request, full.members[1], 30)).to.equal('grace');
    expect(await vote(full.request, full.members[2], 20)).to.equal('agreed');
    expect((await ctx.repository.getRequest(full.request.id))?.outcome).to.deep.include({ value: 20 });

    const partial = await assigned(project);
    await vote(partial.request, partial.members[0], 4);
    await vote(partial.request, partial.members[1], 8);
    nowMs = Date.parse(partial.request.createdAt) + DEADLINE_MS;
    expect((await statusOf(partial.request.id, 'agreed')).outcome).to.deep.include({ value: 4 });
  });

  it("counts each node's votes, agreements, disagreements, late votes and missed runs; GET /v1/nodes and the status page show them", async () => {
    const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
    handles.push(web);
    const call = createClient(web.url);
    const project = await putProject({ size: 5, quorum: 3 }, 'exact');
    const first = await assigned(project);
    const [n0, n1, n2, n3, n4] = first.members;
    expect(await vote(first.request, n0, 5)).to.equal('pending');
    expect(await vote(first.request, n1, 6)).to.equal('pending');
    expect(await vote(first.request, n2, 5)).to.equal('pending');
    expect(await vote(first.request, n3, 5)).to.equal('agreed');
    expect(await vote(first.request, n4, 5)).to.equal('late');

    const second = await assigned(project);
    expect(await vote(second.request, n0, 7)).to.equal('pending');
    nowMs = Date.parse(second.request.createdAt) + DEADLINE_MS;
    await statusOf(second.request.id, 'failed');
    await waitFor(async () => ((await ctx.connection.zcard(dueKey())) === 0 ? true : undefined), 10_000, 'the deadline settled');

    const expected = {
      [n0.nodeId]: { votes: 2, agreed: 1, disagreed: 0, late: 0, missed: 0 },
      [n1.nodeId]: { votes: 1, agreed: 0, disagreed: 1, late: 0, missed: 1 },
      [n2.nodeId]: { votes: 1, agreed: 1, disagreed: 0, late: 0, missed: 1 },
      [n3.nodeId]: { votes: 1, agreed: 1, disagreed: 0, late: 0, missed: 1 },
      [n4.nodeId]: { votes: 0, agreed: 0, disagreed: 0, late: 1, missed: 2 },
    };
    const listed = await call('GET', '/v1/nodes');
    expect(listed.status).to.equal(200);
    expect(Object.fromEntries(listed.body.items.map((n: { id: string; stats: unknown }) => [n.id, n.stats]))).to.deep.equal(expected);
    const status = await call('GET', '/v1/status');
    expect(Object.fromEntries(status.body.nodes.map((n: { id: string; stats: unknown }) => [n.id, n.stats]))).to.deep.equal(expected);
    const page = await call('GET', '/');
    expect(page.body).to.include('Nodes that disagree').and.include("fill('dissent'");

    const shown = await call('GET', `/v1/requests/${first.request.id}`, { token: ADMIN_TOKEN });
    expect(shown.body.votes.map((v: { nodeId: string; late: boolean }) => [v.nodeId, v.late])).to.deep.equal([
      [n0.nodeId, false], [n1.nodeId, false], [n2.nodeId, false], [n3.nodeId, false], [n4.nodeId, true],
    ]);
  });
});

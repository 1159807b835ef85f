// No duplicate work, on a real redis-server with the real roles: the three votes of a request arrive in
// every order, one after another and all at once, at two consensus processes; the handler outcome
// counters show exactly one agree transition and one publish job per request, and the ledger one entry.
import { expect } from 'chai';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { createSigner } from '../../lib/crypto/keys.ts';
import { computeVoteBinding, createVote } from '../../lib/protocol/vote.ts';
import { startRole, type ProcessContext } from '../../lib/process.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { Project, RequestRecord } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { jobIds } from '../../lib/queues.ts';
import { buildNodes, type TestNode } from '../support/builders.ts';
import { TEST_LIMITS, handlerOutcomes, jobResult, openTestProcess, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const CODE = 'export default (input) => input.n;';
const ORDERS = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

describe('vote races: one agreement and one publication per request, whatever the vote order', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  /** Receiver, sender and one consensus; `other` runs a second consensus on the same queues. */
  let ctx: ProcessContext;
  let other: ProcessContext;
  let handles: RoleHandle[];
  const nodes = buildNodes(4);

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    // Median grace periods longer than the test: a median request here agrees on its k-th vote alone.
    const env = { GATEWAY_REQUEST_DEADLINE_MS: '60000', GATEWAY_MEDIAN_GRACE_MS: '60000' };
    ctx = await openTestProcess(redis.url, env);
    other = await openTestProcess(redis.url, { ...env, GATEWAY_KEY_PREFIX: ctx.config.keyPrefix });
    handles = [];
    await seedFrozenRound(ctx, nodes);
    for (const role of ['receiver', 'sender', 'consensus'] as const) handles.push(await startRole(role, ctx));
    handles.push(await startRole('consensus', other));
  });
  afterEach(async () => {
    for (const handle of handles.reverse()) await handle.stop();
    await other.close();
    await ctx.close();
  });

  async function putProject(aggregation: Project['aggregation']): Promise<Project> {
    const project: Project = {
      id: `prj_${Date.now().toString(32).padStart(10, '0')}${Math.random().toString(36).slice(2, 10).padEnd(16, '0')}`,
      name: 'races', description: '', committee: { size: 3, quorum: 2 }, aggregation, limits: TEST_LIMITS, version: 1,
      codeCid: computeContentId(utf8(CODE)), createdAt: new Date().toISOString(),
    };
    await ctx.repository.putProject(project, CODE, `hash-${project.id}`, Date.now());
    return project;
  }

  /** Accepts a request and waits for its assignment (no executors run: the votes are the test's to send). */
  async function assigned(project: Project, n: number): Promise<RequestRecord> {
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs: Date.now() }, { project, input: { n }, source: 'api' });
    return waitFor(async () => {
      const stored = await ctx.repository.getRequest(id);
      return stored?.status === 'assigned' ? stored : undefined;
    }, 10_000, 'assignment');
  }

  /** Adds member `seat`'s signed vote to its own votes queue, as its executor would. */
  async function sendVote(request: RequestRecord, seat: number, value: unknown): Promise<() => Promise<unknown>> {
    const nodeId = request.assignment!.committee[seat];
    const node: TestNode = nodes.find((n) => n.nodeId === nodeId)!;
    const vote = createVote(createSigner(node.keys.signSecretKey), { requestId: request.id, nodeId, round: request.assignment!.round, ok: true, value }, computeVoteBinding(request, request.assignment!));
    await ctx.queues.add('votes', jobIds.vote(request.id, nodeId), { kind: 'vote', vote }, { nodeId });
    return () => jobResult(ctx, 'votes', jobIds.vote(request.id, nodeId), nodeId);
  }

  /** The sum over both processes of gateway_handler_outcomes_total for `role` and `handler`, by outcome. */
  async function outcomes(role: string, handler: string): Promise<Record<string, number>> {
    const sums: Record<string, number> = {};
    for (const process of [ctx, other]) {
      for (const [outcome, value] of Object.entries(await handlerOutcomes(process, role, handler))) sums[outcome] = (sums[outcome] ?? 0) + value;
    }
    return sums;
  }

  async function published(ids: readonly string[]): Promise<RequestRecord[]> {
    return Promise.all(ids.map((id) => waitFor(async () => {
      const request = await ctx.repository.getRequest(id);
      return request?.status === 'published' || request?.status === 'failed' ? request : undefined;
    }, 20_000, `request ${id} published`)));
  }

  /** One agree transition, one publish job, one ledger entry per request; every vote counted, none late. */
  async function expectOnceEach(requests: readonly RequestRecord[]): Promise<void> {
    const n = requests.length;
    const final = await published(requests.map((r) => r.id));
    expect(final.map((r) => r.status)).to.deep.equal(requests.map(() => 'published'));
    expect(await outcomes('consensus', 'agree'), 'agree transitions').to.deep.equal({ applied: n });
    expect(await outcomes('consensus', 'publish_job'), 'publish jobs added').to.deep.equal({ added: n });
    // The sender counts its handler's outcome when the handler returns, just after the transition a reader sees: wait for the count.
    const handled = await waitFor(async () => {
      const sums = await outcomes('sender', 'publish');
      return Object.values(sums).reduce((a, b) => a + b, 0) >= n ? sums : undefined;
    }, 20_000, 'every publish job handled');
    expect(handled, 'publish jobs handled').to.deep.equal({ appended: n });
    // Likewise a vote job still being handled when its request was published (the third, counted or late).
    const votes = await waitFor(async () => {
      const sums = await outcomes('consensus', 'vote');
      return Object.values(sums).reduce((a, b) => a + b, 0) >= 3 * n ? sums : undefined;
    }, 20_000, 'every vote job handled');
    expect(votes.agreed, 'deciding votes').to.equal(n);
    expect((votes.pending ?? 0) + (votes.grace ?? 0) + (votes.counted ?? 0) + (votes.late ?? 0), 'the other votes').to.equal(2 * n);
    const keys = createKeys(ctx.config.keyPrefix);
    expect(await ctx.connection.llen(keys.ledger)).to.equal(n);
    const seqs = await ctx.connection.hmget(keys.ledgerByRequest, ...requests.map((r) => r.id));
    expect(new Set(seqs).size).to.equal(n);
    expect(seqs).to.not.include(null);
  }

  /** Stops the second consensus: every vote goes to the first, which sees each recorded. */
  async function oneConsensus(): Promise<void> {
    await handles.pop()!.stop();
  }

  for (const aggregation of ['exact', 'median'] as const) {
    // Exact: all three agree (the third is counted or late); median: three numbers, the k-th decides.
    const valueOf = (seat: number) => (aggregation === 'exact' ? 7 : seat + 1);

    it(`${aggregation}: one consensus, votes one after another: each deciding vote's record applies the agreement in the same script`, async () => {
      await oneConsensus();
      const project = await putProject(aggregation);
      const requests: RequestRecord[] = [];
      for (const [i, order] of ORDERS.entries()) {
        const request = await assigned(project, i);
        const results = [];
        for (const seat of order) results.push(await (await sendVote(request, seat, valueOf(seat)))());
        // Exact: the second vote decides; median: the third (the grace period outlasts the test).
        expect(results).to.deep.equal(aggregation === 'exact' ? ['pending', 'agreed', 'late'] : ['pending', 'grace', 'agreed']);
        requests.push(request);
      }
      await expectOnceEach(requests);
      expect(await outcomes('consensus', 'agree_with_record')).to.deep.equal({ applied: ORDERS.length });
      const final = await published(requests.map((r) => r.id));
      expect(final.map((r) => r.outcome?.supporters.length)).to.deep.equal(requests.map(() => (aggregation === 'exact' ? 2 : 3)));
      // The statistics were settled with the agreement: every seat counted once, the exact requests' late third vote as late.
      const committee = [...new Set(requests.flatMap((r) => r.assignment!.committee))];
      const stats = await ctx.repository.listNodeStats(committee);
      const seats = committee.map((nodeId) => requests.filter((r) => r.assignment!.committee.includes(nodeId)).length);
      expect(stats.map((s) => s.votes + s.late)).to.deep.equal(seats);
      expect(stats.map((s) => s.agreed + s.missed)).to.deep.equal(seats);
      expect(stats.reduce((sum, s) => sum + s.late, 0)).to.equal(aggregation === 'exact' ? ORDERS.length : 0);
    });

    it(`${aggregation}: a deciding vote whose store holds a vote this consensus never saw is decided from the stored votes`, async () => {
      await oneConsensus();
      const project = await putProject(aggregation);
      const request = await assigned(project, 0);
      const [first, unseen, last] = [0, 1, 2];
      expect(await (await sendVote(request, first, valueOf(first)))()).to.equal('pending');
      // Another consensus (here: the store directly) recorded the second seat's vote, with another value.
      const unseenNode = nodes.find((n) => n.nodeId === request.assignment!.committee[unseen])!;
      const otherValue = aggregation === 'exact' ? 8 : 20;
      const { requestId: _id, ...vote } = createVote(createSigner(unseenNode.keys.signSecretKey), {
        requestId: request.id, nodeId: unseenNode.nodeId, round: request.assignment!.round, ok: true, value: otherValue,
      }, computeVoteBinding(request, request.assignment!));
      expect((await ctx.repository.recordVote(request.id, vote)).outcome).to.equal('recorded');
      // Foreseen from the first vote alone (exact: 7 twice; median: not yet), refused by the script for exact, then decided from all three.
      expect(await (await sendVote(request, last, valueOf(last)))()).to.equal('agreed');
      const [final] = await published([request.id]);
      expect(await outcomes('consensus', 'agree_with_record')).to.deep.equal(aggregation === 'exact' ? { missed: 1 } : {});
      expect(await outcomes('consensus', 'agree'), 'agree transitions').to.deep.equal({ applied: 1 });
      const expectedValue = aggregation === 'exact' ? 7 : 3;
      expect(final.outcome?.value).to.equal(expectedValue);
      const stats = await ctx.repository.listNodeStats([unseenNode.nodeId]);
      expect(stats[0], 'the unseen vote counted with the agreement').to.deep.include(aggregation === 'exact' ? { votes: 1, disagreed: 1 } : { votes: 1, agreed: 1 });
    });
    it(`${aggregation}: votes one after another, in each of the six orders`, async () => {
      const project = await putProject(aggregation);
      const requests: RequestRecord[] = [];
      for (const [i, order] of ORDERS.entries()) {
        const request = await assigned(project, i);
        for (const seat of order) await (await sendVote(request, seat, valueOf(seat)))();
        requests.push(request);
      }
      await expectOnceEach(requests);
      if (aggregation === 'median') expect((await outcomes('consensus', 'vote')).grace).to.equal(ORDERS.length);
    });

    it(`${aggregation}: all three votes at once, for many requests at once, at two consensus processes`, async () => {
      const project = await putProject(aggregation);
      const requests = await Promise.all(Array.from({ length: 12 }, (_, i) => assigned(project, i)));
      const results = await Promise.all(requests.flatMap((request, i) => ORDERS[i % ORDERS.length].map((seat) => sendVote(request, seat, valueOf(seat)))));
      await Promise.all(results.map((result) => result()));
      await expectOnceEach(requests);
      const handledBy = async (process: ProcessContext) => Object.values(await handlerOutcomes(process, 'consensus', 'vote')).reduce((sum, value) => sum + value, 0);
      expect(await handledBy(ctx) + await handledBy(other), 'votes handled by both processes').to.equal(3 * requests.length);
    });
  }
});

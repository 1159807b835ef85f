// The request lifecycle through the repository on a real redis-server: every allowed transition
// (status, indexes, admission slot, final announcement), every disallowed one refused without a
// write, redelivered transitions as no-ops, and votes counted in the voting status, late after it.
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import type { ProcessContext } from '../../lib/process.ts';
import {
  OPEN_STATUSES, REQUEST_STATUSES, TRANSITIONS, allowedFrom, canTransition, isFinal,
  type RequestStatus, type TransitionTarget,
} from '../../lib/protocol/request-lifecycle.ts';
import { closeRedis, createRedis } from '../../lib/redis.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { TransitionResult } from '../../lib/repository/requests.ts';
import type { Assignment, Outcome, Project } from '../../lib/repository/types.ts';
import { TEST_LIMITS, openTestProcess, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const T0 = 1_700_000_000_000;
const PROJECT: Project = {
  id: 'prj_0000000000lifecycletest000', name: 'lifecycle', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
  limits: TEST_LIMITS, version: 1, codeCid: 'bafkreilifecycle', createdAt: new Date(T0).toISOString(),
};
const ASSIGNMENT: Assignment = { round: 2, roundSeed: '00'.repeat(32), committee: ['node_a', 'node_b', 'node_c'], quorum: 2, aggregation: 'exact', assignedAt: new Date(T0).toISOString() };
const OUTCOME: Outcome = { ok: true, value: 42, resultHash: '11'.repeat(32), supporters: ['node_a', 'node_b'], agreedAt: new Date(T0).toISOString() };
const LEDGER = { seq: 1, hash: '22'.repeat(32) };
const FAILURE = { code: 'timeout', message: 'test' } as const;
const VOTE = { nodeId: 'node_a', round: 2, ok: true, resultHash: '11'.repeat(32), value: 42, signature: '33'.repeat(64) };

const TARGETS = Object.keys(TRANSITIONS) as TransitionTarget[];
/** The moves that bring a request created `queued` to each status. */
const PATHS: Record<RequestStatus, readonly TransitionTarget[]> = {
  queued: [], assigned: ['assigned'], agreed: ['assigned', 'agreed'], published: ['assigned', 'agreed', 'published'], failed: ['failed'],
};
const ALLOWED_MOVES = TARGETS.flatMap((to) => allowedFrom(to).map((from) => ({ from, to })));
const DISALLOWED_MOVES = REQUEST_STATUSES.flatMap((from) => TARGETS.filter((to) => !canTransition(from, to)).map((to) => ({ from, to })));

describe('request lifecycle on Redis', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let subscriber: Redis;
  let announced: string[];
  let counter = 0;

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    ctx = await openTestProcess(redis.url);
    await ctx.repository.putProject(PROJECT, 'export default (input) => input', 'hash-lifecycle', T0);
    announced = [];
    subscriber = createRedis(redis.url, 'lifecycle-test-subscriber');
    subscriber.on('message', (_channel: string, id: string) => announced.push(id));
    await subscriber.subscribe(createKeys(ctx.config.keyPrefix).finalChannel);
  });
  afterEach(async () => {
    await closeRedis(subscriber);
    await ctx.close();
  });

  function move(to: TransitionTarget, id: string, nowMs: number, from: readonly RequestStatus[] = allowedFrom('failed')): Promise<TransitionResult> {
    switch (to) {
      case 'assigned': return ctx.repository.assignRequest(id, ASSIGNMENT, nowMs);
      case 'agreed': return ctx.repository.agreeRequest(id, OUTCOME, nowMs);
      case 'published': return ctx.repository.publishRequest(id, LEDGER, nowMs);
      case 'failed': return ctx.repository.failRequest(id, from, FAILURE, nowMs);
    }
  }

  const nextId = () => `req_0000000000lifecycle${String(++counter).padStart(7, '0')}`;

  /** A new request brought to `status` along the lifecycle, one millisecond per move after T0. */
  async function createIn(status: RequestStatus): Promise<string> {
    const id = nextId();
    const created = await ctx.repository.putRequest({ id, projectId: PROJECT.id, version: 1, codeCid: PROJECT.codeCid, source: 'api', input: null, createdAtMs: T0, maxOpen: 1000 });
    expect(created).to.deep.equal({ outcome: 'created', id });
    let previous: RequestStatus = 'queued';
    for (const [i, to] of PATHS[status].entries()) {
      expect(await move(to, id, T0 + i + 1)).to.deep.equal({ applied: true, statusBefore: previous });
      previous = to;
    }
    expect((await ctx.repository.getRequest(id))?.status).to.equal(status);
    return id;
  }

  /** Everything a transition may write about a request: its hash, votes, index scores, finished score and the project's open counts. */
  async function snapshot(id: string) {
    const keys = createKeys(ctx.config.keyPrefix);
    const db = ctx.connection;
    const [hash, votes, indexed, finished, open] = await Promise.all([
      db.hgetall(keys.request(id)),
      db.hgetall(keys.requestVotes(id)),
      Promise.all(OPEN_STATUSES.map((status) => db.zscore(keys.stateIndex(keys.bucketOf(id), status), id))),
      db.zscore(keys.finishedRequests(keys.bucketOf(id)), id),
      Promise.all([db.zscore(keys.projectOpen(PROJECT.id), id), db.zscore(keys.versionOpen(PROJECT.id, 1), id)]),
    ]);
    return { hash, votes, indexes: Object.fromEntries(OPEN_STATUSES.map((status, i) => [status, indexed[i]])), finished, open };
  }

  /** The ids announced on the final channel so far (a marker published last proves the earlier ones arrived). */
  async function announcements(): Promise<string[]> {
    const marker = `marker-${++counter}`;
    await ctx.connection.publish(createKeys(ctx.config.keyPrefix).finalChannel, marker);
    await waitFor(async () => (announced.includes(marker) ? true : undefined), 5000, 'the marker announcement');
    return announced.filter((id) => !id.startsWith('marker-'));
  }

  async function rejection(promise: Promise<unknown>): Promise<Error> {
    try {
      await promise;
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected a rejection');
  }

  it('creates a request queued, in the queued index, holding an admission slot', async () => {
    const id = await createIn('queued');
    const state = await snapshot(id);
    expect(state.hash.status).to.equal('queued');
    expect(state.indexes).to.deep.equal({ queued: String(T0), assigned: null, agreed: null });
    expect(state.open).to.deep.equal([String(T0), String(T0)]);
    expect(state.finished).to.equal(null);
  });

  it('creates a request refused for its input failed, in no index, holding no slot, and announces it', async () => {
    const id = nextId();
    await ctx.repository.putRequest({ id, projectId: PROJECT.id, version: 1, codeCid: PROJECT.codeCid, source: 'schedule', input: null, createdAtMs: T0, maxOpen: 1000, rejection: { code: 'rejected', message: 'input' } });
    const state = await snapshot(id);
    expect(state.hash.status).to.equal('failed');
    expect(state.indexes).to.deep.equal({ queued: null, assigned: null, agreed: null });
    expect(state.open).to.deep.equal([null, null]);
    expect(state.finished).to.equal(String(T0));
    expect(await announcements()).to.deep.equal([id]);
  });

  for (const { from, to } of ALLOWED_MOVES) {
    it(`moves ${from} → ${to}: status, indexes, admission slot and announcement`, async () => {
      const id = await createIn(from);
      const before = await snapshot(id);
      const nowMs = T0 + 100;
      expect(await move(to, id, nowMs)).to.deep.equal({ applied: true, statusBefore: from });
      const after = await snapshot(id);
      expect(after.hash.status).to.equal(to);
      expect(after.indexes).to.deep.equal(Object.fromEntries(OPEN_STATUSES.map((status) => [status, status === to ? String(nowMs) : null])));
      if (isFinal(to)) {
        expect(after.open, 'the admission slot is given back').to.deep.equal([null, null]);
        expect(after.hash.open, 'kept: a repeated release gives back the same slot').to.equal(`${PROJECT.id} 1`);
        expect(after.finished).to.equal(String(nowMs));
        expect(after.hash.finishedAt).to.equal(new Date(nowMs).toISOString());
        expect(await announcements()).to.deep.equal([id]);
      } else {
        expect(after.open).to.deep.equal(before.open);
        expect(after.hash.open).to.equal(before.hash.open);
        expect(after.finished).to.equal(null);
        expect(await announcements()).to.deep.equal([]);
      }
    });

    it(`treats a redelivered ${from} → ${to} as a no-op`, async () => {
      const id = await createIn(from);
      expect(await move(to, id, T0 + 100)).to.deep.include({ applied: true });
      const before = await snapshot(id);
      const announcedBefore = await announcements();
      expect(await move(to, id, T0 + 200)).to.deep.equal({ applied: false, statusBefore: to });
      expect(await snapshot(id)).to.deep.equal(before);
      expect(await announcements()).to.deep.equal(announcedBefore);
    });
  }

  for (const { from, to } of DISALLOWED_MOVES) {
    it(`refuses ${from} → ${to} and leaves the record unchanged`, async () => {
      const id = await createIn(from);
      const before = await snapshot(id);
      const announcedBefore = await announcements();
      expect(await move(to, id, T0 + 100)).to.deep.equal({ applied: false, statusBefore: from });
      expect(await snapshot(id)).to.deep.equal(before);
      expect(await announcements()).to.deep.equal(announcedBefore);
    });
  }

  it('fails a request only from the statuses the caller names', async () => {
    const assigned = await createIn('assigned');
    const queued = await createIn('queued');
    const before = [await snapshot(assigned), await snapshot(queued)];
    expect(await move('failed', assigned, T0 + 100, ['queued'])).to.deep.equal({ applied: false, statusBefore: 'assigned' });
    expect(await move('failed', queued, T0 + 100, ['assigned'])).to.deep.equal({ applied: false, statusBefore: 'queued' });
    expect([await snapshot(assigned), await snapshot(queued)]).to.deep.equal(before);
  });

  it('rejects failing from a status the lifecycle never fails from, as a programming error, before any write', async () => {
    const id = await createIn('queued');
    const before = await snapshot(id);
    const cases: [readonly RequestStatus[], string][] = [[['published'], 'published'], [['failed'], 'failed'], [['queued', 'published'], 'published']];
    for (const [from, disallowed] of cases) {
      const error = await rejection(move('failed', id, T0 + 100, from));
      expect(error.constructor).to.equal(Error);
      expect(error.message).to.equal(`a request cannot move from ${disallowed} to failed; allowed from: queued, assigned, agreed`);
    }
    expect(await snapshot(id)).to.deep.equal(before);
  });

  it('reports a transition of a missing request as not applied, with no status before', async () => {
    for (const to of TARGETS) {
      expect(await move(to, nextId(), T0)).to.deep.equal({ applied: false, statusBefore: null });
    }
  });

  // Counted in the voting status; kept as late once voting closed after an assignment; never without one.
  const RECORDING: Record<RequestStatus, 'recorded' | 'late' | 'not_assigned'> = {
    queued: 'not_assigned', assigned: 'recorded', agreed: 'late', published: 'late', failed: 'not_assigned',
  };
  for (const status of REQUEST_STATUSES) {
    it(`records a vote while ${status} as ${RECORDING[status]}`, async () => {
      const id = await createIn(status);
      const recording = await ctx.repository.recordVote(id, VOTE);
      expect(recording.outcome).to.equal(RECORDING[status]);
      expect(recording.status).to.equal(status);
      const stored = { recorded: [{ ...VOTE, seq: 0 }], late: [{ ...VOTE, seq: 0, late: true }], not_assigned: [] }[RECORDING[status]];
      expect(recording.votes).to.deep.equal(stored);
      expect((await ctx.repository.getRequest(id))!.votes).to.deep.equal(stored);
    });
  }

  it('keeps a vote after a failure that followed an assignment as late, once per node, and counts it on the node', async () => {
    const id = await createIn('assigned');
    expect(await move('failed', id, T0 + 100)).to.deep.include({ applied: true });
    expect(await ctx.repository.recordVote(id, VOTE)).to.deep.include({ outcome: 'late', status: 'failed' });
    expect(await ctx.repository.recordVote(id, { ...VOTE, value: 43 })).to.deep.include({ outcome: 'duplicate' });
    expect((await ctx.repository.getRequest(id))!.votes).to.deep.equal([{ ...VOTE, seq: 0, late: true }]);
    const [stats] = await ctx.repository.listNodeStats([VOTE.nodeId]);
    expect(stats).to.deep.include({ votes: 0, late: 1 });
  });

  it('agrees with a vote count only while the request holds exactly that many votes', async () => {
    const id = await createIn('assigned');
    await ctx.repository.recordVote(id, VOTE);
    await ctx.repository.recordVote(id, { ...VOTE, nodeId: 'node_b' });
    const before = await snapshot(id);
    expect(await ctx.repository.agreeRequest(id, OUTCOME, T0 + 100, { voteCount: 1 })).to.deep.equal({ applied: false, statusBefore: 'assigned' });
    expect(await snapshot(id)).to.deep.equal(before);
    expect(await ctx.repository.agreeRequest(id, OUTCOME, T0 + 100, { voteCount: 2 })).to.deep.equal({ applied: true, statusBefore: 'assigned' });
  });
});

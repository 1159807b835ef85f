// Request state spread over hash-tag buckets (keys.ts): every per-request key in its bucket, reads
// merged across buckets, and admission (on the control plane) kept apart from the request's own
// slot: a crash between the two steps of an acceptance neither loses the request nor holds its slot.
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { createId } from '../../lib/ids.ts';
import { closeRedis, createRedis } from '../../lib/redis.ts';
import { createRepository, type Repository } from '../../lib/repository/index.ts';
import { createKeys, requestBucket } from '../../lib/repository/keys.ts';
import type { Assignment, Project } from '../../lib/repository/types.ts';
import { TEST_LIMITS } from '../support/gateway.ts';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.ts';

const T0 = 1_700_000_000_000;
const BUCKETS = 4;
const PROJECT: Project = {
  id: 'prj_0000000000bucketstest0000', name: 'buckets', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
  limits: TEST_LIMITS, version: 1, codeCid: 'bafkreibuckets', createdAt: new Date(T0).toISOString(),
};
const ASSIGNMENT: Assignment = { round: 2, roundSeed: '00'.repeat(32), committee: ['node_a', 'node_b', 'node_c'], quorum: 2, aggregation: 'exact', assignedAt: new Date(T0).toISOString() };

describe('request state in hash-tag buckets', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let db: Redis;
  let repository: Repository;
  let keys: ReturnType<typeof createKeys>;

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    const prefix = uniquePrefix();
    db = createRedis(redis.url, 'buckets-test');
    repository = createRepository(db, { prefix, buckets: BUCKETS });
    keys = createKeys(prefix, { buckets: BUCKETS });
    await repository.putProject(PROJECT, 'export default (input) => input', `hash-${prefix}`, T0);
  });
  afterEach(async () => {
    await closeRedis(db);
  });

  const newRequest = (id: string, createdAtMs: number, extra: { idempotencyKey?: string; maxOpen?: number } = {}) => ({
    id, projectId: PROJECT.id, version: 1, codeCid: PROJECT.codeCid, source: 'api' as const, input: { n: 1 }, createdAtMs, maxOpen: extra.maxOpen ?? 100,
    ...(extra.idempotencyKey ? { idempotencyKey: extra.idempotencyKey } : {}),
  });

  /** Ids of `count` requests, as many in every bucket. */
  function idsInEveryBucket(count: number): string[] {
    const perBucket = new Array(BUCKETS).fill(0);
    const ids: string[] = [];
    for (let i = 0; ids.length < count; i++) {
      const id = createId('req', T0 + i);
      const b = requestBucket(id, BUCKETS);
      if (perBucket[b] < count / BUCKETS) {
        perBucket[b]++;
        ids.push(id);
      }
    }
    return ids;
  }

  it('spreads request ids over the buckets and keeps each request\'s keys on its bucket\'s tag', () => {
    const counts = new Array(BUCKETS).fill(0);
    for (let i = 0; i < 4000; i++) counts[requestBucket(createId('req', T0), BUCKETS)]++;
    for (const n of counts) expect(n).to.be.within(850, 1150);
    expect(requestBucket('not an id', BUCKETS)).to.be.within(0, BUCKETS - 1);
    const id = createId('req', T0);
    const tag = `{r${requestBucket(id, BUCKETS)}}`;
    for (const key of [keys.request(id), keys.requestVotes(id), keys.due(keys.bucketOf(id)), keys.stateIndex(keys.bucketOf(id), 'queued')]) expect(key).to.include(tag);
    expect(keys.projectOpen(PROJECT.id)).to.include('{ctl}');
  });

  it('reads indexes across buckets in order: recent newest first, stale oldest first, counts summed', async () => {
    const ids = idsInEveryBucket(24);
    for (const [i, id] of ids.entries()) expect(await repository.putRequest(newRequest(id, T0 + i))).to.deep.equal({ outcome: 'created', id });
    expect(await repository.listRecentRequestIds(5)).to.deep.equal(ids.slice(-5).reverse());
    expect(await repository.listStale('queued', T0 + 6, 100)).to.deep.equal(ids.slice(0, 6));
    expect(await repository.countQueued()).to.equal(24);
    expect(await repository.countOpenRequests(PROJECT.id)).to.equal(24);
    for (const id of ids.slice(0, 10)) await repository.failRequest(id, ['queued'], { code: 'timeout', message: 't' }, T0 + 1000);
    expect(await repository.countQueued()).to.equal(14);
    expect(await repository.countFinishedSince(T0)).to.equal(10);
    expect(await repository.countOpenRequests(PROJECT.id)).to.equal(14);
    expect((await repository.getRequests(ids.slice(0, 3).reverse())).map((r) => r.id)).to.deep.equal(ids.slice(0, 3).reverse());
  });

  it('merges due entries of every bucket by due time and adds node statistics over the buckets', async () => {
    const ids = idsInEveryBucket(12);
    for (const [i, id] of ids.entries()) await repository.putDueEntry({ kind: 'deadline', requestId: id, dueAtMs: T0 + 100 - i });
    expect((await repository.listDueEntries(T0 + 100, 3)).map((e) => e.requestId)).to.deep.equal(ids.slice(-3).reverse());
    for (const id of ids) {
      await repository.putRequest(newRequest(id, T0));
      await repository.assignRequest(id, ASSIGNMENT, T0);
      await repository.recordVote(id, { nodeId: 'node_a', round: 2, ok: true, resultHash: '11'.repeat(32), value: 1, signature: '33'.repeat(64) });
    }
    const [stats] = await repository.listNodeStats(['node_a']);
    expect(stats).to.deep.equal({ votes: 12, agreed: 0, disagreed: 0, late: 0, missed: 0 });
  });

  it('an acceptance cut off after admission is completed by a retry with its idempotency key', async () => {
    const id = createId('req', T0);
    // What the first step alone leaves: admitted under the key, never stored (the process died).
    const admitted = await repository.putRequest(newRequest(id, T0, { idempotencyKey: 'k1' }));
    expect(admitted).to.deep.equal({ outcome: 'created', id });
    await db.del(keys.request(id));
    await db.zrem(keys.stateIndex(keys.bucketOf(id), 'queued'), id);
    const retry = await repository.putRequest(newRequest(createId('req', T0 + 1), T0 + 1, { idempotencyKey: 'k1' }));
    expect(retry).to.deep.equal({ outcome: 'existing', id });
    const stored = await repository.getRequest(id);
    expect([stored?.id, stored?.status]).to.deep.equal([id, 'queued']);
    expect(await repository.countOpenRequests(PROJECT.id)).to.equal(1);
  });

  it('a request retention removed stays removed when a retry brings its idempotency key again', async () => {
    const id = createId('req', Date.now());
    await repository.putRequest(newRequest(id, Date.now(), { idempotencyKey: 'k2' }));
    await repository.failRequest(id, ['queued'], { code: 'timeout', message: 't' }, Date.now());
    expect(await repository.removeRequests([{ id, projectId: PROJECT.id }], () => Date.now() + 3_600_000)).to.deep.equal({ removed: [id], cleaned: [] });
    const retry = await repository.putRequest(newRequest(createId('req', Date.now()), Date.now(), { idempotencyKey: 'k2' }));
    expect(retry).to.deep.equal({ outcome: 'existing', id });
    expect(await repository.getRequest(id)).to.equal(null);
    expect(await repository.getTombstone(id)).to.deep.equal({ projectId: PROJECT.id, seq: 0 });
  });

  it('a slot whose request is final or was never stored is given back by reconciliation, and not before', async () => {
    const [lost, finished, running] = [createId('req', T0), createId('req', T0 + 1), createId('req', T0 + 2)];
    for (const id of [lost, finished, running]) await repository.putRequest(newRequest(id, T0));
    await db.del(keys.request(lost));
    // A final move whose release was cut off: the request is final, its slot still taken.
    await repository.failRequest(finished, ['queued'], { code: 'timeout', message: 't' }, T0 + 5);
    await db.zadd(keys.projectOpen(PROJECT.id), T0, finished);
    await db.zadd(keys.versionOpen(PROJECT.id, 1), T0, finished);
    expect(await repository.putRequest(newRequest(createId('req', T0 + 3), T0 + 3, { maxOpen: 3 }))).to.deep.equal({ outcome: 'refused', open: 3 });
    expect(await repository.reconcileOpenRequests(PROJECT.id, T0)).to.equal(0);
    expect(await repository.reconcileOpenRequests(PROJECT.id, T0 + 1)).to.equal(2);
    expect(await db.zrange(keys.projectOpen(PROJECT.id), '0', '-1')).to.deep.equal([running]);
    expect(await db.zrange(keys.versionOpen(PROJECT.id, 1), '0', '-1')).to.deep.equal([running]);
  });

  it('refuses a gateway whose bucket count differs from the one the data was written with', async () => {
    await repository.claimLayout();
    await repository.claimLayout();
    const other = createRepository(db, { prefix: keys.prefix, buckets: 2 });
    const error = await other.claimLayout().then(() => null, (e: Error & { code?: string }) => e);
    expect(error?.code).to.equal('invalid_config');
    expect(error?.message).to.include('written with 4 request buckets, and GATEWAY_REQUEST_BUCKETS is 2');
  });
});

// Re-sent writes of the request pipeline: the connection of the role under test is cut after Redis
// applied its write and before the reply came back, so the write runs twice. Each case runs the
// real roles and asserts one effect: one assignment with its run jobs, one counted vote per node,
// one agreement, each seat once in its node's statistics, one ledger entry per request in a ledger that verifies, one outbox entry.
import { expect } from 'chai';
import { jobIds } from '../../lib/queues.ts';
import type { RequestRecord } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { scriptArgs } from '../support/fault-proxy.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { seedFrozenRound } from '../support/gateway.ts';
import { openFaultBench, type FaultBench } from './support/fault-bench.ts';
import {
  expectNoOpenRequests, expectSeatsCountedOnce, finishedJob, histogramCount, injected, ledgerAppendWrite, nodeStatsWrite, outboxWrite, recordVoteWrite, transitionTo,
} from './support/checks.ts';

/** Requests the statistics case sends at most while waiting for the vote timing it faults (each takes that path most of the time). */
const MAX_REQUESTS_FOR_A_RACE = 20;

describe('faults: re-sent pipeline writes', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let bench: FaultBench;

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    bench = await openFaultBench(redis.url);
    await seedFrozenRound(bench.direct, bench.nodes);
  });
  afterEach(async () => {
    await bench.stop();
  });

  it('assign: a re-sent queued → assigned still sends the run jobs, and the request is published once', async () => {
    await bench.startNodes();
    await bench.start(bench.direct, 'consensus', 'sender');
    const project = await bench.putProject();
    const id = await bench.accept(project);
    const fault = bench.proxy.dropReplyOnce(transitionTo('assigned'));
    await bench.start(bench.faulty, 'receiver');
    expect((await injected(fault)).command.args).to.include(id);
    expect(await finishedJob(bench.direct, 'incoming', jobIds.incoming(id))).to.equal('assigned');
    const request = await bench.waitForStatus(id, 'published');
    expect(request.ledger?.seq).to.equal(1);
    await bench.expectLedgerVerifies(1);
    await expectSeatsCountedOnce(bench, request);
    await expectNoOpenRequests(bench);
  });

  it('vote record: a re-sent vote counts once and still decides the request', async () => {
    // One seat: the vote whose reply is lost is the one that decides.
    const project = await bench.putProject({ committee: { size: 1, quorum: 1 } });
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'sender');
    const fault = bench.proxy.dropReplyOnce(recordVoteWrite);
    await bench.start(bench.faulty, 'consensus');
    const id = await bench.accept(project);
    const [member] = scriptArgs((await injected(fault)).command)!.argv;
    expect(bench.nodes.map((n) => n.nodeId)).to.include(member);
    expect(await finishedJob(bench.direct, 'votes', jobIds.vote(id, member), member)).to.equal('agreed');
    const request = await bench.waitForStatus(id, 'published');
    expect(request.votes.map((v) => ({ nodeId: v.nodeId, seq: v.seq, late: v.late }))).to.deep.equal([{ nodeId: member, seq: 0, late: undefined }]);
    expect((await bench.direct.repository.listNodeStats([member]))[0]).to.deep.equal({ votes: 1, agreed: 1, disagreed: 0, late: 0, missed: 0 });
    await bench.expectLedgerVerifies(1);
    await expectNoOpenRequests(bench);
  });

  it('agree: a re-sent assigned → agreed is one agreement and one publication', async () => {
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'sender');
    const fault = bench.proxy.dropReplyOnce(transitionTo('agreed'));
    await bench.start(bench.faulty, 'consensus');
    const id = await bench.accept(await bench.putProject());
    expect((await injected(fault)).command.args).to.include(id);
    const request = await bench.waitForStatus(id, 'published');
    expect(await histogramCount(bench.faulty, 'acceptedToAgreed'), 'agreements consensus counted').to.equal(1);
    await bench.expectLedgerVerifies(1);
    await expectSeatsCountedOnce(bench, request);
    await expectNoOpenRequests(bench);
  });

  it('node statistics: a re-sent addition counts each committee seat once', async () => {
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'sender');
    const fault = bench.proxy.dropReplyOnce(nodeStatsWrite);
    let isFaulted = false;
    void fault.then(() => { isFaulted = true; });
    await bench.start(bench.faulty, 'consensus');
    // The statistics get a call of their own (not the agreement's) when the third vote is recorded
    // between the deciding vote's record and the agreement, which the vote timing decides: requests
    // go one at a time, each published and counted, until one of them took that path.
    const project = await bench.putProject();
    const requests: RequestRecord[] = [];
    for (let n = 1; n <= MAX_REQUESTS_FOR_A_RACE && !isFaulted; n++) {
      const id = await bench.accept(project, { a: n, b: 1 });
      requests.push(await bench.waitForStatus(id, 'published'));
      await expectSeatsCountedOnce(bench, ...requests);
    }
    const faulted = (await injected(fault)).command.args;
    expect(requests.filter((r) => faulted.includes(bench.keys.request(r.id)))).to.have.length(1);
    await expectSeatsCountedOnce(bench, ...requests);
    await bench.expectLedgerVerifies(requests.length);
  });

  it('ledger append: a re-sent append writes each request once, and the ledger verifies', async () => {
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'consensus');
    const fault = bench.proxy.dropReplyOnce(ledgerAppendWrite);
    await bench.start(bench.faulty, 'sender');
    const project = await bench.putProject();
    const ids = await Promise.all([1, 2, 3].map((a) => bench.accept(project, { a, b: 1 })));
    await injected(fault);
    const seqs: number[] = [];
    for (const id of ids) seqs.push((await bench.waitForStatus(id, 'published')).ledger!.seq);
    expect([...seqs].sort()).to.deep.equal([1, 2, 3]);
    expect(await bench.direct.connection.llen(bench.keys.ledger)).to.equal(3);
    expect(await bench.direct.connection.hgetall(bench.keys.ledgerByRequest)).to.deep.equal(Object.fromEntries(ids.map((id, i) => [id, String(seqs[i])])));
    await bench.expectLedgerVerifies(3);
    await expectNoOpenRequests(bench);
  });

  it('publish: a re-sent agreed → published is one publication with its ledger entry', async () => {
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'consensus');
    const fault = bench.proxy.dropReplyOnce(transitionTo('published'));
    await bench.start(bench.faulty, 'sender');
    const id = await bench.accept(await bench.putProject());
    expect((await injected(fault)).command.args).to.include(id);
    const request = await bench.waitForStatus(id, 'published');
    expect(await finishedJob(bench.direct, 'publish', jobIds.publish(id))).to.equal('published');
    expect(await histogramCount(bench.faulty, 'acceptedToPublished'), 'publications the sender counted').to.equal(1);
    expect((await bench.direct.repository.getLedgerEntryOf(id))).to.deep.include({ seq: 1, hash: request.ledger!.hash });
    await bench.expectLedgerVerifies(1);
    await expectNoOpenRequests(bench);
  });

  it('chain outbox: a re-sent hand-over leaves one outbox entry for a published chain request', async () => {
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'consensus');
    const fault = bench.proxy.dropReplyOnce(outboxWrite);
    await bench.start(bench.faulty, 'sender');
    const project = await bench.putProject();
    const { id } = await acceptRequest(
      { repository: bench.direct.repository, queues: bench.direct.queues, config: bench.direct.config, nowMs: Date.now() },
      { project, input: { a: 1, b: 1 }, source: 'chain', idempotencyKey: 'chain.7.1', origin: { chainProjectId: 7, reqId: 1, user: 'archway1user', input: '{"a":1,"b":1}' } },
    );
    expect((await injected(fault)).command.args).to.include(id);
    await bench.waitForStatus(id, 'published');
    const outbox = await bench.direct.connection.zrange(bench.keys.chainOutbox, '0', '-1');
    expect(outbox).to.deep.equal([id]);
    await bench.expectLedgerVerifies(1);
    await expectNoOpenRequests(bench);
  });
});

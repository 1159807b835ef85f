// Re-sent writes of the request pipeline: the connection of the role under test is cut after Redis
// applied its write and before the reply came back, so the write runs twice. Each case runs the
// real roles and asserts one effect: one assignment with its run jobs, one counted vote per node,
// one agreement, each seat once in its node's statistics, one ledger entry per request in a ledger that verifies, one outbox entry.
import { expect } from 'chai';
import { createSigner } from '../../lib/crypto/keys.ts';
import { createId } from '../../lib/ids.ts';
import { computeVoteBinding, createVote } from '../../lib/protocol/vote.ts';
import { jobIds } from '../../lib/queues.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { scriptArgs } from '../support/fault-proxy.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { handlerOutcomes, seedAgreedRequest, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { SETTLE_MS, openFaultBench, type FaultBench } from './support/fault-bench.ts';
import {
  expectNoOpenRequests, expectSeatsCountedOnce, finishedJob, histogramCount, injected, ledgerAppendWrite, nodeStatsWrite, outboxWrite, recordAndAgreeWrite,
  recordVoteWrite, transitionTo, votingNodeOf,
} from './support/checks.ts';

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

  it('vote record: a re-sent vote counts once, and the request is still decided and published once', async () => {
    // The first vote of a 2-of-3 request decides nothing: consensus records it alone.
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'sender');
    const fault = bench.proxy.dropReplyOnce(recordVoteWrite);
    await bench.start(bench.faulty, 'consensus');
    const id = await bench.accept(await bench.putProject());
    const faulted = scriptArgs((await injected(fault)).command)!;
    const member = votingNodeOf(faulted.argv, faulted.keys);
    expect(bench.nodes.map((n) => n.nodeId)).to.include(member);
    const request = await bench.waitForStatus(id, 'published');
    expect(request.votes.filter((v) => v.nodeId === member)).to.have.length(1);
    expect(request.votes.map((v) => v.seq)).to.deep.equal(request.votes.map((_, i) => i));
    expect(await histogramCount(bench.faulty, 'acceptedToAgreed'), 'agreements consensus counted').to.equal(1);
    await bench.expectLedgerVerifies(1);
    await expectSeatsCountedOnce(bench, request);
    await expectNoOpenRequests(bench);
  });

  it('vote record: a re-sent record of a deciding vote consensus did not foresee still decides, once', async () => {
    // Two of two: the first member's vote is stored before consensus starts (as another consensus
    // process would have), so the second's is not foreseen to decide and is recorded alone.
    const project = await bench.putProject({ committee: { size: 2, quorum: 2 } });
    await bench.start(bench.direct, 'receiver', 'sender');
    const id = await bench.accept(project);
    const request = await bench.waitForStatus(id, 'assigned');
    const [first, second] = request.assignment!.committee.map((nodeId) => bench.nodes.find((n) => n.nodeId === nodeId)!);
    const { requestId: _id, ...earlier } = createVote(createSigner(first.keys.signSecretKey), {
      requestId: id, nodeId: first.nodeId, round: request.assignment!.round, ok: true, value: { sum: 5 },
    }, computeVoteBinding(request, request.assignment!));
    expect((await bench.direct.repository.recordVote(id, earlier)).outcome).to.equal('recorded');
    const fault = bench.proxy.dropReplyOnce(recordVoteWrite);
    await bench.start(bench.faulty, 'consensus');
    await bench.startNodes([second]);
    const faulted = scriptArgs((await injected(fault)).command)!;
    expect(votingNodeOf(faulted.argv, faulted.keys)).to.equal(second.nodeId);
    expect(await finishedJob(bench.direct, 'votes', jobIds.vote(id, second.nodeId), second.nodeId)).to.equal('agreed');
    const published = await bench.waitForStatus(id, 'published');
    expect(published.votes.map((v) => [v.nodeId, v.seq, v.late])).to.deep.equal([[first.nodeId, 0, undefined], [second.nodeId, 1, undefined]]);
    expect(published.outcome).to.deep.include({ ok: true, value: { sum: 5 }, supporters: [first.nodeId, second.nodeId] });
    expect(await handlerOutcomes(bench.faulty, 'consensus', 'agree')).to.deep.equal({ applied: 1 });
    expect(await handlerOutcomes(bench.faulty, 'consensus', 'agree_with_record')).to.deep.equal({});
    expect(await handlerOutcomes(bench.faulty, 'consensus', 'publish_job')).to.deep.equal({ added: 1 });
    await bench.expectLedgerVerifies(1);
    await expectSeatsCountedOnce(bench, published);
    await expectNoOpenRequests(bench);
  });

  it('vote record with its agreement: a re-sent record of the deciding vote is one vote, one agreement and one publication', async () => {
    // One seat: the first vote decides, and consensus foresees it, so its record applies the agreement in the same script.
    const project = await bench.putProject({ committee: { size: 1, quorum: 1 } });
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'sender');
    const fault = bench.proxy.dropReplyOnce(recordAndAgreeWrite);
    await bench.start(bench.faulty, 'consensus');
    const id = await bench.accept(project);
    const faulted = scriptArgs((await injected(fault)).command)!;
    const member = votingNodeOf(faulted.argv, faulted.keys);
    expect(bench.nodes.map((n) => n.nodeId)).to.include(member);
    expect(await finishedJob(bench.direct, 'votes', jobIds.vote(id, member), member)).to.equal('agreed');
    const request = await bench.waitForStatus(id, 'published');
    expect(request.votes.map((v) => ({ nodeId: v.nodeId, seq: v.seq, late: v.late }))).to.deep.equal([{ nodeId: member, seq: 0, late: undefined }]);
    expect((await bench.direct.repository.listNodeStats([member]))[0]).to.deep.equal({ votes: 1, agreed: 1, disagreed: 0, late: 0, missed: 0 });
    // The re-sent script found this very call's agreement: counted as a repeat, and the agreement observed once.
    expect(await histogramCount(bench.faulty, 'acceptedToAgreed'), 'agreements consensus counted').to.equal(1);
    expect(await handlerOutcomes(bench.faulty, 'consensus', 'agree')).to.deep.equal({ repeat: 1 });
    expect(await handlerOutcomes(bench.faulty, 'consensus', 'publish_job')).to.deep.equal({ added: 1 });
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
    // The statistics get a call of their own only when voting closed without them (a consensus that
    // stopped between its agreement and the settling): the due sweep's settling. The request is agreed
    // as such a consensus leaves it, with a deadline entry due now.
    const project = await bench.putProject();
    const request = await seedAgreedRequest(bench.direct, bench.nodes, {
      id: createId('req', Date.now()), projectId: project.id, version: 1, codeCid: project.codeCid, source: 'api', input: null, value: 5, committeeSize: 3, quorum: 2,
    });
    await bench.direct.repository.putDueEntry({ kind: 'deadline', requestId: request.id, dueAtMs: Date.now() });
    const fault = bench.proxy.dropReplyOnce(nodeStatsWrite);
    await bench.start(bench.faulty, 'consensus');
    expect((await injected(fault)).command.args).to.include(bench.keys.request(request.id));
    await expectSeatsCountedOnce(bench, request);
    expect(await bench.direct.repository.listNodeStats(request.assignment!.committee)).to.deep.equal(request.assignment!.committee.map(() => ({ votes: 1, agreed: 1, disagreed: 0, late: 0, missed: 0 })));
    await waitFor(async () => ((await bench.direct.repository.listDueEntries(Date.now() + 1_000, 10)).length === 0 ? true : undefined), SETTLE_MS, 'the due entry removed');
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

// Every queue hand-off on a real redis-server: receiver → executors → consensus → sender, deadlines
// (in the due-time index), redelivered jobs, late votes, and votes from outside the committee.
import { expect } from 'chai';
import type { Job } from 'bullmq';
import { fromHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { createSigner, verifySignature } from '../../lib/crypto/keys.ts';
import { createCommitteeSelector } from '../../lib/protocol/committee.ts';
import { verifyLedgerEntries, type HashedLedgerEntry } from '../../lib/protocol/ledger.ts';
import { computeVoteBinding, createVote, encodeVoteMessage } from '../../lib/protocol/vote.ts';
import { jobIds, type JobPayloads, type QueueKind } from '../../lib/queues.ts';
import { startExecutorNode, startRole, type ProcessContext } from '../../lib/process.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { Project } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import { createNodeRecord } from '../../lib/roles/node-record.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes, type TestNode } from '../support/builders.ts';
import { TEST_LIMITS, handlerOutcomes, jobResult, openTestProcess, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const CODE = 'export default (input, ctx) => ({ sum: input.a + input.b, round: ctx.round });';

describe('pipeline hand-offs', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  let handles: RoleHandle[];
  const nodes = buildNodes(5);

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    // Counted from acceptance: long enough for a request that first waits for frozen tickets on a busy machine.
    ctx = await openTestProcess(redis.url, { GATEWAY_REQUEST_DEADLINE_MS: '20000' });
    sandbox = createSandboxRunner();
    handles = [];
  });
  afterEach(async () => {
    for (const handle of handles.reverse()) await handle.stop();
    await sandbox.close();
    await ctx.close();
  });

  async function putProject(overrides: Partial<Project> = {}, code = CODE): Promise<Project> {
    const nowMs = Date.now();
    const project: Project = {
      id: `prj_${nowMs.toString(32).padStart(10, '0')}${Math.random().toString(36).slice(2, 10).padEnd(16, '0')}`,
      name: 'test', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
      limits: TEST_LIMITS, version: 1, codeCid: computeContentId(utf8(code)),
      createdAt: new Date(nowMs).toISOString(), ...overrides,
    };
    await ctx.repository.putProject(project, code, `hash-${project.id}`, nowMs);
    return project;
  }

  async function accept(project: Project, input: unknown = { a: 2, b: 3 }): Promise<string> {
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs: Date.now() }, { project, input, source: 'api' });
    return id;
  }

  async function start(...roles: ('receiver' | 'consensus' | 'sender' | 'scheduler')[]): Promise<void> {
    for (const role of roles) handles.push(await startRole(role, ctx));
  }

  function startNodes(members: readonly TestNode[]): Promise<void> {
    return Promise.all(members.map(async (node) => {
      handles.push(await startExecutor({ ...ctx, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
    })).then(() => undefined);
  }

  async function getJob<K extends QueueKind>(kind: K, id: string, nodeId?: string): Promise<Job<JobPayloads[K]> | undefined> {
    return (await ctx.queues.get(kind, nodeId).getJob(id)) as Job<JobPayloads[K]> | undefined;
  }

  /** Re-adds a completed job under the same id: what a redelivery looks like to the handler. */
  async function redeliver<K extends QueueKind>(kind: K, id: string, nodeId?: string): Promise<unknown> {
    const job = await waitFor(async () => {
      const found = await getJob(kind, id, nodeId);
      return found && (await found.isCompleted()) ? found : undefined;
    }, 5000, `job ${id} completed`);
    const data = job.data;
    await job.remove();
    await ctx.queues.add(kind, id, data, { nodeId });
    return jobResult(ctx, kind, id, nodeId);
  }

  async function committeeFor(requestId: string, k: number): Promise<string[]> {
    const tickets = await ctx.repository.listTickets(1);
    return createCommitteeSelector(tickets.map((t) => ({ nodeId: t.nodeId, beta: fromHex(t.beta) }))).select(requestId, k);
  }

  const hintOutcomes = () => handlerOutcomes(ctx, 'receiver', 'incoming_hints');

  const assigned = (id: string) => waitFor(async () => {
    const request = await ctx.repository.getRequest(id);
    return request?.status === 'assigned' ? request : undefined;
  }, 5000, 'assignment');

  const final = (id: string) => waitFor(async () => {
    const request = await ctx.repository.getRequest(id);
    return request && (request.status === 'published' || request.status === 'failed') ? request : undefined;
  }, 10_000, 'a final state');

  /** A request assigned in round 2 with no executors running: votes are the test's to send. */
  async function assignWithoutExecutors(): Promise<{ id: string; members: TestNode[]; outsider: TestNode }> {
    await seedFrozenRound(ctx, nodes);
    const id = await accept(await putProject());
    await start('receiver');
    const { committee } = (await assigned(id)).assignment!;
    return { id, members: committee.map((m) => nodes.find((n) => n.nodeId === m)!), outsider: nodes.find((n) => !committee.includes(n.nodeId))! };
  }

  // A vote as a member would sign it: bound to the request's time, committee rule, code and input.
  const signedVote = async (node: TestNode, requestId: string, value: unknown) => {
    const request = (await ctx.repository.getRequest(requestId))!;
    return createVote(createSigner(node.keys.signSecretKey), { requestId, nodeId: node.nodeId, round: 2, ok: true, value }, computeVoteBinding(request, request.assignment!));
  };

  it('receiver assigns the committee from the frozen tickets, writes the deadline into the due-time index and sends one run job per member', async () => {
    const roundSeed = await seedFrozenRound(ctx, nodes);
    const project = await putProject();
    const id = await accept(project);
    await start('receiver');
    const request = await assigned(id);
    expect(request.assignment).to.deep.include({ round: 2, roundSeed, quorum: 2, aggregation: 'exact', committee: await committeeFor(id, 3) });
    for (const member of request.assignment!.committee) {
      expect((await getJob('exec', jobIds.run(id, member), member))?.data).to.deep.equal({ kind: 'run', requestId: id, projectId: project.id });
    }
    const due = await ctx.connection.zrange(createKeys(ctx.config.keyPrefix).due(0), '0', '-1', 'WITHSCORES');
    expect(due).to.deep.equal([`deadline.${id}`, String(Date.parse(request.createdAt) + 20_000)]);
    // The incoming job named the project and the acceptance time, and the assignment was made from them.
    expect((await getJob('incoming', jobIds.incoming(id)))?.data).to.deep.equal({ kind: 'request', requestId: id, projectId: project.id, acceptedAtMs: Date.parse(request.createdAt) });
    expect(await hintOutcomes()).to.deep.equal({ used: 1 });
  });

  it('an incoming job whose hints name another project and an earlier time is assigned from the record: its own committee rule and deadline', async () => {
    await seedFrozenRound(ctx, nodes);
    const project = await putProject();
    const other = await putProject({ committee: { size: 5, quorum: 3 } });
    const id = await accept(project);
    const { createdAt } = (await ctx.repository.getRequest(id))!;
    // Anyone with queue access can write a payload: this one replaces the webserver's.
    await (await getJob('incoming', jobIds.incoming(id)))!.remove();
    await ctx.queues.add('incoming', jobIds.incoming(id), { kind: 'request', requestId: id, projectId: other.id, acceptedAtMs: Date.parse(createdAt) - 10_000 });
    await start('receiver');
    const request = await assigned(id);
    expect(await jobResult(ctx, 'incoming', jobIds.incoming(id))).to.equal('assigned');
    expect(request.assignment).to.deep.include({ quorum: 2, committee: await committeeFor(id, 3) });
    const due = await ctx.connection.zrange(createKeys(ctx.config.keyPrefix).due(0), '0', '-1', 'WITHSCORES');
    expect(due).to.deep.equal([`deadline.${id}`, String(Date.parse(createdAt) + 20_000)]);
    expect(await hintOutcomes()).to.deep.equal({ refused: 1 });
  });

  it('a redelivered incoming job leaves the assignment and the jobs as they were', async () => {
    await seedFrozenRound(ctx, nodes);
    const id = await accept(await putProject());
    await start('receiver');
    const first = await assigned(id);
    expect(await redeliver('incoming', jobIds.incoming(id))).to.equal('redispatched');
    const again = await ctx.repository.getRequest(id);
    expect(again?.assignment).to.deep.equal(first.assignment);
    for (const member of first.assignment!.committee) expect(await ctx.queues.get('exec', member).getJobCounts()).to.include({ waiting: 1 });
  });

  it('a redelivered incoming job sends run jobs again only to the members that have not voted', async () => {
    await seedFrozenRound(ctx, nodes);
    const id = await accept(await putProject());
    await start('receiver');
    const { assignment } = await assigned(id);
    const [voter, ...others] = assignment!.committee;
    // The run jobs went away (ran, then were removed); one member's vote is recorded.
    for (const member of assignment!.committee) await (await getJob('exec', jobIds.run(id, member), member))!.remove();
    const vote = { nodeId: voter, round: assignment!.round, ok: true, resultHash: '11'.repeat(32), value: 42, signature: '33'.repeat(64) };
    expect((await ctx.repository.recordVote(id, vote)).outcome).to.equal('recorded');
    expect(await redeliver('incoming', jobIds.incoming(id))).to.equal('redispatched');
    expect(await getJob('exec', jobIds.run(id, voter), voter)).to.equal(undefined);
    for (const member of others) expect((await getJob('exec', jobIds.run(id, member), member))?.data).to.deep.include({ requestId: id });
  });

  it('a run job taken again after its member voted does not run the code again: it ends already_voted, and sends no vote', async () => {
    await seedFrozenRound(ctx, nodes);
    const id = await accept(await putProject());
    await start('receiver');
    const { assignment } = await assigned(id);
    const voter = assignment!.committee[0];
    const vote = { nodeId: voter, round: assignment!.round, ok: true, resultHash: '11'.repeat(32), value: 42, signature: '33'.repeat(64) };
    expect((await ctx.repository.recordVote(id, vote)).outcome).to.equal('recorded');
    // As BullMQ records a take: the worker that took it first died after its vote (the stalled check put it back).
    await ctx.connection.hincrby(ctx.queues.get('exec', voter).toKey(jobIds.run(id, voter)), 'ats', 1);
    await startNodes(nodes.filter((node) => node.nodeId === voter));
    expect(await jobResult(ctx, 'exec', jobIds.run(id, voter), voter)).to.equal('already_voted');
    expect(await ctx.queues.get('votes', voter).getJobCounts('waiting', 'active', 'completed')).to.deep.equal({ waiting: 0, active: 0, completed: 0 });
  });

  it('executors vote only where they sit on the committee, with valid signatures', async () => {
    await seedFrozenRound(ctx, nodes);
    const id = await accept(await putProject());
    await start('receiver');
    const { assignment } = await assigned(id);
    await startNodes(nodes);
    const waitingVotes = async () => (await Promise.all(assignment!.committee.map((member) => ctx.queues.get('votes', member).getJobs(['waiting'])))).flat();
    const votes = await waitFor(async () => {
      const jobs = await waitingVotes();
      return jobs.filter((j) => j.data.kind === 'vote').length === 3 ? jobs : undefined;
    }, 10_000, 'three votes');
    for (const job of votes) {
      if (job.data.kind !== 'vote') continue;
      const { vote } = job.data;
      expect(assignment!.committee).to.include(vote.nodeId);
      expect(vote.value).to.deep.equal({ sum: 5, round: 2 });
      const node = nodes.find((n) => n.nodeId === vote.nodeId)!;
      const stored = (await ctx.repository.getRequest(id))!;
      const message = encodeVoteMessage({ ...computeVoteBinding(stored, stored.assignment!), requestId: id, round: 2, ok: true, resultHash: fromHex(vote.resultHash) });
      expect(verifySignature(node.keys.signPublicKey, message, fromHex(vote.signature))).to.equal(true);
    }
    // A redelivered run job re-runs the code, but its vote job id is taken: still one vote per member.
    const member = assignment!.committee[0];
    expect(await redeliver('exec', jobIds.run(id, member), member)).to.equal('voted ok');
    expect((await waitingVotes()).filter((j) => j.data.kind === 'vote')).to.have.length(3);
    const outsider = nodes.find((n) => !assignment!.committee.includes(n.nodeId))!;
    await ctx.queues.add('exec', jobIds.run(id, outsider.nodeId), { kind: 'run', requestId: id }, { nodeId: outsider.nodeId });
    expect(await jobResult(ctx, 'exec', jobIds.run(id, outsider.nodeId), outsider.nodeId)).to.equal('not_member');
    expect(await getJob('votes', jobIds.vote(id, outsider.nodeId), outsider.nodeId)).to.equal(undefined);
  });

  it('runs with the secrets of the request\'s own project whatever project a run job names', async () => {
    await seedFrozenRound(ctx, nodes);
    const code = 'export default (input, ctx) => ({ token: ctx.secrets.TOKEN ?? null })';
    const [own, other] = [await putProject({}, code), await putProject({}, code)];
    await ctx.repository.putSecrets(own.id, { TOKEN: 'own-token' });
    await ctx.repository.putSecrets(other.id, { TOKEN: 'other-token' });
    const id = await accept(own, {});
    await start('receiver');
    const { assignment } = await assigned(id);
    const [forged, honest, missing] = assignment!.committee;
    // Each member's run job replaced before any node runs: one names another project, one none.
    for (const [member, projectId] of [[forged, other.id], [honest, own.id], [missing, undefined]] as const) {
      const jobId = jobIds.run(id, member);
      await (await getJob('exec', jobId, member))!.remove();
      await ctx.queues.add('exec', `${jobId}.again`, { kind: 'run', requestId: id, ...(projectId ? { projectId } : {}) }, { nodeId: member });
    }
    await startNodes(nodes);
    const values = await waitFor(async () => {
      const jobs = (await Promise.all(assignment!.committee.map((member) => getJob('votes', jobIds.vote(id, member), member))));
      return jobs.every((job) => job?.data.kind === 'vote') ? jobs.map((job) => (job!.data as { vote: { value: unknown } }).vote.value) : undefined;
    }, 10_000, 'three votes');
    expect(values).to.deep.equal([{ token: 'own-token' }, { token: 'own-token' }, { token: 'own-token' }]);
  });

  it('consensus refuses outsiders and duplicates, agrees at quorum, refuses late votes', async () => {
    const { id, members, outsider } = await assignWithoutExecutors();
    await start('consensus');
    const submit = async (jobId: string, node: TestNode, value: unknown) => {
      await ctx.queues.add('votes', jobId, { kind: 'vote', vote: await signedVote(node, id, value) }, { nodeId: node.nodeId });
      return jobResult(ctx, 'votes', jobId, node.nodeId);
    };
    expect(await submit('t1', outsider, { sum: 5, round: 2 })).to.equal('refused: not_member');
    expect(await submit('t2', members[0], { sum: 5, round: 2 })).to.equal('pending');
    expect(await submit('t3', members[0], { sum: 5, round: 2 })).to.equal('pending');
    expect(await submit('t4', members[0], { sum: 6, round: 2 })).to.equal('refused: duplicate');
    expect((await ctx.repository.getRequest(id))?.votes.map((v) => v.nodeId)).to.deep.equal([members[0].nodeId]);
    expect(await submit('t5', members[1], { sum: 5, round: 2 })).to.equal('agreed');
    const agreed = await ctx.repository.getRequest(id);
    expect(agreed?.status).to.equal('agreed');
    expect(agreed?.outcome).to.deep.include({ ok: true, value: { sum: 5, round: 2 }, supporters: [members[0].nodeId, members[1].nodeId] });
    expect((await getJob('publish', jobIds.publish(id)))?.data).to.deep.equal({ kind: 'publish', requestId: id });
    // A vote after agreement passes every check and is kept as late; it never counts.
    expect(await submit('t6', members[2], { sum: 7, round: 2 })).to.equal('late');
    const withLate = (await ctx.repository.getRequest(id))!;
    expect(withLate.votes.map((v) => [v.nodeId, v.late ?? false])).to.deep.equal([[members[0].nodeId, false], [members[1].nodeId, false], [members[2].nodeId, true]]);
    expect(withLate.outcome).to.deep.equal(agreed!.outcome);
    expect(await submit('t7', members[2], { sum: 5, round: 2 })).to.equal('refused: duplicate');
  });

  it('members agree on code that uses Math.random and Date, which are seeded per request', async () => {
    await seedFrozenRound(ctx, nodes);
    const id = await accept(await putProject({}, 'export default () => ({ r: Math.random(), t: Date.now() });'));
    await start('receiver', 'consensus', 'sender');
    await startNodes(nodes);
    const request = await final(id);
    expect(request.status).to.equal('published');
    expect(request.votes).to.have.length.of.at.least(2);
    expect(new Set(request.votes.map((v) => v.resultHash)).size).to.equal(1);
    expect((request.outcome?.value as { t: number }).t).to.equal(Date.parse(request.createdAt));
  });

  it('a committee whose votes all differ fails with no_quorum', async () => {
    const { id, members } = await assignWithoutExecutors();
    await start('consensus');
    for (const [i, node] of members.entries()) {
      await ctx.queues.add('votes', jobIds.vote(id, node.nodeId), { kind: 'vote', vote: await signedVote(node, id, i) }, { nodeId: node.nodeId });
    }
    const request = await final(id);
    expect(request.failure).to.deep.equal({ code: 'no_quorum', message: '3 of 3 votes and no value can reach the quorum of 2' });
    expect(request.votes).to.have.length(3);
  });

  it('sender appends each request to the ledger once, even when the publish job is redelivered', async () => {
    await seedFrozenRound(ctx, nodes);
    await start('receiver', 'consensus', 'sender');
    await startNodes(nodes);
    const project = await putProject();
    const ids = [await accept(project), await accept(project, { a: 10, b: 1 })];
    const finished = await Promise.all(ids.map(final));
    expect(finished.map((r) => r.status)).to.deep.equal(['published', 'published']);
    expect(await redeliver('publish', jobIds.publish(ids[0]))).to.equal('already published');
    const page = await ctx.repository.listLedger(0, 10);
    expect(page.items.map((e) => e.requestId).sort()).to.deep.equal([...ids].sort());
    expect(verifyLedgerEntries(page.items as HashedLedgerEntry[])).to.deep.include({ ok: true, length: 2 });
    const first = finished[0];
    expect(first.ledger).to.deep.equal({ seq: page.items.find((e) => e.requestId === ids[0])!.seq, hash: page.items.find((e) => e.requestId === ids[0])!.hash });
    expect(first.outcome?.value).to.deep.equal({ sum: 5, round: 2 });
  });

  it('a request sent before any round is frozen waits for tickets, then is served', async () => {
    for (const node of nodes.slice(0, 3)) {
      await ctx.repository.putNode(createNodeRecord(node.keys, node.nodeId, Date.now()));
    }
    const id = await accept(await putProject());
    await start('receiver', 'consensus', 'sender');
    await startNodes(nodes.slice(0, 3));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await ctx.repository.getRequest(id))?.status).to.equal('queued');
    await start('scheduler');
    const request = await final(id);
    expect(request.status).to.equal('published');
    expect(request.assignment!.round).to.be.at.least(2);
  });

  it('a request fails with no_nodes when too few nodes hold tickets once its wait is over', async () => {
    await ctx.close();
    ctx = await openTestProcess(redis.url, { GATEWAY_ASSIGN_WAIT_MS: '200' });
    await seedFrozenRound(ctx, nodes.slice(0, 1));
    const id = await accept(await putProject());
    await start('receiver');
    const request = await final(id);
    expect(request.failure).to.deep.equal({ code: 'no_nodes', message: '1 eligible node(s), the committee needs 3' });
  });

  it('a request nobody answers fails with timeout at its deadline', async () => {
    await ctx.close();
    ctx = await openTestProcess(redis.url, { GATEWAY_REQUEST_DEADLINE_MS: '300' });
    await seedFrozenRound(ctx, nodes);
    const id = await accept(await putProject());
    await start('receiver', 'consensus');
    const request = await final(id);
    expect(request.status).to.equal('failed');
    expect(request.failure).to.deep.equal({ code: 'timeout', message: 'no agreed result within 300 ms of acceptance' });
    // Removed once applied (right after the transition that failed the request).
    await waitFor(async () => ((await ctx.connection.zcard(createKeys(ctx.config.keyPrefix).due(0))) === 0 ? true : undefined), 5000, 'the deadline entry removed');
  });

  it('an executor node registers its keys and runs with a seed file', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'gw-node-'));
    try {
      const handle = await startExecutorNode(ctx, join(dir, 'node.key'), { sandbox });
      handles.push(handle);
      const registered = await ctx.repository.listNodes();
      expect(registered).to.have.length(1);
      expect(handle.name).to.equal(`executor ${registered[0].id}`);
      expect(registered[0].signPublicKey).to.match(/^[0-9a-f]{64}$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

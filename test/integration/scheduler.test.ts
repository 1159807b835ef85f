// The scheduler on a real redis-server: the verifiable round chain under a lease, tickets from
// executor nodes, late tickets, cron schedules without double fires, and the repair sweep.
import { Worker } from 'bullmq';
import { expect } from 'chai';
import { fromHex, toHex } from '../../lib/crypto/bytes.ts';
import { publicKey } from '../../lib/crypto/ecvrf.ts';
import { computeTicketsRoot, verifyRoundChain } from '../../lib/protocol/rounds.ts';
import { createTicket, verifyTicket } from '../../lib/protocol/tickets.ts';
import { startRole, type ProcessContext } from '../../lib/process.ts';
import { jobIds } from '../../lib/queues.ts';
import { closeRedis, createRedis } from '../../lib/redis.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { Project } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import { scheduleTickKey } from '../../lib/roles/scheduler/cron-schedules.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import { createNodeRecord } from '../../lib/roles/node-record.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes } from '../support/builders.ts';
import { COUNTER_KEY, TEST_LIMITS, handlerOutcomes, jobResult, openTestProcess, seedFrozenRound, waitFor, roundProofOf } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

describe('scheduler', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  let handles: RoleHandle[];
  const nodes = buildNodes(3);

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    ctx = await openTestProcess(redis.url);
    sandbox = createSandboxRunner();
    handles = [];
  });
  afterEach(async () => {
    for (const handle of handles.reverse()) await handle.stop();
    await sandbox.close();
    await ctx.close();
  });

  async function registerAndRunNodes(): Promise<void> {
    for (const node of nodes) {
      await ctx.repository.putNode(createNodeRecord(node.keys, node.nodeId, Date.now()));
      handles.push(await startExecutor({ ...ctx, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
    }
  }

  async function putProject(): Promise<Project> {
    const project: Project = {
      id: 'prj_0000000000schedulertest00', name: 's', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
      limits: TEST_LIMITS, version: 1, codeCid: 'bafkreitest', createdAt: new Date().toISOString(),
    };
    await ctx.repository.putProject(project, 'export default () => 1;', 'hash-s', Date.now());
    return project;
  }

  it('advances a verifiable round chain and collects every active node ticket', async () => {
    // Rounds long enough for every ticket to arrive in time on a busy machine.
    await ctx.close();
    ctx = await openTestProcess(redis.url, { GATEWAY_ROUND_MS: '300' });
    await registerAndRunNodes();
    const scheduler = await startRole('scheduler', ctx);
    // Round 5, and a frozen round holding every node's ticket (on a busy machine a ticket may miss a 300 ms round).
    const isFull = async (r: number) => (await ctx.repository.getRound(r))?.frozen === true && (await ctx.repository.listTickets(r)).length === nodes.length;
    const fullRound = await waitFor(async () => {
      const latest = await ctx.repository.getLatestRoundNumber();
      if (latest < 5) return undefined;
      for (let r = 2; r < latest; r++) if (await isFull(r)) return r;
      return undefined;
    }, 30_000, 'round 5 and a round with every ticket');
    // Stopped, the scheduler starts no round between the reads below (a busy machine could fit one in).
    await scheduler.stop();
    const latest = await ctx.repository.getLatestRoundNumber();
    const rounds = [];
    for (let r = 1; r <= latest; r++) {
      const round = (await ctx.repository.getRound(r))!;
      rounds.push(roundProofOf(round));
      expect(round.frozen).to.equal(r < latest);
      // Each round committed to the frozen ticket set of the one before (v2), and to the ledger head.
      expect(round.ticketsRoot).to.equal(toHex(computeTicketsRoot(r > 1 ? await ctx.repository.listTickets(r - 1) : [])));
      expect({ length: round.ledgerLength, head: round.ledgerHead }).to.deep.equal({ length: 0, head: '0'.repeat(64) });
    }
    expect(verifyRoundChain(publicKey(COUNTER_KEY), rounds)).to.deep.equal({ ok: true });
    // A ticket set changed afterwards no longer matches what the next round committed to.
    const changedRoot = computeTicketsRoot(await ctx.repository.listTickets(3));
    changedRoot[0] ^= 1;
    const tampered = { ...rounds[3], ticketsRoot: changedRoot };
    expect(verifyRoundChain(publicKey(COUNTER_KEY), [...rounds.slice(0, 3), tampered])).to.deep.equal({ ok: false, round: 4, reason: 'bad_proof' });
    const tickets = await ctx.repository.listTickets(fullRound);
    expect(tickets.map((t) => t.nodeId)).to.deep.equal(nodes.map((n) => n.nodeId).sort());
    for (const ticket of tickets) {
      const node = nodes.find((n) => n.nodeId === ticket.nodeId)!;
      expect(verifyTicket(node.keys.vrfPublicKey, fullRound, rounds[fullRound - 1].seed, { nodeId: ticket.nodeId, beta: fromHex(ticket.beta), proof: fromHex(ticket.proof) })).to.equal(true);
    }
    expect((await ctx.repository.getNode(nodes[0].nodeId))?.lastTicketRound).to.be.at.least(fullRound);
  });

  it('lets only the lease holder tick: two schedulers never fork the chain', async () => {
    handles.push(await startRole('scheduler', ctx), await startRole('scheduler', ctx));
    await waitFor(async () => ((await ctx.repository.getLatestRoundNumber()) >= 6 ? true : undefined), 10_000, 'round 6');
    const latest = await ctx.repository.getLatestRoundNumber();
    const rounds = [];
    for (let r = 1; r <= latest; r++) rounds.push(roundProofOf((await ctx.repository.getRound(r))!));
    expect(verifyRoundChain(publicKey(COUNTER_KEY), rounds)).to.deep.equal({ ok: true });
  });

  it('sends ticket requests to a ticket queue of each node, never behind a backlog of runs', async () => {
    await seedFrozenRound(ctx, nodes);
    for (let i = 0; i < 5; i++) await ctx.queues.add('exec', `req_backlog${i}.${nodes[0].nodeId}`, { kind: 'run', requestId: `req_backlog${i}` }, { nodeId: nodes[0].nodeId });
    const scheduler = await startRole('scheduler', ctx);
    await waitFor(async () => ((await ctx.repository.getLatestRoundNumber()) >= 3 ? true : undefined));
    // Stopped, the scheduler has sent the ticket jobs of its last round and starts no other.
    await scheduler.stop();
    const round = await ctx.repository.getLatestRoundNumber();
    const tickets = await ctx.queues.get('ticketRequests', nodes[0].nodeId).getJobs(['waiting'], 0, -1, true);
    expect(tickets.map((job) => job.data).at(-1)).to.deep.equal({ kind: 'ticket', round });
    const runs = await ctx.queues.get('exec', nodes[0].nodeId).getJobs(['waiting'], 0, -1, true);
    expect(runs.map((job) => job.data.kind)).to.deep.equal(['run', 'run', 'run', 'run', 'run']);
  });

  it('refuses a ticket for a frozen round as late and one with a bad proof', async () => {
    await seedFrozenRound(ctx, nodes);
    handles.push(await startRole('scheduler', ctx));
    const round1 = (await ctx.repository.getRound(1))!;
    const ticket = createTicket(nodes[0].nodeId, nodes[0].keys.vrfSecretKey, 1, fromHex(round1.seed));
    expect(await ctx.repository.putTicket(1, { nodeId: nodes[0].nodeId, beta: toHex(ticket.beta), proof: toHex(ticket.proof) })).to.equal('late');
    await ctx.queues.add('tickets', 'late-test', { kind: 'ticket', nodeId: nodes[0].nodeId, round: 1, beta: toHex(ticket.beta), proof: toHex(ticket.proof) }, { nodeId: nodes[0].nodeId });
    expect(await jobResult(ctx, 'tickets', 'late-test', nodes[0].nodeId)).to.equal('refused: late');
    const latest = await ctx.repository.getLatestRoundNumber();
    const current = (await ctx.repository.getRound(latest))!;
    const forged = createTicket(nodes[0].nodeId, nodes[1].keys.vrfSecretKey, latest, fromHex(current.seed));
    await ctx.queues.add('tickets', 'forged-test', { kind: 'ticket', nodeId: nodes[0].nodeId, round: latest, beta: toHex(forged.beta), proof: toHex(forged.proof) }, { nodeId: nodes[0].nodeId });
    expect(await jobResult(ctx, 'tickets', 'forged-test', nodes[0].nodeId)).to.equal('refused: bad proof');
  });

  it('fires a cron schedule, and the same tick never makes a second request', async () => {
    const project = await putProject();
    await ctx.repository.putSchedule({ id: 'sch_0000000000000000000000test', projectId: project.id, cron: '* * * * * *', input: { tick: true }, createdAt: new Date().toISOString() }, 20);
    handles.push(await startRole('scheduler', ctx), await startRole('scheduler', ctx));
    const page = await waitFor(async () => {
      const list = await ctx.repository.listProjectRequests(project.id, 50);
      return list.items.length >= 2 ? list : undefined;
    }, 10_000, 'two scheduled requests');
    expect(page.items[0]).to.deep.include({ source: 'schedule', input: { tick: true } });
    const tickMs = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    const deps = { repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs: Date.now() };
    const first = await acceptRequest(deps, { project, input: null, source: 'schedule', idempotencyKey: scheduleTickKey('sch_x', tickMs) });
    const second = await acceptRequest(deps, { project, input: null, source: 'schedule', idempotencyKey: scheduleTickKey('sch_x', tickMs) });
    expect(second).to.deep.equal({ id: first.id, created: false, isRejected: false });
    const seconds = new Set(page.items.map((r) => Math.floor(Date.parse(r.createdAt) / 1000)));
    expect(seconds.size).to.equal(page.items.length);
  });

  it('re-enqueues a request left queued without a job', async () => {
    await seedFrozenRound(ctx, nodes);
    const project = await putProject();
    const stranded = Date.now() - 10_000;
    await ctx.repository.putRequest({ id: 'req_0000000000stranded00000000', projectId: project.id, version: 1, codeCid: project.codeCid, source: 'api', input: null, createdAtMs: stranded, maxOpen: 1000 });
    handles.push(await startRole('receiver', ctx));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await ctx.repository.getRequest('req_0000000000stranded00000000'))?.status).to.equal('queued');
    handles.push(await startRole('scheduler', ctx));
    const request = await waitFor(async () => {
      const r = await ctx.repository.getRequest('req_0000000000stranded00000000');
      return r && r.status !== 'queued' ? r : undefined;
    }, 10_000, 'the sweep');
    expect(['assigned', 'failed']).to.include(request.status);
  });

  it('restores the deadline entry of an assigned request that has none, at its accepted-at time plus the deadline', async () => {
    const project = await putProject();
    const createdAtMs = Date.now() - 10_000;
    const id = 'req_0000000000nodeadline000000';
    await ctx.repository.putRequest({ id, projectId: project.id, version: 1, codeCid: project.codeCid, source: 'api', input: null, createdAtMs, maxOpen: 1000 });
    const committee = nodes.map((n) => n.nodeId);
    await ctx.repository.assignRequest(id, { round: 2, roundSeed: '00'.repeat(32), committee, quorum: 2, aggregation: 'exact', assignedAt: new Date(createdAtMs).toISOString() }, createdAtMs);
    const due = createKeys(ctx.config.keyPrefix).due(0);
    expect(await ctx.connection.zscore(due, `deadline.${id}`)).to.equal(null);
    handles.push(await startRole('scheduler', ctx));
    const score = await waitFor(() => ctx.connection.zscore(due, `deadline.${id}`).then((s) => s ?? undefined), 10_000, 'the restored entry');
    expect(score).to.equal(String(createdAtMs + ctx.config.requestDeadlineMs));
  });

  it('does not read an assigned request whose incoming job completed, and re-dispatches one whose incoming job is gone', async () => {
    const project = await putProject();
    const atMs = Date.now() - 10_000;
    const committee = nodes.map((n) => n.nodeId);
    const sent = 'req_0000000000dispatched000000';
    const unsent = 'req_0000000000undispatched0000';
    for (const id of [sent, unsent]) {
      await ctx.repository.putRequest({ id, projectId: project.id, version: 1, codeCid: project.codeCid, source: 'api', input: null, createdAtMs: atMs, maxOpen: 1000 });
      const assignment = { round: 2, roundSeed: '00'.repeat(32), committee, quorum: 2, aggregation: 'exact' as const, assignedAt: new Date(atMs).toISOString() };
      expect((await ctx.repository.assignRequest(id, assignment, atMs, atMs + 60_000)).applied).to.equal(true);
    }
    // `sent`'s incoming job completed, as a receiver completes it after sending the run jobs (which have
    // since gone); `unsent` has none: a receiver died between its assignment and its run jobs.
    await ctx.queues.add('incoming', jobIds.incoming(sent), { kind: 'request', requestId: sent });
    const incoming = ctx.queues.get('incoming');
    const connection = createRedis(redis.url, 'test-incoming-worker');
    const worker = new Worker(incoming.name, null, { connection, prefix: incoming.opts.prefix, autorun: false });
    try {
      const job = await worker.getNextJob('test-token');
      expect(job?.id).to.equal(jobIds.incoming(sent));
      await job!.moveToCompleted('assigned', 'test-token', false);
    } finally {
      await worker.close();
      await closeRedis(connection);
    }
    handles.push(await startRole('scheduler', ctx));
    const outcomes = () => handlerOutcomes(ctx, 'scheduler', 'sweep');
    expect(await waitFor(async () => ((await outcomes()).redispatched ? outcomes() : undefined), 15_000, 'the sweep')).to.deep.equal({ left_dispatched: 1, redispatched: 1 });
    expect(await ctx.queues.getJobState('incoming', jobIds.incoming(sent))).to.equal('completed');
    expect((await incoming.getJob(jobIds.incoming(unsent)))?.data).to.deep.equal({ kind: 'request', requestId: unsent });
  });
});

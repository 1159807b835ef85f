// Recovery after a crash, on a real redis-server: the repair sweep re-dispatches a request assigned
// without run jobs, and the job of a worker process killed mid-job (SIGKILL, a real child process)
// is taken over within its queue's lock and stall window, while a live worker that is only slow keeps it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import { fromHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { createCommitteeSelector } from '../../lib/protocol/committee.ts';
import { startRole, type ProcessContext } from '../../lib/process.ts';
import { jobIds, type QueueKind } from '../../lib/queues.ts';
import type { Project } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import { WORKER_LOCKS } from '../../lib/runtime/worker-locks.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes, type TestNode } from '../support/builders.ts';
import { TEST_LIMITS, openTestProcess, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const CODE = 'export default (input) => ({ double: input.n * 2 });';
const CHILD = join(import.meta.dirname, '../support/worker-child.ts');
/** How much later than its tuned window a take-over may come on a loaded machine: still far below BullMQ's 30 s default. */
const SLACK_MS = 5000;

describe('recovery', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  let handles: RoleHandle[];
  let children: ChildProcess[];
  const nodes = buildNodes(3);

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    ctx = await openTestProcess(redis.url, { GATEWAY_REQUEST_DEADLINE_MS: '30000' });
    sandbox = createSandboxRunner();
    handles = [];
    children = [];
  });
  afterEach(async () => {
    for (const child of children) await killChild(child);
    for (const handle of handles.reverse()) await handle.stop();
    await sandbox.close();
    await ctx.close();
  });

  async function putProject(committee: Project['committee']): Promise<Project> {
    const nowMs = Date.now();
    const project: Project = {
      id: `prj_${nowMs.toString(32).padStart(10, '0')}${Math.random().toString(36).slice(2, 10).padEnd(16, '0')}`,
      name: 'recovery', description: '', committee, aggregation: 'exact', limits: TEST_LIMITS, version: 1,
      codeCid: computeContentId(utf8(CODE)), createdAt: new Date(nowMs).toISOString(),
    };
    await ctx.repository.putProject(project, CODE, `hash-${project.id}`, nowMs);
    return project;
  }

  async function startNodes(members: readonly TestNode[]): Promise<void> {
    for (const node of members) handles.push(await startExecutor({ ...ctx, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
  }

  /** Starts the worker child on `queue` and resolves with it once it took a job. */
  function startChild(queue: QueueKind, mode: 'hang' | 'busy', extra: Record<string, string> = {}): { child: ChildProcess; taken: Promise<string> } {
    const child = spawn(process.execPath, [CHILD], {
      env: { ...process.env, REDIS_URL: redis.url, GATEWAY_KEY_PREFIX: ctx.config.keyPrefix, GATEWAY_LOG_LEVEL: 'silent', WORKER_QUEUE: queue, WORKER_MODE: mode, ...extra },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const taken = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('taken ')) resolve(line.slice('taken '.length));
      });
      child.once('exit', (code) => reject(new Error(`worker child exited (${code}) before taking a job`)));
    });
    return { child, taken };
  }

  async function finishedJob(kind: QueueKind, jobId: string, nodeId?: string) {
    return waitFor(async () => {
      const job = await ctx.queues.get(kind, nodeId).getJob(jobId);
      return job?.finishedOn ? job : undefined;
    }, 60_000, `job ${jobId} to finish`);
  }

  it('re-dispatches a request assigned without run jobs (a receiver killed between the two), and it is published', async () => {
    await seedFrozenRound(ctx, nodes);
    const project = await putProject({ size: 3, quorum: 2 });
    const id = 'req_0000000000undispatched0000';
    // What a receiver leaves when it dies right after the assignment: no run job, no deadline entry, no incoming job.
    const atMs = Date.now() - 3000;
    await ctx.repository.putRequest({ id, projectId: project.id, version: 1, codeCid: project.codeCid, source: 'api', input: { n: 21 }, createdAtMs: atMs, maxOpen: 1000 });
    const tickets = await ctx.repository.listTickets(1);
    const committee = createCommitteeSelector(tickets.map((t) => ({ nodeId: t.nodeId, beta: fromHex(t.beta, 64) }))).select(id, 3);
    const assignment = { round: 2, roundSeed: (await ctx.repository.getRound(2))!.seed, committee, quorum: 2, aggregation: 'exact' as const, assignedAt: new Date(atMs).toISOString() };
    expect((await ctx.repository.assignRequest(id, assignment, atMs)).applied).to.equal(true);
    expect(await ctx.queues.hasJobs(committee.map((nodeId) => ({ kind: 'exec', jobId: jobIds.run(id, nodeId), nodeId })))).to.deep.equal([false, false, false]);

    for (const role of ['receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    await startNodes(nodes);
    handles.push(await startRole('scheduler', ctx));
    const request = await waitFor(async () => {
      const r = await ctx.repository.getRequest(id);
      return r && (r.status === 'published' || r.status === 'failed') ? r : undefined;
    }, 60_000, 'the request to be published');
    expect(request.status, JSON.stringify(request.failure)).to.equal('published');
    expect(request.outcome?.value).to.deep.equal({ double: 42 });
    expect(request.assignment).to.deep.equal(assignment);
    expect((await ctx.queues.get('incoming').getJob(jobIds.incoming(id)))?.returnvalue).to.equal('redispatched');
    // Each member ran it once: one vote each, and one ledger entry.
    expect(request.votes.map((v) => v.nodeId).sort()).to.deep.equal([...committee].sort());
    expect((await ctx.repository.getLedgerEntryOf(id))?.requestId).to.equal(id);
  });

  it('fails a request no receiver assigned once its deadline and its wait for nodes have passed: timeout, by consensus', async () => {
    const project = await putProject({ size: 3, quorum: 2 });
    const id = 'req_0000000000neverassigned000';
    const createdAtMs = Date.now() - ctx.config.requestDeadlineMs - ctx.config.assignWaitMs;
    await ctx.repository.putRequest({ id, projectId: project.id, version: 1, codeCid: project.codeCid, source: 'api', input: null, createdAtMs, maxOpen: 1000 });
    for (const role of ['consensus', 'scheduler'] as const) handles.push(await startRole(role, ctx));
    const request = await waitFor(async () => {
      const r = await ctx.repository.getRequest(id);
      return r?.status === 'failed' ? r : undefined;
    }, 30_000, 'the request to fail');
    expect(request.failure?.code).to.equal('timeout');
  });

  it('hands the incoming job of a receiver killed mid-job to another within its lock and stall window, and runs it once to completion', async () => {
    await seedFrozenRound(ctx, nodes);
    const project = await putProject({ size: 3, quorum: 2 });
    const { child, taken } = startChild('incoming', 'hang');
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs: Date.now() }, { project, input: { n: 1 }, source: 'api' });
    expect(await taken).to.equal(jobIds.incoming(id));
    const killedAtMs = await killChild(child, 'SIGKILL');
    handles.push(await startRole('receiver', ctx));

    const job = await finishedJob('incoming', jobIds.incoming(id));
    expect(job.returnvalue).to.equal('assigned');
    expect({ stalled: job.stalledCounter, started: job.attemptsStarted, failed: job.failedReason ?? null }).to.deep.equal({ stalled: 1, started: 2, failed: null });
    const { lockDurationMs, stalledIntervalMs } = WORKER_LOCKS.incoming;
    expect(job.processedOn! - killedAtMs).to.be.below(lockDurationMs + stalledIntervalMs + SLACK_MS);
    const request = await ctx.repository.getRequest(id);
    expect(request?.status).to.equal('assigned');
    expect(await ctx.queues.hasJobs(request!.assignment!.committee.map((nodeId) => ({ kind: 'exec', jobId: jobIds.run(id, nodeId), nodeId })))).to.deep.equal([true, true, true]);
  });

  it('hands the run job of an executor killed mid-run to the node restarted, which runs it once and votes', async () => {
    const [node] = nodes;
    await seedFrozenRound(ctx, [node]);
    const project = await putProject({ size: 1, quorum: 1 });
    const { child, taken } = startChild('exec', 'hang', { WORKER_NODE_ID: node.nodeId });
    for (const role of ['receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs: Date.now() }, { project, input: { n: 5 }, source: 'api' });
    expect(await taken).to.equal(jobIds.run(id, node.nodeId));
    const killedAtMs = await killChild(child, 'SIGKILL');
    await startNodes([node]);

    const job = await finishedJob('exec', jobIds.run(id, node.nodeId), node.nodeId);
    expect(job.returnvalue).to.equal('voted ok');
    expect({ stalled: job.stalledCounter, started: job.attemptsStarted }).to.deep.equal({ stalled: 1, started: 2 });
    const { lockDurationMs, stalledIntervalMs } = WORKER_LOCKS.exec;
    expect(job.processedOn! - killedAtMs).to.be.below(lockDurationMs + stalledIntervalMs + SLACK_MS);
    const request = await waitFor(async () => {
      const r = await ctx.repository.getRequest(id);
      return r?.status === 'published' ? r : undefined;
    }, 30_000, 'publication');
    expect(request.votes.map((v) => v.nodeId)).to.deep.equal([node.nodeId]);
  });

  it('leaves a job with a live worker whose event loop is blocked in 1 s slices for longer than the lock: never handed back', async () => {
    await seedFrozenRound(ctx, nodes);
    const project = await putProject({ size: 3, quorum: 2 });
    const busyMs = 2 * (WORKER_LOCKS.incoming.lockDurationMs + WORKER_LOCKS.incoming.stalledIntervalMs);
    const { child, taken } = startChild('incoming', 'busy', { WORKER_BUSY_MS: String(busyMs) });
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs: Date.now() }, { project, input: { n: 1 }, source: 'api' });
    expect(await taken).to.equal(jobIds.incoming(id));
    // A second, idle receiver runs the stalled check the whole time and would take the job if its lock lapsed.
    handles.push(await startRole('receiver', ctx));

    const job = await finishedJob('incoming', jobIds.incoming(id));
    expect(job.returnvalue).to.equal('raced');
    expect({ stalled: job.stalledCounter, started: job.attemptsStarted }).to.deep.equal({ stalled: 0, started: 1 });
    expect((await ctx.repository.getRequest(id))?.status).to.equal('queued');
    await killChild(child);
  });
});

/** Kills a child (SIGTERM unless told) and resolves with the time it was gone. */
async function killChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  return Date.now();
}

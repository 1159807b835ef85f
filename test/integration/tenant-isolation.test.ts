// One tenant cannot starve the others: through the real scheduler, receiver, executors (sandbox
// process pool), consensus and sender on a real redis-server, a project with 20 runs that never
// settle holds at most its share of each node's run slots, another project's requests publish
// before those runs end, and every node keeps proving its ticket every round meanwhile.
import { expect } from 'chai';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { createSandbox, startRole, type ProcessContext } from '../../lib/process.ts';
import type { Project } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import { createNodeRecord } from '../../lib/roles/node-record.ts';
import type { SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes } from '../support/builders.ts';
import { TEST_LIMITS, openTestProcess, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const NEVER_SETTLES = 'export default () => new Promise(() => {})';
const QUICK = 'export default (input) => ({ echo: input })';

describe('tenant isolation', function () {
  this.timeout(120_000);
  allowSharedFixtures(this);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  const handles: RoleHandle[] = [];
  const nodes = buildNodes(2);

  before(async () => {
    redis = await startTestRedis();
    ctx = await openTestProcess(redis.url, {
      GATEWAY_ROUND_MS: '300', GATEWAY_EXECUTOR_CONCURRENCY: '8', GATEWAY_PROJECT_RUN_SHARE: '0.5',
      GATEWAY_SANDBOX_PROCESSES: '2', GATEWAY_REQUEST_DEADLINE_MS: '120000', GATEWAY_ASSIGN_WAIT_MS: '60000',
    });
    sandbox = createSandbox(ctx);
    for (const node of nodes) await ctx.repository.putNode(createNodeRecord(node.keys, node.nodeId, Date.now()));
    for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    for (const node of nodes) handles.push(await startExecutor({ ...ctx, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
  });

  after(async () => {
    // The sandbox first: the never-settling runs end now instead of at their 30 s limit.
    await sandbox.close();
    for (const handle of handles.reverse()) await handle.stop();
    await ctx.close();
    await redis.stop();
  });

  async function putProject(name: string, code: string, timeoutMs: number): Promise<Project> {
    const nowMs = Date.now();
    const project: Project = {
      id: `prj_${name.padEnd(26, '0')}`, name, description: '', committee: { size: 2, quorum: 2 }, aggregation: 'exact',
      limits: { ...TEST_LIMITS, timeoutMs, cpuMs: 1000 }, version: 1, codeCid: computeContentId(utf8(code)), createdAt: new Date(nowMs).toISOString(),
    };
    await ctx.repository.putProject(project, code, `hash-${name}`, nowMs);
    return project;
  }

  const accept = (project: Project, input: unknown) =>
    acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs: Date.now() }, { project, input, source: 'api' });

  it('publishes another project\'s requests while 20 runs of one project never settle, and tickets keep coming', async () => {
    // Committees need the previous round's tickets: wait until both nodes have proven one.
    await waitFor(async () => {
      const latest = await ctx.repository.getLatestRoundNumber();
      return latest > 2 && (await ctx.repository.listTickets(latest - 1)).length === 2 ? true : undefined;
    }, 30_000, 'tickets of both nodes');
    const slow = await putProject('slow', NEVER_SETTLES, 30_000);
    const quick = await putProject('quick', QUICK, 5_000);
    const slowIds: string[] = [];
    for (let i = 0; i < 20; i++) slowIds.push((await accept(slow, { i })).id);
    // Every slow request is assigned, so the runs that can start have started.
    await waitFor(async () => ((await ctx.repository.getRequests(slowIds)).every((r) => r.status === 'assigned') ? true : undefined), 30_000, 'slow requests assigned');
    const roundBefore = await ctx.repository.getLatestRoundNumber();

    const quickIds: string[] = [];
    for (let i = 0; i < 5; i++) quickIds.push((await accept(quick, i)).id);
    const done = await waitFor(async () => {
      const records = await ctx.repository.getRequests(quickIds);
      return records.every((r) => r.status === 'published') ? records : undefined;
    }, 25_000, 'the quick project published');
    expect(done.map((r) => r.outcome?.value)).to.deep.equal([0, 1, 2, 3, 4].map((i) => ({ echo: i })));

    // The slow runs are still running (each node runs every request: committees of 2 on 2 nodes): none reached its 30 s limit.
    const slowNow = await ctx.repository.getRequests(slowIds);
    expect(slowNow.map((r) => r.status)).to.deep.equal(Array(20).fill('assigned'));
    expect(slowNow.flatMap((r) => r.votes)).to.deep.equal([]);
    // Runs beyond the slow project's share (4 of 8 slots per node) were put back, not started.
    expect(await counterValue('gateway_runs_deferred_total')).to.be.greaterThan(0);

    // Both nodes proved tickets for rounds that started while every slow run was in flight.
    // (Waited for, not raced: on a busy machine a ticket may miss a 100 ms round and come with the next.)
    for (const node of nodes) {
      await waitFor(async () => (((await ctx.repository.getNode(node.nodeId))?.lastTicketRound ?? 0) >= roundBefore + 3 ? true : undefined), 30_000, `a ticket of ${node.nodeId} for round ${roundBefore + 3} or later`);
    }
  });

  async function counterValue(name: string): Promise<number> {
    const metric = await ctx.metrics.registry.getSingleMetric(name)?.get();
    return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
  }
});

// Re-sent writes at intake: the webserver's accept (with and without an idempotency key), a cron
// schedule's tick, and a schedule's refused-tick count. The connection of the role under test is cut
// after Redis applied the write and before the reply came back, so the write runs twice.
import { expect } from 'chai';
import { createId } from '../../lib/ids.ts';
import { jobIds } from '../../lib/queues.ts';
import { createNodeRecord } from '../../lib/roles/node-record.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { scriptArgs } from '../support/fault-proxy.ts';
import { seedFrozenRound, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { SETTLE_MS, openFaultBench, type FaultBench } from './support/fault-bench.ts';
import { counterValue, createRequestWrite, expectNoOpenRequests, finishedJob, injected, refusedTickWrite } from './support/checks.ts';

/** A schedule that fires every second. */
const EVERY_SECOND = '* * * * * *';

describe('faults: re-sent intake writes', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let bench: FaultBench | undefined;

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  afterEach(async () => {
    await bench?.stop();
    bench = undefined;
  });

  /** The webserver through the proxy; the rest of the pipeline straight to Redis. */
  async function startApi(b: FaultBench): Promise<ReturnType<typeof createClient>> {
    await seedFrozenRound(b.direct, b.nodes);
    await b.startNodes();
    await b.start(b.direct, 'receiver', 'consensus', 'sender');
    const [web] = await b.start(b.faulty, 'webserver');
    return createClient((web as RoleHandle & { url: string }).url);
  }

  for (const withKey of [false, true]) {
    it(`accept${withKey ? ' with an Idempotency-Key' : ''}: a re-sent create stores one request, counted once, and hands it on`, async () => {
      bench = await openFaultBench(redis.url);
      const call = await startApi(bench);
      const project = await bench.putProject();
      const fault = bench.proxy.dropReplyOnce(createRequestWrite);
      const headers: Record<string, string> = withKey ? { 'Idempotency-Key': 'order-1' } : {};
      const reply = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: { a: 2, b: 3 } }, headers });
      await injected(fault);
      expect(reply.status, JSON.stringify(reply.body)).to.equal(202);
      const { id } = reply.body as { id: string };
      expect((await bench.direct.repository.listProjectRequests(project.id, 10)).items.map((r) => r.id)).to.deep.equal([id]);
      expect(await bench.direct.repository.countOpenRequests(project.id), 'admission slots taken').to.be.at.most(1);
      expect(await finishedJob(bench.direct, 'incoming', jobIds.incoming(id))).to.equal('assigned');
      await bench.waitForStatus(id, 'published');
      await bench.expectLedgerVerifies(1);
      await expectNoOpenRequests(bench);
      if (withKey) {
        const again = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: { a: 2, b: 3 } }, headers });
        expect(again).to.deep.include({ status: 200, body: { id, status: 'published' } });
      }
    });
  }

  it('schedule tick: a re-sent tick stores one request for the tick, and hands it on', async () => {
    // The repair sweep would hide a tick that never handed its request on: it is off here. Rounds
    // long enough that every node's ticket lands in time on a busy machine: the last round's
    // tickets serve the requests still waiting once the scheduler stopped.
    bench = await openFaultBench(redis.url, { env: { GATEWAY_ROUND_MS: '1000' }, faultyEnv: { GATEWAY_SWEEP_MS: '3600000' } });
    await seedFrozenRound(bench.direct, bench.nodes);
    await bench.startNodes();
    await bench.start(bench.direct, 'receiver', 'consensus', 'sender');
    const project = await bench.putProject();
    const schedule = { id: createId('sch', Date.now()), projectId: project.id, cron: EVERY_SECOND, input: { a: 1, b: 2 }, createdAt: new Date().toISOString() };
    expect(await bench.direct.repository.putSchedule(schedule, 10)).to.equal(true);
    const fault = bench.proxy.dropReplyOnce(createRequestWrite);
    const [scheduler] = await bench.start(bench.faulty, 'scheduler');
    // The acceptance script's first request id is the tick's request (ACCEPT on one Redis, STORE on a cluster).
    const id = scriptArgs((await injected(fault)).command)!.argv.find((arg) => arg.startsWith('req_'))!;
    expect(await finishedJob(bench.direct, 'incoming', jobIds.incoming(id))).to.equal('assigned');
    await bench.waitForStatus(id, 'published');
    await scheduler.stop();
    // Every tick so far is one request under its own key, and each one finishes.
    const requests = (await bench.direct.repository.listProjectRequests(project.id, 100)).items;
    expect(requests.map((r) => r.id)).to.include(id);
    for (const request of requests) await bench.waitForStatus(request.id, 'published');
    const idemKeys = await Promise.all(requests.map((r) => bench!.direct.connection.hget(bench!.keys.request(r.id), 'idem')));
    expect(new Set(idemKeys).size, 'one request per tick').to.equal(requests.length);
    await bench.expectLedgerVerifies(requests.length);
    await expectNoOpenRequests(bench);
  });

  it('refused tick: a re-sent refusal is counted once on its schedule', async () => {
    bench = await openFaultBench(redis.url, { faultyEnv: { GATEWAY_SWEEP_MS: '3600000', GATEWAY_PROJECT_MAX_IN_FLIGHT: '1' } });
    for (const node of bench.nodes) await bench.direct.repository.putNode(createNodeRecord(node.keys, node.nodeId, Date.now()));
    const project = await bench.putProject();
    // The project's one slot is taken by a request nobody runs: every tick is refused.
    await bench.accept(project);
    const schedule = { id: createId('sch', Date.now()), projectId: project.id, cron: EVERY_SECOND, input: null, createdAt: new Date().toISOString() };
    await bench.direct.repository.putSchedule(schedule, 10);
    const fault = bench.proxy.dropReplyOnce(refusedTickWrite);
    const [scheduler] = await bench.start(bench.faulty, 'scheduler');
    await injected(fault);
    await waitFor(async () => ((await counterValue(bench!.faulty, 'admissionRefused', { source: 'schedule' })) >= 1 ? true : undefined), SETTLE_MS, 'a refusal counted');
    await scheduler.stop();
    const refused = await counterValue(bench.faulty, 'admissionRefused', { source: 'schedule' });
    expect((await bench.direct.repository.getRefusedTicks(schedule.id)).refusedTicks, 'refusals stored').to.equal(refused);
  });
});

// Per-project limits through the real Koa app on a real redis-server: admission by requests in
// flight, caps on schedules, code versions, secrets and input bytes, version deletion, idempotency
// expiry, and cron expressions checked by our own parser.
import { expect } from 'chai';
import type { ProcessContext } from '../../lib/process.ts';
import { startRole } from '../../lib/process.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import { ADMIN_TOKEN, startTestWebserver, waitFor, type TestWebserver } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const CODE = 'export default (input) => input';

describe('project limits', function () {
  this.timeout(60_000);
  // The webserver's check process is shared by every case.
  allowSharedFixtures(this);
  let redis: TestRedis;
  let web: TestWebserver;
  let ctx: ProcessContext;
  let call: TestWebserver['call'];

  before(async () => {
    redis = await startTestRedis();
    web = await startTestWebserver(redis.url, {
      GATEWAY_PROJECT_MAX_IN_FLIGHT: '3', GATEWAY_MAX_SCHEDULES: '2', GATEWAY_MAX_CODE_VERSIONS: '3', GATEWAY_MAX_SECRETS: '2',
      GATEWAY_MAX_SECRET_BYTES: '64', GATEWAY_MAX_INPUT_BYTES: '100', GATEWAY_IDEMPOTENCY_TTL_MS: '60000',
    });
    ({ ctx, call } = web);
  });
  after(async () => {
    await web.stop();
    await redis.stop();
  });

  async function createProject(code = CODE): Promise<{ id: string; apiKey: string; codeCid: string }> {
    const reply = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'limits', code } });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
    return reply.body;
  }

  const send = (project: { id: string; apiKey: string }, body: unknown, headers: Record<string, string> = {}) =>
    call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body, headers });

  it('refuses a project past its requests in flight with 429 and Retry-After, and admits again once one is final', async () => {
    const project = await createProject();
    const other = await createProject();
    const accepted = [];
    for (let i = 0; i < 3; i++) accepted.push(await send(project, { input: i }, { 'Idempotency-Key': `k${i}` }));
    expect(accepted.map((r) => r.status)).to.deep.equal([202, 202, 202]);
    const refused = await send(project, { input: 3 });
    expect(refused.status).to.equal(429);
    expect(refused.body.error.code).to.equal('rate_limited');
    expect(refused.headers.get('retry-after')).to.equal('1');
    // A known idempotency key still answers with its request; another project is not affected.
    const again = await send(project, { input: 0 }, { 'Idempotency-Key': 'k0' });
    expect(again.status).to.equal(200);
    expect(again.body.id).to.equal(accepted[0].body.id);
    expect((await send(other, { input: 1 })).status).to.equal(202);
    // One request reaching a final state gives its slot back, once.
    await ctx.repository.failRequest(accepted[1].body.id, ['queued'], { code: 'timeout', message: 'test' }, Date.now());
    await ctx.repository.failRequest(accepted[1].body.id, ['queued'], { code: 'timeout', message: 'test' }, Date.now());
    expect(await ctx.repository.countOpenRequests(project.id)).to.equal(2);
    expect((await send(project, { input: 4 })).status).to.equal(202);
    expect((await send(project, { input: 5 })).status).to.equal(429);
  });

  it('rotates a project API key: the new one works, the old one is refused at once', async () => {
    const project = await createProject();
    const rotated = await call('POST', `/v1/projects/${project.id}/api-key`, { token: project.apiKey });
    expect(rotated.status).to.equal(200);
    expect(rotated.body.id).to.equal(project.id);
    expect(rotated.body.apiKey).to.match(/^gwk_/).and.not.equal(project.apiKey);
    expect((await call('GET', `/v1/projects/${project.id}`, { token: project.apiKey })).status).to.equal(401);
    expect((await call('GET', `/v1/projects/${project.id}`, { token: rotated.body.apiKey })).body.id).to.equal(project.id);
    const byAdmin = await call('POST', `/v1/projects/${project.id}/api-key`, { token: ADMIN_TOKEN });
    expect((await call('GET', `/v1/projects/${project.id}`, { token: rotated.body.apiKey })).status).to.equal(401);
    expect((await call('GET', `/v1/projects/${project.id}`, { token: byAdmin.body.apiKey })).status).to.equal(200);
  });

  it('deletes a project with what it owns once no request of it is open, and keeps code other projects use', async () => {
    const project = await createProject();
    const sharing = await createProject();
    const own = await call('PUT', `/v1/projects/${project.id}/code`, { token: project.apiKey, body: { code: 'export default () => "only mine"' } });
    expect((await call('POST', `/v1/projects/${project.id}/schedules`, { token: project.apiKey, body: { cron: '*/5 * * * *', input: {} } })).status).to.equal(201);
    expect((await call('PUT', `/v1/projects/${project.id}/secrets`, { token: project.apiKey, body: { A: 'b' } })).status).to.equal(204);
    const open = await send(project, { input: 1 });
    const refused = await call('DELETE', `/v1/projects/${project.id}`, { token: project.apiKey });
    expect([refused.status, refused.body.error.code, refused.body.error.message]).to.deep.equal([409, 'conflict', `project ${project.id} has 1 requests not yet final; delete it once they are`]);
    await ctx.repository.failRequest(open.body.id, ['queued'], { code: 'timeout', message: 'test' }, Date.now());
    expect((await call('DELETE', `/v1/projects/${project.id}`, { token: project.apiKey })).status).to.equal(204);
    expect((await call('GET', `/v1/projects/${project.id}`, { token: ADMIN_TOKEN })).status).to.equal(404);
    expect((await call('GET', `/v1/projects/${project.id}`, { token: project.apiKey })).status).to.equal(401);
    expect((await call('DELETE', `/v1/projects/${project.id}`, { token: ADMIN_TOKEN })).status).to.equal(404);
    expect(await ctx.repository.listSchedules(project.id)).to.deep.equal([]);
    expect((await ctx.repository.listSchedules()).some((s) => s.projectId === project.id)).to.equal(false);
    // The code only it used is gone; the code the other project uses too stays.
    expect((await call('GET', `/v1/code/${own.body.codeCid}`)).status).to.equal(404);
    expect((await call('GET', `/v1/code/${sharing.codeCid}`)).status).to.equal(200);
    // Its final request stays readable by the admin until retention removes it.
    expect((await call('GET', `/v1/requests/${open.body.id}`, { token: ADMIN_TOKEN })).body.status).to.equal('failed');
  });

  it('refuses an input above the byte limit with 413, and a deep one with 400', async () => {
    const project = await createProject();
    const big = await send(project, { input: 'x'.repeat(200) });
    expect(big.status).to.equal(413);
    expect(big.body.error).to.deep.include({ code: 'payload_too_large', details: ['input: 202 bytes, at most 100'] });
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    const nested = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, raw: JSON.stringify({ input: deep }), headers: { 'content-type': 'application/json' } });
    expect(nested.status).to.equal(400);
    expect(nested.body.error.code).to.equal('invalid_body');
  });

  it('lets idempotency keys expire after the configured time, chain-looking ones from the API too', async () => {
    const project = await createProject();
    // A client key shaped like a chain request's lives in the API's own namespace: it expires, and takes no chain request's place.
    for (const key of ['expiring', 'chain.1.1']) expect((await send(project, { input: 1 }, { 'Idempotency-Key': key })).status).to.equal(202);
    const idemKeys = await ctx.connection.keys(`${ctx.config.keyPrefix}:{ctl}:idem:${project.id}:*`);
    expect(idemKeys).to.have.length(2);
    for (const idemKey of idemKeys) expect(await ctx.connection.pttl(idemKey)).to.be.within(1, 60_000);
  });

  it('keeps one version for the latest code uploaded again, caps versions, and deletes old ones not in use', async () => {
    const project = await createProject();
    const put = (code: string) => call('PUT', `/v1/projects/${project.id}/code`, { token: project.apiKey, body: { code } });
    expect((await put(CODE)).body).to.deep.equal({ version: 1, codeCid: project.codeCid });
    const v2 = await put('export default () => 2');
    const v3 = await put('export default () => 3');
    expect([v2.body.version, v3.body.version]).to.deep.equal([2, 3]);
    expect((await put('export default () => 3')).body).to.deep.equal({ version: 3, codeCid: v3.body.codeCid });
    const full = await put('export default () => 4');
    expect(full.status).to.equal(409);
    expect(full.body.error.code).to.equal('conflict');
    const del = (n: string) => call('DELETE', `/v1/projects/${project.id}/versions/${n}`, { token: project.apiKey });
    expect((await del('3')).status).to.equal(409);
    // Version 2 runs in a request not yet final: it stays until the request finishes.
    const pinned = await send(project, { version: 2 });
    expect(pinned.status).to.equal(202);
    const inUse = await del('2');
    expect(inUse.status).to.equal(409);
    expect(inUse.body.error.message).to.match(/not yet final/);
    await ctx.repository.failRequest(pinned.body.id, ['queued'], { code: 'timeout', message: 'test' }, Date.now());
    // A final request whose slot a crash kept (its release cut off), admitted over 30 s ago: reconciled, not in the way.
    const keys = createKeys(ctx.config.keyPrefix);
    await ctx.connection.zadd(keys.projectOpen(project.id), Date.now() - 60_000, pinned.body.id);
    await ctx.connection.zadd(keys.versionOpen(project.id, 2), Date.now() - 60_000, pinned.body.id);
    expect((await del('2')).status).to.equal(204);
    expect(await ctx.repository.countOpenRequests(project.id)).to.equal(0);
    // A request that read version 2 just before the deletion is refused when it is stored, not run without code.
    const late = await ctx.repository.putRequest({ id: 'req_0000000000000000000000late', projectId: project.id, version: 2, codeCid: v2.body.codeCid, source: 'api', input: null, createdAtMs: Date.now(), maxOpen: 10 });
    expect(late).to.deep.equal({ outcome: 'no_version' });
    expect((await call('GET', `/v1/code/${v2.body.codeCid}`)).status).to.equal(404);
    expect((await del('2')).status).to.equal(404);
    expect((await del('abc')).status).to.equal(404);
    const versions = await call('GET', `/v1/projects/${project.id}/versions`, { token: project.apiKey });
    expect(versions.body.items.map((v: { version: number }) => v.version)).to.deep.equal([1, 3]);
    expect((await put('export default () => 4')).body.version).to.equal(4);
  });

  it('caps secrets by count and bytes', async () => {
    const project = await createProject();
    const put = (body: unknown) => call('PUT', `/v1/projects/${project.id}/secrets`, { token: project.apiKey, body });
    expect((await put({ A: 'a', B: 'b' })).status).to.equal(204);
    const many = await put({ A: 'a', B: 'b', C: 'c' });
    expect(many.status).to.equal(400);
    expect(many.body.error.details).to.deep.equal(['body: at most 2 secrets']);
    const heavy = await put({ A: 'x'.repeat(65) });
    expect(heavy.status).to.equal(413);
    expect(heavy.body.error.code).to.equal('payload_too_large');
  });

  it('caps schedules, checks cron with our own parser, and refuses expressions that never fire', async () => {
    const project = await createProject();
    const add = (cron: string, input?: unknown) => call('POST', `/v1/projects/${project.id}/schedules`, { token: project.apiKey, body: { cron, ...(input === undefined ? {} : { input }) } });
    const cases: Array<[string, string]> = [
      ['0-59/1 0-59 0-23 1-31 1-12 0-7 *', 'cron: expected 5 or 6 fields, got 7'],
      ['99999999 * * * *', 'cron: minute value "99999999" has more than 2 digits'],
      ['* 25 * * *', 'cron: hour value 25 is outside 0-23'],
      ['0 0 30 2 *', 'cron: day-of-month 30 never occurs in month 2'],
    ];
    for (const [cron, detail] of cases) {
      const reply = await add(cron);
      expect(reply.status, cron).to.equal(400);
      expect(reply.body.error.details, cron).to.deep.equal([detail]);
    }
    // A Monday 29 February is years away (2044): beyond the five-year search, so refused.
    expect((await add('0 0 29 2 1')).body.error.details).to.deep.equal(['cron: never fires within five years']);
    expect((await add('0 0 29 2 *')).status).to.equal(201);
    expect((await add('*  */5   * * *')).body.cron).to.equal('* */5 * * *');
    const third = await add('0 * * * *');
    expect(third.status).to.equal(409);
    expect(third.body.error.code).to.equal('conflict');
    const list = await call('GET', `/v1/projects/${project.id}/schedules`, { token: project.apiKey });
    expect(list.body.items.map((s: { refusedTicks: number }) => s.refusedTicks)).to.deep.equal([0, 0]);
  });

  it('pins a schedule to a code version and a time zone, and keeps the pinned version from deletion', async () => {
    const project = await createProject();
    const v2 = await call('PUT', `/v1/projects/${project.id}/code`, { token: project.apiKey, body: { code: 'export default () => 2' } });
    expect(v2.body.version).to.equal(2);
    const add = (body: unknown) => call('POST', `/v1/projects/${project.id}/schedules`, { token: project.apiKey, body });
    const pinned = await add({ cron: '0 9 * * *', input: {}, version: 1, timezone: 'Asia/Tokyo' });
    expect(pinned.status, JSON.stringify(pinned.body)).to.equal(201);
    expect(pinned.body).to.deep.include({ version: 1, timezone: 'Asia/Tokyo' });
    // 09:00 in Tokyo (UTC+9, no daylight saving) is 00:00 UTC.
    expect(pinned.body.nextRunAt).to.match(/T00:00:00\.000Z$/);
    const listed = await call('GET', `/v1/projects/${project.id}/schedules`, { token: project.apiKey });
    expect(listed.body.items[0]).to.deep.include({ version: 1, timezone: 'Asia/Tokyo', nextRunAt: pinned.body.nextRunAt });
    const badZone = await add({ cron: '0 9 * * *', timezone: 'Mars/Olympus' });
    expect([badZone.status, badZone.body.error.details]).to.deep.equal([400, ['timezone: not an IANA time zone (e.g. "Europe/Berlin", "UTC")']]);
    expect((await add({ cron: '0 9 * * *', version: 7 })).status).to.equal(404);
    const del = await call('DELETE', `/v1/projects/${project.id}/versions/1`, { token: project.apiKey });
    expect([del.status, del.body.error.message]).to.deep.equal([409, `schedule ${pinned.body.id} runs version 1; delete the schedule first`]);
    expect((await call('DELETE', `/v1/schedules/${pinned.body.id}`, { token: project.apiKey })).status).to.equal(204);
    expect((await call('DELETE', `/v1/projects/${project.id}/versions/1`, { token: project.apiKey })).status).to.equal(204);
  });

  it('fires a pinned schedule with its version, and records its ticks refused once that version is gone', async () => {
    const project = await createProject();
    expect((await call('PUT', `/v1/projects/${project.id}/code`, { token: project.apiKey, body: { code: 'export default () => 2' } })).body.version).to.equal(2);
    const schedule = await call('POST', `/v1/projects/${project.id}/schedules`, { token: project.apiKey, body: { cron: '* * * * * *', version: 1, timezone: 'Europe/Berlin' } });
    expect(schedule.status).to.equal(201);
    const scheduler = await startRole('scheduler', ctx);
    try {
      const fired = await waitFor(async () => (await ctx.repository.listProjectRequests(project.id, 1)).items[0], 15_000, 'a fired tick');
      expect([fired.source, fired.version]).to.deep.equal(['schedule', 1]);
      await scheduler.stop();
      // Every tick so far made final, then the version deleted behind the API's back (the API refuses while a schedule pins it).
      for (const request of (await ctx.repository.listProjectRequests(project.id, 100)).items) {
        expect(request.version).to.equal(1);
        await ctx.repository.failRequest(request.id, ['queued'], { code: 'timeout', message: 'test' }, Date.now());
      }
      expect(await ctx.repository.countOpenRequests(project.id)).to.equal(0);
      await ctx.connection.hdel(createKeys(ctx.config.keyPrefix).projectVersions(project.id), '1');
      const restarted = await startRole('scheduler', ctx);
      try {
        const refused = await waitFor(async () => {
          const items = (await call('GET', `/v1/projects/${project.id}/schedules`, { token: project.apiKey })).body.items;
          return items[0].refusedTicks > 0 ? items[0] : undefined;
        }, 15_000, 'a refused tick');
        expect(refused.lastRefusal.reason).to.equal('code version 1 no longer exists');
      } finally {
        await restarted.stop();
      }
    } finally {
      await scheduler.stop();
    }
  });

  it('records a schedule tick refused at admission on the schedule', async () => {
    const project = await createProject();
    for (let i = 0; i < 3; i++) expect((await send(project, { input: i })).status).to.equal(202);
    const schedule = await call('POST', `/v1/projects/${project.id}/schedules`, { token: project.apiKey, body: { cron: '* * * * * *' } });
    expect(schedule.status).to.equal(201);
    const scheduler = await startRole('scheduler', ctx);
    try {
      const refused = await waitFor(async () => {
        const items = (await call('GET', `/v1/projects/${project.id}/schedules`, { token: project.apiKey })).body.items;
        return items[0].refusedTicks > 0 ? items[0] : undefined;
      }, 15_000, 'a refused tick');
      expect(refused.lastRefusal.reason).to.equal('the project had 3 requests in flight');
    } finally {
      await scheduler.stop();
    }
    expect(await ctx.repository.countOpenRequests(project.id)).to.equal(3);
  });
});

// The typed client (gateway/client) against the real Koa app: documented reply shapes, and every
// refusal a GatewayApiError with the API's status and code.
import { findFreePort } from '../../lib/embedded-redis.ts';
import { expect } from 'chai';
import { createGatewayClient, type GatewayClient } from '../../lib/client/client.ts';
import { GatewayApiError } from '../../lib/client/errors.ts';
import type { CreatedProject } from '../../lib/client/types.ts';
import { ADMIN_TOKEN, startTestWebserver, type TestWebserver } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const CODE_V1 = 'export default (input) => ({ greeting: `hello ${input.name}` })';
const CODE_V2 = 'export default (input) => ({ greeting: `hi ${input.name}` })';

async function refusal(call: Promise<unknown>): Promise<GatewayApiError> {
  try {
    await call;
  } catch (error) {
    expect(error).to.be.instanceOf(GatewayApiError);
    return error as GatewayApiError;
  }
  throw new Error('expected a GatewayApiError');
}

describe('gateway client', function () {
  this.timeout(30_000);
  // The webserver (and its code checker) live across the tests; the run's end checks what is left open.
  allowSharedFixtures(this);
  let redis: TestRedis;
  let web: TestWebserver;
  let admin: GatewayClient;
  let project: CreatedProject;
  let client: GatewayClient;

  before(async () => {
    redis = await startTestRedis();
    web = await startTestWebserver(redis.url);
    admin = createGatewayClient({ url: web.url, token: ADMIN_TOKEN });
    project = await admin.createProject({ name: 'client', code: CODE_V1, committee: { size: 1 }, limits: { timeoutMs: 1500 } });
    client = createGatewayClient({ url: web.url, token: project.apiKey });
  });
  after(async () => {
    await web?.stop();
    await redis?.stop();
  });

  it('creates a project with its key once, and reads it back without the key', async () => {
    expect(project.id).to.match(/^prj_[a-z0-9]{26}$/);
    expect(project.apiKey).to.match(/^gwk_/);
    expect(project).to.deep.include({ name: 'client', description: '', version: 1, committee: { size: 1, quorum: 1 }, aggregation: 'exact' });
    expect(project.limits.timeoutMs).to.equal(1500);
    const read = await client.getProject(project.id);
    expect(read).to.not.have.property('apiKey');
    const { apiKey: _key, ...withoutKey } = project;
    expect(read).to.deep.equal(withoutKey);
    const page = await admin.listProjects({ limit: 1 });
    expect(page.items.map((p) => p.id)).to.deep.equal([project.id]);
    expect(page.nextCursor).to.equal(null);
  });

  it('uploads code as a new version, answers the latest version for the same code, and lists versions', async () => {
    const v2 = await client.updateCode(project.id, CODE_V2);
    expect(v2.version).to.equal(2);
    expect(v2.codeCid).to.match(/^bafkrei[a-z2-7]{52}$/);
    expect(await client.updateCode(project.id, CODE_V2)).to.deep.equal(v2);
    const versions = await client.listVersions(project.id);
    expect(versions.map((v) => [v.version, v.codeCid])).to.deep.equal([[1, project.codeCid], [2, v2.codeCid]]);
    expect(versions[1]!.createdAt).to.match(/^\d{4}-\d\d-\d\dT/);
    expect(await client.getCode(v2.codeCid)).to.equal(CODE_V2);
    const bad = await refusal(client.updateCode(project.id, 'export default ('));
    expect([bad.status, bad.code]).to.deep.equal([400, 'invalid_code']);
  });

  it('sends requests with idempotency keys, long-polls, pages the list and refuses an early receipt', async () => {
    const first = await client.createRequest(project.id, { input: { name: 'a' }, version: 1, idempotencyKey: 'key-1' });
    expect(first).to.deep.include({ status: 'queued', isCreated: true });
    expect(first.id).to.match(/^req_[a-z0-9]{26}$/);
    const again = await client.createRequest(project.id, { input: { name: 'a' }, version: 1, idempotencyKey: 'key-1' });
    expect(again).to.deep.equal({ id: first.id, status: 'queued', isCreated: false });
    const conflict = await refusal(client.createRequest(project.id, { input: { name: 'b' }, version: 1, idempotencyKey: 'key-1' }));
    expect([conflict.status, conflict.code]).to.deep.equal([409, 'conflict']);
    const second = await client.createRequest(project.id);

    // No scheduler runs here: the request stays queued, and the long-poll returns it after its wait.
    const startedMs = Date.now();
    const read = await client.getRequest(first.id, { waitMs: 300 });
    expect(Date.now() - startedMs).to.be.at.least(250);
    expect(read).to.deep.include({ id: first.id, projectId: project.id, version: 1, codeCid: project.codeCid, source: 'api', status: 'queued', input: { name: 'a' } });
    expect(read).to.not.have.property('votes');

    const page1 = await client.listRequests(project.id, { limit: 1 });
    expect(page1.items.map((r) => r.id)).to.deep.equal([second.id]);
    expect(page1.items[0]!.input).to.equal(null);
    expect(page1.nextCursor).to.be.a('string');
    const page2 = await client.listRequests(project.id, { limit: 1, cursor: page1.nextCursor! });
    expect(page2.items.map((r) => r.id)).to.deep.equal([first.id]);
    const badCursor = await refusal(client.listRequests(project.id, { cursor: 'nope' }));
    expect([badCursor.status, badCursor.code]).to.deep.equal([400, 'invalid_query']);

    const early = await refusal(client.getReceipt(first.id));
    expect([early.status, early.code, early.retryAfterSeconds]).to.deep.equal([409, 'not_published', 1]);
  });

  it('puts and lists secret names, and passes the API\'s details on', async () => {
    await client.putSecrets(project.id, { API_KEY: 'value-1', OTHER: 'value-2' });
    expect([...(await client.listSecrets(project.id))].sort()).to.deep.equal(['API_KEY', 'OTHER']);
    const bad = await refusal(client.putSecrets(project.id, { 'bad-name': 'x' }));
    expect([bad.status, bad.code]).to.deep.equal([400, 'invalid_body']);
    expect(bad.details).to.have.length(1);
    expect(bad.details[0]).to.include('bad-name');
  });

  it('creates, lists and deletes schedules', async () => {
    const schedule = await client.createSchedule(project.id, { cron: '0  0 * * *', input: { daily: true } });
    expect(schedule).to.deep.include({ projectId: project.id, cron: '0 0 * * *', input: { daily: true } });
    expect(schedule.id).to.match(/^sch_[a-z0-9]{26}$/);
    expect(schedule.nextRunAt).to.match(/T00:00:00\.000Z$/);
    const listed = await client.listSchedules(project.id);
    expect(listed.map((s) => [s.id, s.cron, s.refusedTicks])).to.deep.equal([[schedule.id, '0 0 * * *', 0]]);
    const pinned = await client.createSchedule(project.id, { cron: '30 8 * * *', version: 1, timezone: 'Europe/Berlin' });
    expect(pinned).to.deep.include({ cron: '30 8 * * *', input: null, version: 1, timezone: 'Europe/Berlin' });
    const noVersion = await refusal(client.createSchedule(project.id, { cron: '30 8 * * *', version: 9 }));
    expect([noVersion.status, noVersion.code]).to.deep.equal([404, 'not_found']);
    await client.deleteSchedule(pinned.id);
    const badCron = await refusal(client.createSchedule(project.id, { cron: '0 25 * * *' }));
    expect([badCron.code, badCron.details]).to.deep.equal(['invalid_body', ['cron: hour value 25 is outside 0-23']]);
    await client.deleteSchedule(schedule.id);
    expect(await client.listSchedules(project.id)).to.deep.equal([]);
    const gone = await refusal(client.deleteSchedule(schedule.id));
    expect([gone.status, gone.code]).to.deep.equal([404, 'not_found']);
  });

  it('rotates a project key, revoking the old one, and deletes the project', async () => {
    const created = await admin.createProject({ name: 'rotate', code: CODE_V1 });
    const rotated = await createGatewayClient({ url: web.url, token: created.apiKey }).rotateApiKey(created.id);
    expect(rotated.id).to.equal(created.id);
    expect(rotated.apiKey).to.match(/^gwk_/).and.not.equal(created.apiKey);
    const revoked = await refusal(createGatewayClient({ url: web.url, token: created.apiKey }).getProject(created.id));
    expect([revoked.status, revoked.code]).to.deep.equal([401, 'unauthorized']);
    const owner = createGatewayClient({ url: web.url, token: rotated.apiKey });
    expect((await owner.getProject(created.id)).name).to.equal('rotate');
    await owner.deleteProject(created.id);
    const deleted = await refusal(admin.getProject(created.id));
    expect([deleted.status, deleted.code]).to.deep.equal([404, 'not_found']);
  });

  it('lists nodes publicly', async () => {
    expect(await createGatewayClient({ url: web.url }).listNodes()).to.deep.equal([]);
  });

  it('turns 401, 403 and 404 into GatewayApiError with the API\'s code and X-Request-Id', async () => {
    const noToken = await refusal(createGatewayClient({ url: web.url }).getProject(project.id));
    expect([noToken.status, noToken.code]).to.deep.equal([401, 'unauthorized']);
    const wrongToken = await refusal(createGatewayClient({ url: web.url, token: 'gwk_not-a-key' }).getProject(project.id));
    expect([wrongToken.status, wrongToken.code]).to.deep.equal([401, 'unauthorized']);
    expect(wrongToken.requestId).to.be.a('string').and.not.equal('');
    const other = await admin.createProject({ name: 'other', code: CODE_V1 });
    const forbidden = await refusal(client.getProject(other.id));
    expect([forbidden.status, forbidden.code]).to.deep.equal([403, 'forbidden']);
    const missing = await refusal(admin.getProject('prj_00000000000000000000000000'));
    expect([missing.status, missing.code, missing.message]).to.deep.equal([404, 'not_found', 'project prj_00000000000000000000000000 not found']);
    const noRequest = await refusal(admin.getRequest('req_00000000000000000000000000'));
    expect([noRequest.status, noRequest.code]).to.deep.equal([404, 'not_found']);
  });

  it('reports no answer as unreachable and a body without the envelope as invalid_response', async () => {
    const port = await findFreePort();
    const closed = createGatewayClient({ url: `http://127.0.0.1:${port}`, token: 't' });
    const unreachable = await refusal(closed.listNodes());
    expect([unreachable.status, unreachable.code]).to.deep.equal([0, 'unreachable']);
    expect(unreachable.message).to.equal(`http://127.0.0.1:${port} is unreachable (ECONNREFUSED)`);
    const proxy = createGatewayClient({ url: 'http://gateway.test', fetch: async () => new Response('<html>bad gateway</html>', { status: 502, headers: { 'retry-after': '5' } }) });
    const invalid = await refusal(proxy.listNodes());
    expect([invalid.status, invalid.code, invalid.retryAfterSeconds]).to.deep.equal([502, 'invalid_response', 5]);
    expect(() => createGatewayClient({ url: 'ftp://x' })).to.throw(TypeError, 'http(s)');
  });
});

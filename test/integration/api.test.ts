// The HTTP API through the real Koa app on a real redis-server: envelopes, auth, idempotency, limits.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import type { ProcessContext } from '../../lib/process.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { queuePrefix } from '../../lib/queues.ts';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import { createNodeRegistration } from '../../lib/roles/node-record.ts';
import { buildNode } from '../support/builders.ts';
import { ADMIN_TOKEN, startTestWebserver, waitFor, type TestWebserver } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const CODE = 'export default (input) => ({ doubled: input * 2 });';

describe('HTTP API', function () {
  let redis: TestRedis;
  let ctx: ProcessContext;
  let web: TestWebserver;
  let call: TestWebserver['call'];

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    web = await startTestWebserver(redis.url, { GATEWAY_BODY_LIMIT_BYTES: '4096' });
    ({ ctx, call } = web);
  });
  afterEach(() => web.stop());

  async function createProject(body: Record<string, unknown> = {}) {
    const reply = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'prices', code: CODE, ...body } });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
    return reply.body as { id: string; apiKey: string; codeCid: string };
  }

  it('creates a project with defaults and returns its key once', async () => {
    const project = await createProject();
    expect(project.id).to.match(/^prj_[0-9a-z]{26}$/);
    expect(project.apiKey).to.match(/^gwk_/);
    expect(project).to.deep.include({ version: 1, committee: { size: 3, quorum: 2 }, aggregation: 'exact', codeCid: computeContentId(utf8(CODE)) });
    expect(project).to.have.nested.property('limits.timeoutMs', 5000);
    const read = await call('GET', `/v1/projects/${project.id}`, { token: project.apiKey });
    expect(read.status).to.equal(200);
    expect(read.body).to.not.have.property('apiKey');
    expect(read.body.name).to.equal('prices');
  });

  it('answers every error in the envelope with its code', async () => {
    const noToken = await call('POST', '/v1/projects', { body: { name: 'x', code: CODE } });
    expect(noToken.status).to.equal(401);
    expect(noToken.body.error.code).to.equal('unauthorized');
    const badJson = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, raw: '{"name":', headers: { 'content-type': 'application/json' } });
    expect(badJson.status).to.equal(400);
    expect(badJson.body.error.code).to.equal('invalid_json');
    const badBody = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: '', code: CODE, committee: { size: 3, quorum: 5 }, extra: 1 } });
    expect(badBody.status).to.equal(400);
    expect(badBody.body.error.code).to.equal('invalid_body');
    expect(badBody.body.error.details).to.deep.equal(['extra: unknown field']);
    const badFields = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: '', code: CODE, committee: { size: 3, quorum: 5 } } });
    expect(badFields.body.error.details).to.deep.equal(['name: must be 1..100 characters', 'committee.quorum: must be an integer in 1..3']);
    const tooLarge = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'x', code: 'x'.repeat(5000) } });
    expect(tooLarge.status).to.equal(413);
    expect(tooLarge.body.error.code).to.equal('payload_too_large');
    const wrongType = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(wrongType.status).to.equal(415);
    const missing = await call('GET', '/v1/projects/prj_00000000000000000000000000', { token: ADMIN_TOKEN });
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('not_found');
    const noRoute = await call('GET', '/v1/nothing');
    expect(noRoute.status).to.equal(404);
    expect(noRoute.headers.get('x-request-id')).to.be.a('string').and.not.equal('');
  });

  it('refuses code that does not compile with invalid_code and the position', async () => {
    const reply = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'x', code: 'export default (input) => {\n  return input +;\n}' } });
    expect(reply.status).to.equal(400);
    expect(reply.body.error.code).to.equal('invalid_code');
    expect(reply.body.error.message).to.match(/line 2/);
    const noEntry = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'x', code: 'const x = 1;' } });
    expect(noEntry.body.error.code).to.equal('invalid_code');
  });

  it('confines a project key to its own project', async () => {
    const a = await createProject();
    const b = await createProject();
    const cross = await call('GET', `/v1/projects/${b.id}`, { token: a.apiKey });
    expect(cross.status).to.equal(403);
    expect(cross.body.error.code).to.equal('forbidden');
    const send = await call('POST', `/v1/projects/${b.id}/requests`, { token: a.apiKey, body: { input: 1 } });
    expect(send.status).to.equal(403);
    const admin = await call('POST', '/v1/projects', { token: a.apiKey, body: { name: 'x', code: CODE } });
    expect(admin.status).to.equal(403);
    const bogus = await call('GET', `/v1/projects/${a.id}`, { token: 'gwk_not-a-key' });
    expect(bogus.status).to.equal(401);
  });

  it('accepts a request as queued, persisted and enqueued under its id', async () => {
    const project = await createProject();
    const reply = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: 21 } });
    expect(reply.status).to.equal(202);
    expect(reply.body.status).to.equal('queued');
    const stored = await ctx.repository.getRequest(reply.body.id);
    expect(stored).to.deep.include({ status: 'queued', input: 21, source: 'api', projectId: project.id, version: 1 });
    const queue = new Queue('incoming', { connection: ctx.connection, prefix: queuePrefix(ctx.config.keyPrefix, 'incoming') });
    const job = await queue.getJob(reply.body.id);
    await queue.close();
    expect(job?.data).to.deep.equal({ kind: 'request', requestId: reply.body.id, projectId: project.id, acceptedAtMs: Date.parse(stored!.createdAt) });
  });

  it('returns the same id for the same Idempotency-Key', async () => {
    const project = await createProject();
    const first = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: 1 }, headers: { 'idempotency-key': 'order-42' } });
    const again = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: 1 }, headers: { 'idempotency-key': 'order-42' } });
    expect(first.status).to.equal(202);
    expect(again.status).to.equal(200);
    expect(again.body.id).to.equal(first.body.id);
    const list = await call('GET', `/v1/projects/${project.id}/requests`, { token: project.apiKey });
    expect(list.body.items).to.have.length(1);
  });

  it('answers 409 conflict when an Idempotency-Key is used again with another input or version, and stores nothing', async () => {
    const project = await createProject();
    const send = (body: unknown) => call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body, headers: { 'idempotency-key': 'order-43' } });
    const first = await send({ input: { n: 1 } });
    expect(first.status).to.equal(202);
    expect((await call('PUT', `/v1/projects/${project.id}/code`, { token: project.apiKey, body: { code: 'export default () => 2' } })).body.version).to.equal(2);
    for (const body of [{ input: { n: 2 } }, { input: { n: 1 }, version: 2 }, {}]) {
      const reused = await send(body);
      expect(reused.status, JSON.stringify(body)).to.equal(409);
      expect(reused.body.error.code).to.equal('conflict');
      expect(reused.body.error.message).to.include(first.body.id);
    }
    expect((await send({ input: { n: 1 } })).body).to.deep.include({ id: first.body.id });
    const list = await call('GET', `/v1/projects/${project.id}/requests`, { token: project.apiKey });
    expect(list.body.items.map((r: { id: string }) => r.id)).to.deep.equal([first.body.id]);
  });

  it('refuses new requests with 429 and Retry-After while too many wait', async () => {
    await web.stop();
    web = await startTestWebserver(redis.url, { GATEWAY_MAX_QUEUED: '2' });
    ({ ctx, call } = web);
    const project = await createProject();
    for (let i = 0; i < 2; i++) expect((await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: i } })).status).to.equal(202);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const refused = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: 3 } });
    expect(refused.status).to.equal(429);
    expect(refused.body.error.code).to.equal('rate_limited');
    expect(refused.headers.get('retry-after')).to.equal('1');
  });

  it('keeps old code versions and serves code by content id', async () => {
    const project = await createProject();
    const next = 'export default () => 2;';
    const put = await call('PUT', `/v1/projects/${project.id}/code`, { token: project.apiKey, body: { code: next } });
    expect(put.body).to.deep.equal({ version: 2, codeCid: computeContentId(utf8(next)) });
    const versions = await call('GET', `/v1/projects/${project.id}/versions`, { token: project.apiKey });
    expect(versions.body.items.map((v: { version: number }) => v.version)).to.deep.equal([1, 2]);
    const code = await call('GET', `/v1/code/${project.codeCid}`);
    expect(code.body).to.equal(CODE);
    expect(createHash('sha256').update(code.body).digest('hex')).to.equal(createHash('sha256').update(CODE).digest('hex'));
    const old = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { version: 1 } });
    expect((await ctx.repository.getRequest(old.body.id))?.codeCid).to.equal(project.codeCid);
    const none = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { version: 9 } });
    expect(none.status).to.equal(404);
  });

  it('stores secrets sealed and lists only their names', async () => {
    const project = await createProject();
    const put = await call('PUT', `/v1/projects/${project.id}/secrets`, { token: project.apiKey, body: { API_TOKEN: 's3cr3t-value', OTHER: 'x' } });
    expect(put.status).to.equal(204);
    const names = await call('GET', `/v1/projects/${project.id}/secrets`, { token: project.apiKey });
    expect(names.body).to.deep.equal({ items: [{ name: 'API_TOKEN' }, { name: 'OTHER' }] });
    const raw = await ctx.connection.hgetall(createKeys(ctx.config.keyPrefix).projectSecrets(project.id));
    expect(JSON.stringify(raw)).to.not.include('s3cr3t-value');
    expect(await ctx.repository.getSecrets(project.id)).to.deep.equal({ API_TOKEN: 's3cr3t-value', OTHER: 'x' });
  });

  it('validates schedules and reports their next run', async () => {
    const project = await createProject();
    const bad = await call('POST', `/v1/projects/${project.id}/schedules`, { token: project.apiKey, body: { cron: 'every minute' } });
    expect(bad.status).to.equal(400);
    const ok = await call('POST', `/v1/projects/${project.id}/schedules`, { token: project.apiKey, body: { cron: '*/5 * * * * *', input: { a: 1 } } });
    expect(ok.status).to.equal(201);
    expect(ok.body.id).to.match(/^sch_/);
    expect(Date.parse(ok.body.nextRunAt)).to.be.greaterThan(Date.now() - 1000);
    const list = await call('GET', `/v1/projects/${project.id}/schedules`, { token: project.apiKey });
    expect(list.body.items).to.have.length(1);
    expect((await call('DELETE', `/v1/schedules/${ok.body.id}`, { token: project.apiKey })).status).to.equal(204);
    expect((await call('GET', `/v1/projects/${project.id}/schedules`, { token: project.apiKey })).body.items).to.have.length(0);
  });

  it('registers nodes with valid keys only, idempotently', async () => {
    const node = buildNode(7);
    const body = createNodeRegistration(node.keys, 'n7');
    const first = await call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body });
    expect(first.status).to.equal(201);
    expect(first.body.id).to.equal(node.nodeId);
    expect((await call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body })).status).to.equal(200);
    const smallOrder = await call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body: { ...body, vrfPublicKey: '01'.padEnd(64, '0') } });
    expect(smallOrder.status).to.equal(400);
    const list = await call('GET', '/v1/nodes');
    expect(list.body.items.map((n: { id: string }) => n.id)).to.deep.equal([node.nodeId]);
    expect((await call('DELETE', `/v1/nodes/${node.nodeId}`, { token: ADMIN_TOKEN })).status).to.equal(204);
    expect((await call('GET', '/v1/nodes')).body.items[0].status).to.equal('removed');
  });

  it('serves health, readiness, metrics and the OpenAPI document', async () => {
    expect((await call('GET', '/healthz')).status).to.equal(200);
    expect((await call('GET', '/readyz')).body).to.deep.equal({ ok: true, redis: true, roles: true });
    const metrics = await call('GET', '/metrics');
    expect(metrics.body).to.include('gateway_requests_accepted_total');
    const openapi = await call('GET', '/openapi.json');
    expect(openapi.body.paths).to.have.property('/v1/requests/{id}');
  });

  it('answers 503 unavailable at once while Redis is down', async () => {
    const own = await startTestRedis();
    const server = await startTestWebserver(own.url);
    const { ctx: local, call: client } = server;
    try {
      const project = (await client('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'x', code: CODE } })).body;
      await own.stop();
      await waitFor(async () => (local.connection.status !== 'ready' ? true : undefined), 5000, 'the connection to drop');
      const started = Date.now();
      const down = await client('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: 1 } });
      expect(down.status).to.equal(503);
      expect(down.body.error.code).to.equal('unavailable');
      expect(Date.now() - started).to.be.below(1000);
      expect((await client('GET', '/readyz')).status).to.equal(503);
    } finally {
      local.connection.disconnect();
      await server.stop().catch(() => undefined);
      await own.stop();
    }
  });

  it('lists an empty ledger that verifies', async () => {
    expect((await call('GET', '/v1/ledger')).body).to.deep.equal({ items: [], nextCursor: null });
    expect((await call('GET', '/v1/ledger/verify')).body).to.deep.equal({ ok: true, length: 0, head: '0'.repeat(64) });
    expect((await call('GET', '/v1/rounds/latest')).status).to.equal(404);
  });
});

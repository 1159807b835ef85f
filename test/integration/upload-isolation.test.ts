// Code uploads through the real API and the real code-check processes: nothing an upload does runs on
// the webserver's thread, a check that runs long is killed at the host deadline, and uploads are metered.
import { expect } from 'chai';
import { ADMIN_TOKEN, startTestWebserver, type TestWebserver } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const GOOD = 'export default (input) => input';
const LOOPING_GETTER = 'const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e;\nexport default () => 1';
const LOOPING_STACK = 'Error.prepareStackTrace = () => { for (;;) {} };\nthrow new Error("boot");\nexport default () => 1';
const LOOPING_PROXY = 'throw new Proxy({}, { get() { for (;;) {} }, getPrototypeOf() { for (;;) {} } });\nexport default () => 1';

describe('code uploads are checked off the serving thread', function () {
  this.timeout(60_000);
  // The check processes killed at their deadline are respawned across tests.
  allowSharedFixtures(this);
  let redis: TestRedis;
  let web: TestWebserver;

  before(async () => {
    redis = await startTestRedis();
    web = await startTestWebserver(redis.url, { GATEWAY_CHECK_TIMEOUT_MS: '1500', GATEWAY_CHECK_MAX_QUEUED: '3', GATEWAY_CHECK_PROCESSES: '1' });
  });
  after(async () => {
    await web.stop();
    await redis.stop();
  });

  const call: TestWebserver['call'] = (...args) => web.call(...args);
  const upload = (code: string) => call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'hostile', code } });

  for (const [name, code] of [['a looping getter on a thrown value', LOOPING_GETTER], ['a looping Error.prepareStackTrace', LOOPING_STACK], ['a thrown proxy with looping traps', LOOPING_PROXY]]) {
    it(`refuses ${name} at the check deadline while /healthz keeps answering`, async () => {
      const pending = upload(code);
      let healthChecks = 0;
      let isSettled = false;
      void pending.finally(() => { isSettled = true; });
      // The event loop stays free: health checks complete one after another while the check runs.
      while (!isSettled) {
        expect((await call('GET', '/healthz')).status).to.equal(200);
        healthChecks++;
      }
      const reply = await pending;
      expect(reply.status).to.equal(400);
      expect(reply.body.error.code).to.equal('invalid_code');
      expect(reply.body.error.message).to.be.oneOf([
        'the code check did not finish within 1500 ms (top-level code, or a value it threw, kept running)',
        'top-level code did not finish within 200 ms',
      ]);
      expect(healthChecks).to.be.greaterThan(1);
      const next = await upload(GOOD);
      expect(next.status, JSON.stringify(next.body)).to.equal(201);
    });
  }

  it('refuses uploads past the queue bound with 429 and Retry-After, and checks the rest', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, () => upload(LOOPING_GETTER)));
    const statuses = replies.map((r) => r.status).sort();
    const limited = replies.filter((r) => r.status === 429);
    // One in a check, three waiting: the other four are refused at once.
    expect(limited.length).to.be.at.least(4);
    for (const reply of limited) {
      expect(reply.body.error.code).to.equal('rate_limited');
      expect(reply.headers.get('retry-after')).to.equal('1');
    }
    expect(statuses.filter((s) => s === 400).length + limited.length).to.equal(8);
    expect((await upload(GOOD)).status).to.equal(201);
  });

  it('checks a code update the same way', async () => {
    const project = await upload(GOOD);
    const reply = await call('PUT', `/v1/projects/${project.body.id}/code`, { token: project.body.apiKey, body: { code: LOOPING_STACK } });
    expect(reply.status).to.equal(400);
    expect(reply.body.error.code).to.equal('invalid_code');
    const versions = await call('GET', `/v1/projects/${project.body.id}/versions`, { token: project.body.apiKey });
    expect(versions.body.items.map((v: { version: number }) => v.version)).to.deep.equal([1]);
  });
});

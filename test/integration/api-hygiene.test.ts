// Hostile input through the real Koa app on a real redis-server: every query parameter, unknown
// methods, oversized chunked bodies, and the bounded cost of the ledger check.
import { expect } from 'chai';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { utf8 } from '../../lib/crypto/bytes.ts';
import type { ProcessContext } from '../../lib/process.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { LedgerEntry, Project } from '../../lib/repository/types.ts';
import { createApiKey } from '../../lib/roles/webserver/auth.ts';
import { createLedgerVerifier } from '../../lib/roles/webserver/ledger-verifier.ts';
import { ADMIN_TOKEN, TEST_LIMITS, startTestWebserver, type TestWebserver } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const BODY_LIMIT = 4096;
const ZEROS = '0'.repeat(64);

interface RawReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: any;
  /** Body bytes the client had written when the response arrived. */
  readonly sentBytes: number;
}

/**
 * One request over its own socket with node:http. The body is written with chunked encoding (no
 * Content-Length): `text` in two chunks, or `chunks` KiB of spaces, or (`endless`) KiB after KiB
 * until the response arrives.
 */
function rawRequest(baseUrl: string, method: string, path: string, options: { token?: string; text?: string; chunks?: number; endless?: boolean } = {}): Promise<RawReply> {
  const chunk = Buffer.alloc(1024, 0x20);
  const capBytes = 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const req = httpRequest(`${baseUrl}${path}`, { method, agent: false, headers });
    let sentBytes = 0;
    let responded = false;
    req.on('response', (res) => {
      responded = true;
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        req.destroy();
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined, sentBytes });
      });
    });
    // Writes the server no longer reads may fail once it closed the socket; only the response counts.
    req.on('error', (error) => { if (!responded) reject(error); });
    if (options.text !== undefined) {
      const half = Math.floor(options.text.length / 2);
      req.write(options.text.slice(0, half));
      return void setTimeout(() => req.end(options.text!.slice(half)), 20);
    }
    if (options.chunks === undefined && !options.endless) return void req.end();
    let left = options.chunks ?? Infinity;
    const pump = (): void => {
      while (!responded && left > 0 && sentBytes < capBytes) {
        left -= 1;
        sentBytes += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!responded) req.end();
    };
    pump();
  });
}

describe('HTTP API hygiene', function () {
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
    web = await startTestWebserver(redis.url, { GATEWAY_BODY_LIMIT_BYTES: String(BODY_LIMIT) });
    ({ ctx, call } = web);
  });
  afterEach(() => web.stop());

  async function putProject(): Promise<{ project: Project; apiKey: string }> {
    const nowMs = Date.now();
    const code = 'export default (input) => input;';
    const project: Project = {
      id: `prj_${'0'.repeat(16)}${nowMs.toString(32).padStart(10, '0')}`, name: 'hygiene', description: '',
      committee: { size: 1, quorum: 1 }, aggregation: 'exact', limits: TEST_LIMITS, version: 1,
      codeCid: computeContentId(utf8(code)), createdAt: new Date(nowMs).toISOString(),
    };
    const { apiKey, hash } = createApiKey();
    await ctx.repository.putProject(project, code, hash, nowMs);
    return { project, apiKey };
  }

  /** Expects 400 `invalid_query` with exactly `details` for each `[path, details]`. */
  async function expectInvalidQuery(token: string | undefined, cases: readonly (readonly [string, readonly string[]])[]): Promise<void> {
    for (const [path, details] of cases) {
      const reply = await call('GET', path, token ? { token } : {});
      expect(reply.status, `${path.slice(0, 120)}: ${JSON.stringify(reply.body).slice(0, 300)}`).to.equal(400);
      expect(reply.body.error.code, path.slice(0, 120)).to.equal('invalid_query');
      expect(reply.body.error.details, path.slice(0, 120)).to.deep.equal(details);
    }
  }

  async function appendEntries(count: number, tag: string): Promise<LedgerEntry[]> {
    return Promise.all(Array.from({ length: count }, (_, i) => ctx.repository.appendLedger({
      requestId: `req_${tag}_${i}`, projectId: 'prj_ledger', codeCid: 'bafkreiexample', inputHash: 'ef'.repeat(32), createdAt: '2026-01-01T00:00:00.000Z', round: 2, k: 3, q: 2, aggregation: 'exact' as const, resultHash: 'ab'.repeat(32), ok: true, votesDigest: 'cd'.repeat(32),
    })));
  }

  async function commandCalls(command: string): Promise<number> {
    const stats = await ctx.connection.info('commandstats');
    const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats);
    return match ? Number(match[1]) : 0;
  }

  describe('query parameters', () => {
    const LIMIT = ['limit: must be an integer in 1..500'];
    const CURSOR = ['cursor: not a cursor this API returned'];

    it('refuses a bad limit or cursor on the project list with invalid_query naming it', async () => {
      await expectInvalidQuery(ADMIN_TOKEN, [
        ['/v1/projects?limit=1&limit=2', ['limit: give it at most once']],
        ['/v1/projects?limit=', ['limit: must not be empty']],
        ...['1e3', '-1', '0x10', '0', '501', '99999999999999999999', '1.5', '%201', '1%20', '+5', 'NaN', 'Infinity', '%D9%A1', '%EF%BC%91'].map((v) => [`/v1/projects?limit=${v}`, LIMIT] as const),
        ['/v1/projects?cursor=', ['cursor: must not be empty']],
        ['/v1/projects?cursor=1&cursor=2', ['cursor: give it at most once']],
        ...['12:34', 'x'.repeat(10_000), '9'.repeat(10_000), '%F0%9F%98%80', 'abc', '1.5', '-1', 'req_00000000000000000000000000'].map((v) => [`/v1/projects?cursor=${v}`, CURSOR] as const),
        ['/v1/projects?limit=0&cursor=a:b', [...LIMIT, ...CURSOR]],
      ]);
    });

    it('accepts good values and ignores names it does not know', async () => {
      await putProject();
      const page = await call('GET', '/v1/projects?limit=1&cursor=99999999999999&unknown=1&unknown=2&LIMIT=x', { token: ADMIN_TOKEN });
      expect(page.status, JSON.stringify(page.body)).to.equal(200);
      expect(page.body.items).to.have.length(1);
      expect((await call('GET', '/v1/projects?limit=500', { token: ADMIN_TOKEN })).status).to.equal(200);
    });

    it('takes only request ids as the request list cursor', async () => {
      const { project, apiKey } = await putProject();
      const path = `/v1/projects/${project.id}/requests`;
      await expectInvalidQuery(apiKey, [
        [`${path}?cursor=1700000000000`, CURSOR],
        [`${path}?cursor=req_short`, CURSOR],
        [`${path}?cursor=req_0000000000000000000000000%3A`, CURSOR],
        [`${path}?cursor=${'r'.repeat(10_000)}`, CURSOR],
        [`${path}?limit=-1&limit=2`, ['limit: give it at most once']],
        [`${path}?limit=1e3`, LIMIT],
      ]);
      const ok = await call('GET', `${path}?limit=5&cursor=req_zzzzzzzzzzzzzzzzzzzzzzzzzz`, { token: apiKey });
      expect(ok.status).to.equal(200);
      expect(ok.body).to.deep.equal({ items: [], nextCursor: null });
    });

    it('refuses a bad wait before reading the request', async () => {
      const { apiKey } = await putProject();
      const path = '/v1/requests/req_00000000000000000000000000';
      const WAIT = ['wait: must be an integer in 0..30000'];
      await expectInvalidQuery(apiKey, [
        ...['NaN', '30001', '-1', '1e3', '1.5', '0x10', '%D9%A1', '99999999999999999999'].map((v) => [`${path}?wait=${v}`, WAIT] as const),
        [`${path}?wait=`, ['wait: must not be empty']],
        [`${path}?wait=1&wait=2`, ['wait: give it at most once']],
      ]);
      const missing = await call('GET', `${path}?wait=0`, { token: apiKey });
      expect(missing.status).to.equal(404);
      expect(missing.body.error.code).to.equal('not_found');
    });

    it('refuses a bad after, cursor or limit on the ledger, and a bad full on its check', async () => {
      const AFTER = ['after: must be an integer in 0..1000000000000000'];
      await expectInvalidQuery(undefined, [
        ...['1.5', '-1', '1e3', 'abc', '99999999999999999', '%D9%A1'].map((v) => [`/v1/ledger?after=${v}`, AFTER] as const),
        ['/v1/ledger?cursor=a:b', ['cursor: must be an integer in 0..1000000000000000']],
        ['/v1/ledger?after=1&after=1', ['after: give it at most once']],
        ['/v1/ledger?after=1&cursor=2', ['after: give after or cursor, not both']],
        ['/v1/ledger?limit=501', LIMIT],
        ...['1', 'yes', 'TRUE', ''].map((v) => [`/v1/ledger/verify?full=${v}`, [v === '' ? 'full: must not be empty' : 'full: must be true or false']] as const),
        ['/v1/ledger/verify?full=true&full=true', ['full: give it at most once']],
      ]);
      await appendEntries(3, 'q');
      const page = await call('GET', '/v1/ledger?limit=2&ignored=x');
      expect(page.body.items.map((e: LedgerEntry) => e.seq)).to.deep.equal([1, 2]);
      expect(page.body.nextCursor).to.equal('2');
      const next = await call('GET', `/v1/ledger?cursor=${page.body.nextCursor}`);
      expect(next.body.items.map((e: LedgerEntry) => e.seq)).to.deep.equal([3]);
      expect((await call('GET', '/v1/ledger?after=1000000000000000')).body).to.deep.equal({ items: [], nextCursor: null });
    });

    it('answers 404, never 500, for hostile path segments', async () => {
      for (const path of ['/v1/rounds/1e3', '/v1/rounds/-1', '/v1/rounds/99999999999999999999', '/v1/rounds/0x10', '/v1/rounds/%E0%A4%A', `/v1/rounds/${'9'.repeat(5000)}`, '/v1/requests/%ZZ', '/v1/requests/req_%3A']) {
        const reply = await call('GET', path, { token: ADMIN_TOKEN });
        expect(reply.status, path.slice(0, 80)).to.equal(404);
        expect(reply.body.error.code, path.slice(0, 80)).to.equal('not_found');
      }
    });
  });

  describe('methods', () => {
    it('answers a known path with another method 405 method_not_allowed and Allow', async () => {
      for (const [method, path, allow] of [
        ['DELETE', '/v1/ledger', 'HEAD, GET'],
        ['POST', '/v1/requests/req_00000000000000000000000000', 'HEAD, GET'],
        ['PATCH', '/v1/projects', 'HEAD, GET, POST'],
      ] as const) {
        const reply = await call(method, path, { token: ADMIN_TOKEN });
        expect(reply.status, `${method} ${path}`).to.equal(405);
        expect(reply.body.error.code).to.equal('method_not_allowed');
        expect(reply.headers.get('allow')?.split(', ').sort()).to.deep.equal(allow.split(', ').sort());
        expect(reply.headers.get('x-request-id')).to.be.a('string');
      }
    });

    it('answers a method no route serves 501 not_implemented in the envelope', async () => {
      for (const [method, path] of [['PROPFIND', '/v1/ledger'], ['PROPFIND', '/nowhere'], ['TRACE', '/v1/ledger'], ['MKCOL', '/v1/projects']]) {
        const reply = await rawRequest(web.url, method, path);
        expect(reply.status, `${method} ${path}`).to.equal(501);
        expect(reply.body.error.code).to.equal('not_implemented');
      }
      expect((await rawRequest(web.url, 'PROPFIND', '/nowhere')).headers.allow).to.equal(undefined);
    });

    it('answers OPTIONS with 200 and Allow on a known path, 404 in the envelope elsewhere', async () => {
      const known = await call('OPTIONS', '/v1/ledger/verify');
      expect(known.status).to.equal(200);
      expect(known.headers.get('allow')).to.equal('HEAD, GET');
      expect(known.body).to.equal(undefined);
      const unknown = await call('OPTIONS', '/nowhere');
      expect(unknown.status).to.equal(404);
      expect(unknown.body.error.code).to.equal('not_found');
    });

    it('answers a method Node cannot parse with 501 not_implemented in the envelope, and closes', async () => {
      const reply = await rawRequest(web.url, 'FOO', '/v1/ledger');
      expect(reply.status).to.equal(501);
      expect(reply.body.error.code).to.equal('not_implemented');
      expect(reply.headers.connection).to.equal('close');
    });
  });

  describe('request bodies', () => {
    it('answers a chunked body past the limit 413 payload_too_large with Connection: close', async () => {
      const reply = await rawRequest(web.url, 'POST', '/v1/projects', { token: ADMIN_TOKEN, chunks: 8 });
      expect(reply.status).to.equal(413);
      expect(reply.body.error.code).to.equal('payload_too_large');
      expect(reply.headers.connection).to.equal('close');
    });

    it('answers a chunked body that never ends with 413 while the client is still sending', async () => {
      const reply = await rawRequest(web.url, 'POST', '/v1/projects', { token: ADMIN_TOKEN, endless: true });
      expect(reply.status).to.equal(413);
      expect(reply.body).to.deep.equal({ error: { code: 'payload_too_large', message: `the body exceeds ${BODY_LIMIT} bytes` } });
      expect(reply.sentBytes).to.be.below(64 * 1024 * 1024);
      expect((await call('GET', '/healthz')).status).to.equal(200);
    });

    it('still reads a chunked body within the limit', async () => {
      const reply = await rawRequest(web.url, 'POST', '/v1/projects', { token: ADMIN_TOKEN, text: JSON.stringify({ name: '', code: 'x', pad: ' '.repeat(BODY_LIMIT - 100) }) });
      expect(reply.status).to.equal(400);
      expect(reply.body.error.details).to.deep.equal(['pad: unknown field']);
    });
  });

  describe('ledger check', () => {
    it('answers anonymous calls from the verified prefix, reading only entries appended since', async () => {
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.equal({ ok: true, length: 0, head: ZEROS });
      const [first] = await appendEntries(1, 'a');
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.equal({ ok: true, length: 1, head: first.hash });
      const more = await appendEntries(5, 'b');
      const head = more.find((e) => e.seq === 6)!.hash;
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.equal({ ok: true, length: 6, head });

      await ctx.connection.config('RESETSTAT');
      for (let i = 0; i < 3; i++) expect((await call('GET', '/v1/ledger/verify')).body).to.deep.equal({ ok: true, length: 6, head });
      expect(await commandCalls('lrange'), 'LRANGE without new entries').to.equal(0);
      expect(await commandCalls('lindex'), 'one LINDEX per call: the last verified entry').to.equal(3);

      await appendEntries(2, 'c');
      await ctx.connection.config('RESETSTAT');
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.include({ ok: true, length: 8 });
      expect(await commandCalls('lrange')).to.equal(1);
    });

    it('verifies at most 1000 new entries per anonymous call and reports the rest as pending', async () => {
      await appendEntries(2500, 'p');
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.include({ ok: true, length: 1000, pending: 1500 });
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.include({ ok: true, length: 2000, pending: 500 });
      const done = (await call('GET', '/v1/ledger/verify')).body;
      expect(done).to.deep.include({ ok: true, length: 2500 });
      expect(done).to.not.have.property('pending');
    });

    it('leaves the full re-verification to the admin, who sees a tampered entry', async () => {
      const { apiKey } = await putProject();
      const entries = (await appendEntries(5, 't')).sort((a, b) => a.seq - b.seq);
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.include({ ok: true, length: 5 });
      await ctx.connection.lset(createKeys(ctx.config.keyPrefix).ledger, 2, JSON.stringify({ ...entries[2], resultHash: 'ee'.repeat(32) }));

      const anonymous = await call('GET', '/v1/ledger/verify?full=true');
      expect(anonymous.status).to.equal(401);
      expect(anonymous.body.error.code).to.equal('unauthorized');
      const project = await call('GET', '/v1/ledger/verify?full=true', { token: apiKey });
      expect(project.status).to.equal(403);
      expect(project.body.error.code).to.equal('forbidden');

      // Entry 3 is before the verified head: only the full check reads it again.
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.include({ ok: true, length: 5 });
      const full = await call('GET', '/v1/ledger/verify?full=true', { token: ADMIN_TOKEN });
      expect(full.status).to.equal(200);
      expect(full.body).to.deep.equal({ ok: false, length: 2, head: entries[1].hash, badSeq: 3 });
      // The full check's verdict becomes the cached prefix, so everyone sees it from now on.
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.equal({ ok: false, length: 2, head: entries[1].hash, badSeq: 3 });
      expect((await call('GET', '/v1/ledger/verify?full=false')).body).to.deep.include({ ok: false, badSeq: 3 });
    });

    it('reports a change to the last verified entry, then re-verifies from seq 1', async () => {
      const entries = (await appendEntries(4, 'h')).sort((a, b) => a.seq - b.seq);
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.include({ ok: true, length: 4 });
      await ctx.connection.lset(createKeys(ctx.config.keyPrefix).ledger, 3, JSON.stringify({ ...entries[3], ok: false }));
      const expected = { ok: false, length: 3, head: entries[2].hash, badSeq: 4 };
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.equal(expected);
      expect((await call('GET', '/v1/ledger/verify')).body).to.deep.equal(expected);
    });

    it('reports an entry that is not JSON as bad instead of failing', async () => {
      await appendEntries(3, 'j');
      await ctx.connection.lset(createKeys(ctx.config.keyPrefix).ledger, 1, 'not json {');
      const full = await call('GET', '/v1/ledger/verify?full=true', { token: ADMIN_TOKEN });
      expect(full.status).to.equal(200);
      expect(full.body).to.deep.include({ ok: false, length: 1, badSeq: 2 });
    });

    it('shares one run between concurrent calls and reads O(new entries) per call', async () => {
      let entriesRead = 0;
      let lengthReads = 0;
      const verifier = createLedgerVerifier({
        getLedgerLength: () => { lengthReads += 1; return ctx.repository.getLedgerLength(); },
        listLedgerText: async (fromSeq, count) => {
          const texts = await ctx.repository.listLedgerText(fromSeq, count);
          entriesRead += texts.length;
          return texts;
        },
        getLatestRoundNumber: () => ctx.repository.getLatestRoundNumber(),
        getRound: (n) => ctx.repository.getRound(n),
        getLedgerBase: () => ctx.repository.getLedgerBase(),
      }, null, 3);
      await appendEntries(7, 'v');
      const [a, b] = [verifier.verifyNew(), verifier.verifyNew()];
      expect(a).to.equal(b);
      expect(await a).to.deep.include({ ok: true, length: 3, pending: 4 });
      expect([lengthReads, entriesRead]).to.deep.equal([1, 3]);
      expect(await verifier.verifyNew()).to.deep.include({ ok: true, length: 6, pending: 1 });
      expect(entriesRead).to.equal(3 + 1 + 3);
      expect(await verifier.verifyNew()).to.deep.include({ ok: true, length: 7 });
      entriesRead = 0;
      expect(await verifier.verifyNew()).to.deep.include({ ok: true, length: 7 });
      expect(entriesRead, 'only the last verified entry').to.equal(1);
      expect(verifier.stats().verifiedLength).to.equal(7);
      const [c, d] = [verifier.verifyAll(), verifier.verifyAll()];
      expect(c).to.equal(d);
      expect(await c).to.deep.include({ ok: true, length: 7 });
    });
  });
});

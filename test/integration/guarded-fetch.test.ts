// The guarded ctx.fetch over real loopback sockets only: allow-listed 127.0.0.2, refused loopback targets, redirects, caps, timeout.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import { expect } from 'chai';
import { createGuardedFetch, type FetchPolicy, type HostLookup } from '../../lib/sandbox/guarded-fetch.ts';

const ALLOWED_HOST = '127.0.0.2';
const JSON_BODY = JSON.stringify({ ok: true, text: 'héllo ✓' });

function buildPolicy(overrides: Partial<FetchPolicy> = {}): FetchPolicy {
  return { maxCalls: 10, timeoutMs: 2000, maxRequestBytes: 1024, maxResponseBytes: 4096, maxRedirects: 5, allow: [ALLOWED_HOST], ...overrides };
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(Error);
    return error as Error;
  }
  throw new Error('expected a rejection');
}

// Replaces http(s).request so a guard bug cannot open a connection anywhere; counts the attempts.
async function withoutConnections<T>(body: () => Promise<T>): Promise<{ result: T; attempts: number }> {
  const originals = { http: http.request, https: https.request };
  let attempts = 0;
  const refuse = (): never => {
    attempts++;
    throw new Error('test: unexpected connection attempt');
  };
  http.request = refuse as typeof http.request;
  https.request = refuse as typeof https.request;
  try {
    return { result: await body(), attempts };
  } finally {
    http.request = originals.http;
    https.request = originals.https;
  }
}

function listen(server: Server, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('guarded fetch (loopback only)', function () {
  this.timeout(10_000);
  const target = http.createServer((req, res) => void route(req, res));
  const trap = http.createServer((_req, res) => res.end('reached'));
  const trapV6 = http.createServer((_req, res) => res.end('reached'));
  let hasTrapV6 = false;
  let port = 0;
  let trapPort = 0;
  let trapConnections = 0;

  const redirects: Record<string, () => [number, string]> = {
    '/redirect-bad': () => [302, `http://127.0.0.1:${trapPort}/json`],
    '/redirect-ok': () => [302, '/json'],
    '/see-other': () => [303, '/echo'],
    '/redirect-ftp': () => [301, 'ftp://127.0.0.2/file'],
    '/loop': () => [302, '/loop'],
  };

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = req.url ?? '/';
    if (path === '/json') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-multi': ['a', 'b'] });
      res.end(JSON_BODY);
    } else if (path === '/big') {
      res.writeHead(200, { 'content-length': 65_536 }).end(Buffer.alloc(65_536, 'x'));
    } else if (path === '/big-stream') {
      res.writeHead(200);
      for (let i = 0; i < 8; i++) res.write(Buffer.alloc(1024, 'y'));
      res.end();
    } else if (path === '/slow') {
      res.writeHead(200);
      res.write('partial'); // and never ends
    } else if (redirects[path]) {
      const [status, location] = redirects[path]();
      res.writeHead(status, { location }).end();
    } else if (path === '/echo') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, body: Buffer.concat(chunks).toString('utf8'), headers: req.headers }));
    } else {
      res.writeHead(404).end('no such route');
    }
  }

  before(async () => {
    port = await listen(target, ALLOWED_HOST);
    trap.on('connection', () => trapConnections++);
    trapV6.on('connection', () => trapConnections++);
    trapPort = await listen(trap, '127.0.0.1');
    hasTrapV6 = await listen(trapV6, '::1', trapPort).then(() => true, () => false);
  });

  after(async () => {
    await Promise.all([close(target), close(trap), hasTrapV6 ? close(trapV6) : undefined]);
  });

  beforeEach(() => {
    trapConnections = 0;
  });

  it('fetches from the allow-listed 127.0.0.2 and returns status, lowercase joined headers and a UTF-8 body', async () => {
    const fetch = createGuardedFetch(buildPolicy());
    const reply = await fetch(`http://${ALLOWED_HOST}:${port}/json`, {});
    expect(reply.status).to.equal(200);
    expect(reply.headers['content-type']).to.equal('application/json; charset=utf-8');
    expect(reply.headers['x-multi']).to.equal('a, b');
    expect(reply.body).to.equal(JSON_BODY);
    expect(fetch.calls).to.equal(1);
  });

  it('sends method, body and headers, with Host and Content-Length set by the host', async () => {
    const fetch = createGuardedFetch(buildPolicy());
    const reply = await fetch(`http://${ALLOWED_HOST}:${port}/echo`, { method: 'post', headers: { 'X-Token': 'abc', 'Content-Type': 'text/plain' }, body: 'héllo' });
    const echo = JSON.parse(reply.body) as { method: string; body: string; headers: Record<string, string> };
    expect(echo.method).to.equal('POST');
    expect(echo.body).to.equal('héllo');
    expect(echo.headers).to.include({ 'x-token': 'abc', 'content-type': 'text/plain', host: `${ALLOWED_HOST}:${port}`, 'content-length': '6' });
  });

  it('connects an allow-listed name to its vetted address and sends the name as Host', async () => {
    const lookups: string[] = [];
    const lookup: HostLookup = async (host) => (lookups.push(host), [{ address: ALLOWED_HOST, family: 4 }]);
    const fetch = createGuardedFetch(buildPolicy({ allow: ['internal.test'] }), { lookup });
    const reply = await fetch(`http://internal.test:${port}/echo`, {});
    expect(lookups).to.deep.equal(['internal.test']);
    expect((JSON.parse(reply.body) as { headers: Record<string, string> }).headers.host).to.equal(`internal.test:${port}`);
  });

  for (const [label, url, message] of [
    ['127.0.0.1', () => `http://127.0.0.1:${trapPort}/`, /^fetch refused: 127\.0\.0\.1 is a loopback address$/],
    ['[::1]', () => `http://[::1]:${trapPort}/`, /^fetch refused: ::1 is a loopback address$/],
    ['localhost', () => `http://localhost:${trapPort}/`, /^fetch refused: localhost resolves to (127\.0\.0\.1|::1), which is a loopback address$/],
    ['2130706433 (decimal 127.0.0.1)', () => `http://2130706433:${trapPort}/`, /^fetch refused: 127\.0\.0\.1 is a loopback address$/],
    ['[::ffff:127.0.0.1]', () => `http://[::ffff:127.0.0.1]:${trapPort}/`, /^fetch refused: ::ffff:7f00:1 is a loopback address$/],
  ] as const) {
    it(`refuses ${label} without an allow-list entry, before any connection`, async () => {
      const fetch = createGuardedFetch(buildPolicy({ allow: [] }));
      const { result, attempts } = await withoutConnections(() => rejectionOf(fetch(url(), {})));
      expect(result.message).to.match(message);
      expect(attempts).to.equal(0);
      expect(trapConnections).to.equal(0);
    });
  }

  it('counts connections on the 127.0.0.1 trap when 127.0.0.1 is allow-listed (control)', async () => {
    const reply = await createGuardedFetch(buildPolicy({ allow: ['127.0.0.0/8'] }))(`http://127.0.0.1:${trapPort}/`, {});
    expect(reply.body).to.equal('reached');
    expect(trapConnections).to.equal(1);
  });

  it('reports a refused connection as a fetch failure', async () => {
    const fetch = createGuardedFetch(buildPolicy({ allow: ['127.0.0.0/8'] }));
    const error = await rejectionOf(fetch(`http://127.0.0.3:${port}/`, {}));
    expect(error.message).to.equal(`fetch failed: connect ECONNREFUSED 127.0.0.3:${port}`);
  });

  it('refuses a redirect to a loopback address after following it, and never reaches it', async () => {
    const fetch = createGuardedFetch(buildPolicy());
    const error = await rejectionOf(fetch(`http://${ALLOWED_HOST}:${port}/redirect-bad`, {}));
    expect(error.message).to.equal(`redirect to http://127.0.0.1:${trapPort}/json refused: 127.0.0.1 is a loopback address`);
    expect(trapConnections).to.equal(0);
  });

  it('follows a relative redirect', async () => {
    const reply = await createGuardedFetch(buildPolicy())(`http://${ALLOWED_HOST}:${port}/redirect-ok`, {});
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal(JSON_BODY);
  });

  it('turns a POST into a bodiless GET on 303', async () => {
    const fetch = createGuardedFetch(buildPolicy());
    const reply = await fetch(`http://${ALLOWED_HOST}:${port}/see-other`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'data' });
    const echo = JSON.parse(reply.body) as { method: string; body: string; headers: Record<string, string> };
    expect(echo).to.include({ method: 'GET', body: '' });
    expect(echo.headers).to.not.have.property('content-type');
  });

  it('stops after maxRedirects', async () => {
    const error = await rejectionOf(createGuardedFetch(buildPolicy({ maxRedirects: 2 }))(`http://${ALLOWED_HOST}:${port}/loop`, {}));
    expect(error.message).to.equal('fetch exceeded the limit of 2 redirects');
  });

  it('refuses a redirect to a non-http URL', async () => {
    const error = await rejectionOf(createGuardedFetch(buildPolicy())(`http://${ALLOWED_HOST}:${port}/redirect-ftp`, {}));
    expect(error.message).to.equal('redirect to ftp://127.0.0.2/file refused: only http and https URLs are allowed');
  });

  it('caps the response by its declared length and while streaming', async () => {
    const fetch = createGuardedFetch(buildPolicy({ maxResponseBytes: 1024 }));
    expect((await rejectionOf(fetch(`http://${ALLOWED_HOST}:${port}/big`, {}))).message).to.equal('response exceeds 1024 bytes');
    expect((await rejectionOf(fetch(`http://${ALLOWED_HOST}:${port}/big-stream`, {}))).message).to.equal('response exceeds 1024 bytes');
  });

  it('times out the whole exchange', async () => {
    const started = performance.now();
    const error = await rejectionOf(createGuardedFetch(buildPolicy({ timeoutMs: 300 }))(`http://${ALLOWED_HOST}:${port}/slow`, {}));
    expect(error.message).to.equal('fetch timed out after 300 ms');
    expect(performance.now() - started).to.be.lessThan(1500);
  });

  it('times out a lookup that never answers', async () => {
    const fetch = createGuardedFetch(buildPolicy({ timeoutMs: 200 }), { lookup: () => new Promise(() => undefined) });
    expect((await rejectionOf(fetch('http://hangs.test/', {}))).message).to.equal('fetch timed out after 200 ms');
  });

  it('rejects the call after maxCalls', async () => {
    const fetch = createGuardedFetch(buildPolicy({ maxCalls: 2 }));
    await fetch(`http://${ALLOWED_HOST}:${port}/json`, {});
    await fetch(`http://${ALLOWED_HOST}:${port}/json`, {});
    const error = await rejectionOf(fetch(`http://${ALLOWED_HOST}:${port}/json`, {}));
    expect(error.message).to.equal('fetch call limit of 2 reached');
    expect(fetch.calls).to.equal(2);
  });

  it('refuses a request body over maxRequestBytes before connecting', async () => {
    const fetch = createGuardedFetch(buildPolicy({ maxRequestBytes: 16 }));
    const { result, attempts } = await withoutConnections(() => rejectionOf(fetch(`http://${ALLOWED_HOST}:${port}/echo`, { method: 'POST', body: 'x'.repeat(17) })));
    expect(result.message).to.equal('request body exceeds 16 bytes');
    expect(attempts).to.equal(0);
  });

  it('refuses a name that resolves to a private address, before any connection', async () => {
    const lookups: string[] = [];
    const lookup: HostLookup = async (host) => (lookups.push(host), [{ address: '10.0.0.1', family: 4 }]);
    const fetch = createGuardedFetch(buildPolicy(), { lookup });
    const { result, attempts } = await withoutConnections(() => rejectionOf(fetch('http://evil.test/', {})));
    expect(result.message).to.equal('fetch refused: evil.test resolves to 10.0.0.1, which is a private address');
    expect(lookups).to.deep.equal(['evil.test']);
    expect(attempts).to.equal(0);
  });

  it('refuses a name with one public and one private address (DNS rebinding)', async () => {
    const lookup: HostLookup = async () => [{ address: '8.8.8.8', family: 4 }, { address: '169.254.169.254', family: 4 }];
    const fetch = createGuardedFetch(buildPolicy(), { lookup });
    const { result, attempts } = await withoutConnections(() => rejectionOf(fetch('https://rebind.test/', {})));
    expect(result.message).to.equal('fetch refused: rebind.test resolves to 169.254.169.254, which is a metadata address');
    expect(attempts).to.equal(0);
  });

  for (const [url, message] of [
    ['ftp://127.0.0.2/file', 'only http and https URLs are allowed'],
    ['file:///etc/passwd', 'only http and https URLs are allowed'],
    ['http://user:pass@127.0.0.2/', 'URLs with credentials are not allowed'],
    ['not a url', 'invalid URL: "not a url"'],
  ] as const) {
    it(`refuses ${url}`, async () => {
      const { result, attempts } = await withoutConnections(() => rejectionOf(createGuardedFetch(buildPolicy())(url, {})));
      expect(result.message).to.equal(message);
      expect(attempts).to.equal(0);
    });
  }

  it('refuses host-owned headers, unknown methods and a body on GET', async () => {
    const fetch = createGuardedFetch(buildPolicy());
    const url = `http://${ALLOWED_HOST}:${port}/echo`;
    const { result, attempts } = await withoutConnections(async () => [
      (await rejectionOf(fetch(url, { headers: { Host: 'other.test' } }))).message,
      (await rejectionOf(fetch(url, { headers: { 'Transfer-Encoding': 'chunked' } }))).message,
      (await rejectionOf(fetch(url, { headers: { 'x-a': 'line\r\nbreak' } }))).message,
      (await rejectionOf(fetch(url, { method: 'TRACE' }))).message,
      (await rejectionOf(fetch(url, { method: 'GET', body: 'x' }))).message,
    ]);
    expect(result).to.deep.equal([
      'header "host" is set by the host and cannot be sent',
      'header "transfer-encoding" is set by the host and cannot be sent',
      'invalid value for header "x-a"',
      'fetch method "TRACE" is not allowed; use one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
      'a GET request cannot have a body',
    ]);
    expect(attempts).to.equal(0);
  });
});

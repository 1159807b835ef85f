// /openapi.json against the live API: every route of the router is documented, and every documented
// operation is called (a success and an error each) with its answer checked against the schema the
// document gives for that operation, status and media type. `/docs` renders it from local assets only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020Module from 'ajv/dist/2020.js';
import { expect } from 'chai';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { createSandbox, openProcess, startExecutorNode, startRole, stopAll } from '../../lib/process.ts';
import { createLogger } from '../../lib/logger.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { createNodeRegistration } from '../../lib/roles/node-record.ts';
import { createApp, type WebDeps } from '../../lib/roles/webserver/webserver.ts';
import { openApiDocument } from '../../lib/roles/webserver/openapi.ts';
import { parseChainBindingBody, parseCodeBody, parseNodeBody, parseProjectBody, parseRequestBody, parseScheduleBody, parseSecretsBody } from '../../lib/roles/webserver/parse-body.ts';
import { buildNode } from '../support/builders.ts';
import { ADMIN_TOKEN, testConfig, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const Ajv2020 = (Ajv2020Module.default ?? Ajv2020Module) as typeof Ajv2020Module.default;

type Doc = typeof openApiDocument & { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }>; requestBody?: { content: Record<string, { schema: unknown }> } }>> };
const DOC_ID = 'https://gateway.test/openapi.json';

interface Exchange { method: string; template: string; status: number; type: string; body: unknown; sent?: unknown }

/** Operations that give no client error a test can provoke (only 500 or, for /readyz, 503 while Redis is down). */
const NO_CLIENT_ERROR = new Set(['get /healthz', 'get /readyz', 'get /metrics', 'get /openapi.json', 'get /', 'get /docs', 'get /v1/status', 'get /v1/nodes']);

/** The document's template for a concrete path, e.g. `/v1/requests/req_…` → `/v1/requests/{id}`. */
function templateOf(doc: Doc, method: string, path: string): string {
  const bare = path.split('?')[0];
  const matches = Object.keys(doc.paths).filter((template) => doc.paths[template][method] && new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare));
  // A literal segment wins over a parameter (`/v1/rounds/latest` before `/v1/rounds/{n}`).
  matches.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  if (matches.length === 0) throw new Error(`no documented operation for ${method} ${bare}`);
  return matches[0];
}

/** The document's schemas with their `#/components/...` references pointed at the document's id. */
function rebase(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${DOC_ID}#/components/`));
}

describe('the OpenAPI document and the live API', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  const doc = openApiDocument as unknown as Doc;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  ajv.addSchema({ $id: DOC_ID, components: doc.components });

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it('documents every route the router serves, and nothing it does not', async () => {
    const config = testConfig();
    const ctx = await openProcess('openapi-routes', config, redis.url, createLogger('openapi-routes', 'silent'));
    try {
      const deps = { ...ctx, clock: { now: () => Date.now() }, checkCode: async () => {}, isReady: () => true, waiters: {}, hasMasterKey: true, readBody: async () => undefined };
      const app = createApp(deps as unknown as WebDeps);
      const router = (app.middleware.find((fn) => 'router' in fn) as unknown as { router: { stack: Array<{ path: string; methods: string[] }> } }).router;
      const served = router.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m.toLowerCase()} ${layer.path.replace(/:(\w+)/g, '{$1}')}`));
      const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`));
      expect([...new Set(served)].sort()).to.deep.equal(documented.sort());
    } finally {
      await ctx.close();
    }
  });

  it('answers every operation as documented, for a success and an error each', async () => {
    const config = testConfig({ GATEWAY_SANDBOX_PROCESSES: '0', GATEWAY_ROUND_MS: '150' });
    const ctx = await openProcess('openapi', config, redis.url, createLogger('openapi', 'silent'));
    const sandbox = createSandbox(ctx);
    const dir = mkdtempSync(join(tmpdir(), 'gw-openapi-'));
    const handles: RoleHandle[] = [];
    const log: Exchange[] = [];
    try {
      const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
      handles.push(web);
      const call = async (method: string, path: string, options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) => {
        const headers: Record<string, string> = { ...options.headers };
        if (options.token) headers.authorization = `Bearer ${options.token}`;
        const sent = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
        if (sent !== undefined) headers['content-type'] ??= 'application/json';
        const response = await fetch(`${web.url}${path}`, { method, headers, body: sent });
        const text = await response.text();
        const type = response.headers.get('content-type') ?? '';
        const body = type.startsWith('application/json') ? JSON.parse(text) : text;
        log.push({ method: method.toLowerCase(), template: templateOf(doc, method.toLowerCase(), path), status: response.status, type, body, sent: options.body });
        return { status: response.status, body, headers: response.headers };
      };
      const expectStatus = async (status: number, method: string, path: string, options?: Parameters<typeof call>[2]) => {
        const reply = await call(method, path, options);
        expect(reply.status, `${method} ${path}: ${JSON.stringify(reply.body)}`).to.equal(status);
        return reply.body;
      };

      // Before the first round.
      await expectStatus(404, 'GET', '/v1/rounds/latest');
      for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
      handles.push(await startExecutorNode(ctx, join(dir, 'node.key'), { sandbox }));

      // Operator routes and the reference page.
      await expectStatus(200, 'GET', '/healthz');
      await waitFor(async () => ((await call('GET', '/readyz')).status === 200 ? true : undefined), 10_000, 'readiness');
      await expectStatus(200, 'GET', '/metrics');
      await expectStatus(200, 'GET', '/openapi.json');
      await expectStatus(200, 'GET', '/');
      await expectStatus(200, 'GET', '/docs');
      await expectStatus(404, 'GET', '/docs/index.html');

      // Projects.
      const code = 'export default (input, ctx) => ({ echoed: input, round: ctx.round })';
      const project = await expectStatus(201, 'POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'conformance', code, committee: { size: 1, quorum: 1 }, limits: { timeoutMs: 2000 } } });
      const other = await expectStatus(201, 'POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'other', code: 'export default () => 1' } });
      const key = project.apiKey as string;
      const base = `/v1/projects/${project.id}`;
      await expectStatus(401, 'POST', '/v1/projects', { body: { name: 'x', code } });
      await expectStatus(400, 'POST', '/v1/projects', { token: ADMIN_TOKEN, raw: '{"name":' });
      await expectStatus(400, 'POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: '', code, extra: 1 } });
      await expectStatus(400, 'POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'bad', code: 'import x from "y"; export default () => x' } });
      await expectStatus(200, 'GET', '/v1/projects?limit=1', { token: ADMIN_TOKEN });
      await expectStatus(400, 'GET', '/v1/projects?limit=0', { token: ADMIN_TOKEN });
      await expectStatus(200, 'GET', base, { token: key });
      await expectStatus(403, 'GET', `/v1/projects/${other.id}`, { token: key });
      await expectStatus(404, 'GET', '/v1/projects/prj_00000000000000000000000000', { token: ADMIN_TOKEN });

      await expectStatus(200, 'PUT', `${base}/code`, { token: key, body: { code: `${code} // v2` } });
      await expectStatus(400, 'PUT', `${base}/code`, { token: key, body: { code: 1 } });
      await expectStatus(200, 'GET', `${base}/versions`, { token: key });
      await expectStatus(401, 'GET', `${base}/versions`);
      await expectStatus(200, 'GET', `/v1/code/${computeContentId(utf8(code))}`);
      await expectStatus(404, 'GET', '/v1/code/not-a-cid');

      await expectStatus(204, 'PUT', `${base}/secrets`, { token: key, body: { API_KEY: 'value' } });
      await expectStatus(400, 'PUT', `${base}/secrets`, { token: key, body: { '1bad': 'value' } });
      await expectStatus(200, 'GET', `${base}/secrets`, { token: key });
      await expectStatus(403, 'GET', `${base}/secrets`, { token: other.apiKey });

      await expectStatus(200, 'PUT', `${base}/chain`, { token: ADMIN_TOKEN, body: { chainProjectId: 7 } });
      await expectStatus(403, 'PUT', `${base}/chain`, { token: key, body: { chainProjectId: 7 } });
      await expectStatus(200, 'GET', `${base}/chain`, { token: key });
      await expectStatus(404, 'GET', '/v1/projects/prj_00000000000000000000000000/chain', { token: ADMIN_TOKEN });

      const schedule = await expectStatus(201, 'POST', `${base}/schedules`, { token: key, body: { cron: '0  0 1 1 *', input: { a: 1 }, version: 2, timezone: 'Europe/Berlin' } });
      await expectStatus(400, 'POST', `${base}/schedules`, { token: key, body: { cron: '0 25 * * *' } });
      await expectStatus(200, 'GET', `${base}/schedules`, { token: key });
      await expectStatus(404, 'GET', '/v1/projects/prj_00000000000000000000000000/schedules', { token: ADMIN_TOKEN });
      await expectStatus(204, 'DELETE', `/v1/schedules/${schedule.id}`, { token: key });
      await expectStatus(404, 'DELETE', `/v1/schedules/${schedule.id}`, { token: key });

      // Requests, their reads and receipts.
      await waitFor(async () => ((await ctx.repository.getLatestRoundNumber()) >= 3 ? true : undefined), 10_000, 'round 3');
      const sent = await expectStatus(202, 'POST', `${base}/requests`, { token: key, body: { input: { name: 'world' }, version: 1 }, headers: { 'Idempotency-Key': 'first' } });
      await expectStatus(200, 'POST', `${base}/requests`, { token: key, body: { input: { name: 'world' }, version: 1 }, headers: { 'Idempotency-Key': 'first' } });
      await expectStatus(409, 'POST', `${base}/requests`, { token: key, body: { input: { name: 'moon' }, version: 1 }, headers: { 'Idempotency-Key': 'first' } });
      await expectStatus(400, 'POST', `${base}/requests`, { token: key, body: { input: 1, extra: true } });
      const done = await expectStatus(200, 'GET', `/v1/requests/${sent.id}?wait=10000`, { token: key });
      expect(done.status).to.equal('published');
      await expectStatus(400, 'GET', `/v1/requests/${sent.id}?wait=30001`, { token: key });
      await expectStatus(404, 'GET', '/v1/requests/req_00000000000000000000000000', { token: ADMIN_TOKEN });
      await expectStatus(200, 'GET', `${base}/requests?limit=5`, { token: key });
      await expectStatus(400, 'GET', `${base}/requests?cursor=nope`, { token: key });
      await waitFor(async () => ((await call('GET', `/v1/requests/${sent.id}/receipt`, { token: key })).status === 200 ? true : undefined), 10_000, 'the receipt');
      await expectStatus(404, 'GET', '/v1/requests/req_00000000000000000000000000/receipt', { token: ADMIN_TOKEN });

      // Code versions, once no open request runs them.
      await expectStatus(409, 'DELETE', `${base}/versions/2`, { token: key });
      await expectStatus(204, 'DELETE', `${base}/versions/1`, { token: key });
      await expectStatus(404, 'DELETE', `${base}/versions/1`, { token: key });

      // Nodes, rounds and the ledger.
      const registration = createNodeRegistration(buildNode(41).keys, 'conformance');
      await expectStatus(201, 'POST', '/v1/nodes', { token: ADMIN_TOKEN, body: registration });
      await expectStatus(200, 'POST', '/v1/nodes', { token: ADMIN_TOKEN, body: registration });
      await expectStatus(400, 'POST', '/v1/nodes', { token: ADMIN_TOKEN, body: { ...registration, name: 'renamed' } });
      await expectStatus(200, 'GET', '/v1/nodes');
      await expectStatus(204, 'DELETE', `/v1/nodes/${registration.id}`, { token: ADMIN_TOKEN });
      await expectStatus(409, 'POST', '/v1/nodes', { token: ADMIN_TOKEN, body: registration });
      await expectStatus(404, 'DELETE', '/v1/nodes/node_00000000000000000000', { token: ADMIN_TOKEN });
      await expectStatus(200, 'POST', `/v1/nodes/${registration.id}/readmit`, { token: ADMIN_TOKEN });
      await expectStatus(404, 'POST', '/v1/nodes/node_00000000000000000000/readmit', { token: ADMIN_TOKEN });
      await expectStatus(200, 'GET', '/v1/rounds/latest');
      await expectStatus(200, 'GET', '/v1/rounds/1');
      await expectStatus(404, 'GET', '/v1/rounds/x1');
      await expectStatus(200, 'GET', '/v1/ledger?limit=10');
      await expectStatus(400, 'GET', '/v1/ledger?after=0&cursor=0');
      await expectStatus(200, 'GET', '/v1/ledger/verify');
      await expectStatus(200, 'GET', '/v1/ledger/verify?full=true', { token: ADMIN_TOKEN });
      await expectStatus(401, 'GET', '/v1/ledger/verify?full=true');
      await expectStatus(400, 'GET', '/v1/ledger/verify?full=yes');
      await expectStatus(200, 'GET', '/v1/status');

      // Exports.
      const at = new Date().toISOString();
      const exported = { fromSeq: 1, toSeq: 1, ledgerFile: 'ledger-1-1.jsonl', receiptsFile: 'receipts-1-1.jsonl', receipts: 1, firstCreatedAt: at, lastCreatedAt: at };
      await expectStatus(201, 'POST', '/v1/exports', { token: ADMIN_TOKEN, body: exported });
      await expectStatus(400, 'POST', '/v1/exports', { token: ADMIN_TOKEN, body: { ...exported, toSeq: 1000 } });
      await expectStatus(200, 'GET', '/v1/exports', { token: ADMIN_TOKEN });
      await expectStatus(401, 'GET', '/v1/exports');

      // Key rotation and deletion, last.
      await expectStatus(200, 'POST', `/v1/projects/${other.id}/api-key`, { token: other.apiKey });
      await expectStatus(401, 'POST', `/v1/projects/${other.id}/api-key`, { token: other.apiKey });
      await expectStatus(204, 'DELETE', `/v1/projects/${other.id}`, { token: ADMIN_TOKEN });
      await expectStatus(404, 'DELETE', `/v1/projects/${other.id}`, { token: ADMIN_TOKEN });

      // The page's assets, as the page names them.
      const page = log.find((e) => e.template === '/docs' && e.status === 200)!.body as string;
      const assets = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
      expect(assets).to.have.length.greaterThan(2);
      for (const asset of assets) expect(asset, 'a local asset').to.match(/^\/docs\/[\w.-]+$/);
      const types: Record<string, string> = { css: 'text/css', js: 'text/javascript', png: 'image/png' };
      for (const asset of assets) {
        const reply = await call('GET', asset);
        expect(reply.status, asset).to.equal(200);
        expect(reply.headers.get('content-type'), asset).to.contain(types[asset.split('.').pop()!]);
      }

      checkAgainstDocument(log);
    } finally {
      await stopAll(handles, ctx);
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses in the document the bodies the parsers refuse', () => {
    const config = testConfig();
    const node = createNodeRegistration(buildNode(42).keys, 'n');
    const cases: Array<[string, (body: unknown) => unknown, unknown[]]> = [
      ['NewProject', (b) => parseProjectBody(b, config), [{ name: '', code: 'x' }, { name: 'a' }, { name: 'a', code: 'x', extra: 1 }, { name: 'a', code: 'x', limits: { cpuMs: 1 } }, { name: 'a', code: 'x', limits: { wallMs: 10 } }, { name: 'a', code: 'x', aggregation: 'mean' }, { name: 'a', code: 'x', committee: { size: 0 } }, []]],
      ['CodeUpload', (b) => parseCodeBody(b, config), [{}, { code: 1 }, { code: '' }]],
      ['Secrets', (b) => parseSecretsBody(b, config), [{ '1bad': 'v' }, { A: 1 }, 'text']],
      ['ChainBindingUpdate', parseChainBindingBody, [{}, { chainProjectId: 0 }, { chainProjectId: 2 ** 31 }, { chainProjectId: 1.5 }]],
      ['NewRequest', parseRequestBody, [{ version: 0 }, { input: 1, extra: 1 }, null]],
      ['NewSchedule', parseScheduleBody, [{}, { cron: '' }, { cron: '* * * * *', version: -1 }, { cron: '* * * * *', timezone: '' }]],
      ['NodeRegistration', parseNodeBody, [{ ...node, signPublicKey: 'zz' }, { ...node, registration: undefined }, { ...node, name: 'x'.repeat(101) }, { ...node, extra: 1 }]],
    ];
    for (const [name, parse, bodies] of cases) {
      const validate = ajv.compile({ $ref: `${DOC_ID}#/components/schemas/${name}` });
      for (const body of bodies) {
        expect(() => parse(body), `${name} ${JSON.stringify(body)}`).to.throw().with.property('code', 'invalid_body');
        expect(validate(body), `${name} ${JSON.stringify(body)} in the document`).to.equal(false);
      }
    }
  });

  it('serves /docs under a CSP that allows nothing but its own origin for scripts', async () => {
    const config = testConfig();
    const ctx = await openProcess('openapi-docs', config, redis.url, createLogger('openapi-docs', 'silent'));
    const handles: RoleHandle[] = [];
    try {
      const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
      handles.push(web);
      const reply = await fetch(`${web.url}/docs`);
      expect(reply.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      const csp = reply.headers.get('content-security-policy') ?? '';
      expect(csp).to.contain("script-src 'self'");
      expect(csp).to.contain("default-src 'none'");
      expect(await reply.text()).to.not.match(/<script>|https?:\/\//);
    } finally {
      await stopAll(handles, ctx);
    }
  });

  /** Each exchange against its operation's documented response; each operation called with a success and an error. */
  function checkAgainstDocument(log: readonly Exchange[]): void {
    const problems: string[] = [];
    for (const exchange of log) {
      const where = `${exchange.method} ${exchange.template} → ${exchange.status}`;
      const operation = doc.paths[exchange.template][exchange.method];
      const response = operation.responses[String(exchange.status)];
      if (!response) {
        problems.push(`${where}: status not documented`);
        continue;
      }
      if (!response.content) {
        if (exchange.body !== '') problems.push(`${where}: a body where none is documented`);
        continue;
      }
      const mediaType = Object.keys(response.content).find((type) => type === '*/*' || exchange.type.startsWith(type));
      if (!mediaType) {
        problems.push(`${where}: content type ${exchange.type}, documented ${Object.keys(response.content).join(', ')}`);
        continue;
      }
      const validate = ajv.compile(rebase(response.content[mediaType].schema) as object);
      if (!validate(exchange.body)) problems.push(`${where}: ${ajv.errorsText(validate.errors)}`);
      // What a client sent and the API took must be what the document asks for, too.
      const requestSchema = operation.requestBody?.content['application/json'].schema;
      if (requestSchema && exchange.status < 300 && exchange.sent !== undefined) {
        const validateSent = ajv.compile(rebase(requestSchema) as object);
        if (!validateSent(exchange.sent)) problems.push(`${where}: the accepted body is refused by the document: ${ajv.errorsText(validateSent.errors)}`);
      }
    }
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const method of Object.keys(operations)) {
        const calls = log.filter((e) => e.template === path && e.method === method);
        if (!calls.some((e) => e.status < 300)) problems.push(`${method} ${path}: never answered with a success`);
        if (!NO_CLIENT_ERROR.has(`${method} ${path}`) && !calls.some((e) => e.status >= 400)) problems.push(`${method} ${path}: never answered with an error`);
      }
    }
    expect(problems).to.deep.equal([]);
  }
});

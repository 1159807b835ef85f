// Hostile user code through the real executor (pool of sandbox processes, receiver, consensus,
// sender on a real redis-server): each attack ends in its own error, and the next request succeeds.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { createSandbox, startRole, type ProcessContext } from '../../lib/process.ts';
import type { Project, RequestRecord } from '../../lib/repository/types.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import type { SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes } from '../support/builders.ts';
import { TEST_LIMITS, jobResult, openTestProcess, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { jobIds } from '../../lib/queues.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const LIMITS = { ...TEST_LIMITS, timeoutMs: 1500, cpuMs: 400, memoryMb: 32, fetchCalls: 3, outputBytes: 65536 };
// Filling 32 MB makes V8 collect garbage hard before it gives up, CPU time that counts: memory bombs get time to reach the memory limit.
const MEMORY_BOMB_LIMITS = { ...LIMITS, timeoutMs: 10_000, cpuMs: 10_000 };

describe('hostile code', function () {
  this.timeout(60_000);
  // One executor serves every case, as in production: its pool respawns processes between tests.
  allowSharedFixtures(this);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  let web: Server;
  let refusedHits = 0;
  const handles: RoleHandle[] = [];
  const [node] = buildNodes(1);
  let projectCount = 0;

  before(async () => {
    redis = await startTestRedis();
    // 127.0.0.2 is allow-listed; its /redirect points back at a refused loopback address.
    const refused = createServer((_req, res) => {
      refusedHits++;
      res.end('should never be reached');
    });
    await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
    const refusedPort = (refused.address() as AddressInfo).port;
    web = createServer((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `http://127.0.0.1:${refusedPort}/` });
        return res.end();
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ price: 42 }));
    });
    web.on('close', () => refused.close());
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.2', resolve));
    ctx = await openTestProcess(redis.url, { GATEWAY_FETCH_ALLOW: '127.0.0.2', GATEWAY_SANDBOX_PROCESSES: '2', GATEWAY_REQUEST_DEADLINE_MS: '15000' });
    sandbox = createSandbox(ctx);
    await seedFrozenRound(ctx, [node]);
    for (const role of ['receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    handles.push(await startExecutor({ ...ctx, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
  });

  after(async () => {
    for (const handle of handles.reverse()) await handle.stop();
    await sandbox.close();
    await ctx.close();
    await new Promise<void>((resolve) => web.close(() => resolve()));
    await redis.stop();
  });

  async function run(code: string, input: unknown = null, limits: typeof LIMITS = LIMITS): Promise<RequestRecord> {
    const nowMs = Date.now();
    const project: Project = {
      id: `prj_${String(++projectCount).padStart(26, '0')}`, name: 'hostile', description: '', committee: { size: 1, quorum: 1 },
      aggregation: 'exact', limits, version: 1, codeCid: computeContentId(utf8(code)), createdAt: new Date(nowMs).toISOString(),
    };
    await ctx.repository.putProject(project, code, `hash-${project.id}`, nowMs);
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs }, { project, input, source: 'api' });
    return waitFor(async () => {
      const request = await ctx.repository.getRequest(id);
      return request && (request.status === 'published' || request.status === 'failed') ? request : undefined;
    }, 20_000, 'a final state');
  }

  async function expectError(code: string, pattern: RegExp | string, limits: typeof LIMITS = LIMITS): Promise<void> {
    const request = await run(code, null, limits);
    expect(request.status, JSON.stringify(request.failure)).to.equal('published');
    expect(request.outcome?.ok).to.equal(false);
    const message = (request.outcome?.value as { error: string }).error;
    if (typeof pattern === 'string') expect(message).to.equal(pattern);
    else expect(message).to.match(pattern);
    const next = await run('export default (input) => ({ fine: input })', 7);
    expect(next.outcome).to.deep.include({ ok: true, value: { fine: 7 } });
  }

  it('stops a synchronous infinite loop at the CPU limit', () => expectError('export default () => { while (true) {} }', 'CPU time limit of 400 ms exceeded'));

  it('stops an infinite loop after an await at the CPU limit', () => expectError('export default async () => { await null; while (true) {} }', 'CPU time limit of 400 ms exceeded'));

  it('stops a loop that starts after a host promise at the CPU limit: the budget spans every slice', () =>
    expectError(`export default async (input, ctx) => { await ctx.fetch('http://127.0.0.2:${(web.address() as AddressInfo).port}/'); while (true) {} }`, 'CPU time limit of 400 ms exceeded'));

  it('stops a never-settling promise at the wall-clock deadline', () => expectError('export default () => new Promise(() => {})', 'timed out after 1500 ms'));

  it('stops an array memory bomb at the memory limit', () =>
    expectError('export default () => { const a = []; while (true) a.push(new Array(1e5).fill(1.5)); }', 'memory limit of 32 MB exceeded', MEMORY_BOMB_LIMITS));

  // Each string is flattened (charCodeAt), so every iteration really allocates a megabyte.
  it('stops a string memory bomb', () =>
    expectError("export default () => { const parts = []; let s = 'x'.repeat(1e6); while (true) { const t = s + parts.length; t.charCodeAt(5e5); parts.push(t); } }", 'memory limit of 32 MB exceeded', MEMORY_BOMB_LIMITS));

  it('stops an ArrayBuffer memory bomb', () =>
    expectError('export default () => { const a = []; while (true) a.push(new Uint8Array(16 * 1024 * 1024).fill(1)); }', /memory limit of 32 MB exceeded|Array buffer allocation failed/, MEMORY_BOMB_LIMITS));

  it('refuses a huge WebAssembly memory', () =>
    expectError('export default () => { const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 }); while (true) m.grow(1024); }', /memory limit of 32 MB exceeded|WebAssembly\.Memory\.grow\(\): Maximum memory size exceeded|could not allocate memory|Unable to grow instance memory/, MEMORY_BOMB_LIMITS));

  it('reports deep recursion as a stack overflow', () => expectError('export default () => { const f = (n) => f(n + 1) + 1; return f(0); }', 'Maximum call stack size exceeded'));

  it('finds no process behind constructor escapes', () =>
    expectError("export default (input, ctx) => ctx.constructor.constructor('return process')().env", 'process is not defined'));

  it('finds no process through the global object', () =>
    expectError("export default () => { if (globalThis.constructor.constructor('return typeof process + typeof require')() === 'undefinedundefined') throw new Error('contained'); return 'escaped'; }", 'contained'));

  it('keeps prototype pollution inside its own run', async () => {
    const code = "export default (input) => { const seen = ({}).polluted ?? null; if (input.pollute) { Object.prototype.polluted = 'yes'; Array.prototype.map = () => 'hijacked'; } return { seen, mapped: [1].map((x) => x) }; }";
    const first = await run(code, { pollute: true });
    expect(first.outcome).to.deep.include({ ok: true, value: { seen: null, mapped: 'hijacked' } });
    const second = await run(code, { pollute: false });
    expect(second.outcome).to.deep.include({ ok: true, value: { seen: null, mapped: [1] } });
  });

  it('cannot forge its envelope with a poisoned then or prototype getters', async () => {
    const code = `export default () => {
      Object.defineProperty(Object.prototype, 'then', { configurable: true, get() {
        return Object.keys(this).includes('logs') || Object.keys(this).includes('json') ? (resolve) => resolve({ json: '"forged"', logs: '[]' }) : undefined } });
      Object.defineProperty(Object.prototype, 'error', { configurable: true, get() { return 'forged' } });
      return { real: true } }`;
    const request = await run(code);
    expect(request.outcome).to.deep.include({ ok: true, value: { real: true } });
  });

  it('ends a run whose thrown value has a looping message getter at the CPU limit', () =>
    expectError('export default () => { const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e; }', 'CPU time limit of 400 ms exceeded'));

  it('cuts a huge thrown message to 4096 bytes', () => expectError('export default () => { throw new Error("m".repeat(1e6)) }', `${'m'.repeat(4096)}…`));

  it('never runs code a store writer swapped under its content id: no vote, a refused run', async () => {
    const nowMs = Date.now();
    const code = 'export default () => "honest"';
    const project: Project = {
      id: `prj_${String(++projectCount).padStart(26, '0')}`, name: 'swapped', description: '', committee: { size: 1, quorum: 1 },
      aggregation: 'exact', limits: LIMITS, version: 1, codeCid: computeContentId(utf8(code)), createdAt: new Date(nowMs).toISOString(),
    };
    await ctx.repository.putProject(project, code, `hash-${project.id}`, nowMs);
    await ctx.connection.set(createKeys(ctx.config.keyPrefix).code(project.codeCid), 'export default () => "forged"');
    const { id } = await acceptRequest({ repository: ctx.repository, queues: ctx.queues, config: ctx.config, nowMs }, { project, input: null, source: 'api' });
    const member = await waitFor(async () => (await ctx.repository.getRequest(id))?.assignment?.committee[0], 10_000, 'the assignment');
    expect(await jobResult(ctx, 'exec', jobIds.run(id, member), member)).to.equal('code_mismatch');
    expect((await ctx.repository.getRequest(id))?.votes).to.deep.equal([]);
  });

  it('has no require', () => expectError("export default () => require('fs')", 'require is not defined'));

  it('refuses dynamic import', () => expectError("export default async () => (await import('fs')).readFileSync('/etc/passwd', 'utf8')", /not supported|not available/i));

  it('refuses static imports at compile time', () => expectError("import fs from 'fs';\nexport default () => fs.readFileSync('/etc/passwd', 'utf8');", /imports are not available/));

  it('does not hang on Atomics.wait', () =>
    expectError('export default () => { const view = new Int32Array(new SharedArrayBuffer(4)); Atomics.wait(view, 0, 0); return 1; }', /Atomics\.wait cannot be called in this context|CPU time limit of 400 ms exceeded|timed out after 1500 ms|SharedArrayBuffer is not defined/));

  it('refuses a result above the output limit', () => expectError("export default () => 'x'.repeat(70000)", 'result exceeds 65536 bytes'));

  it('refuses a cyclic result', () => expectError('export default () => { const a = {}; a.self = a; return a; }', /^result is not a JSON value: \$\.self: cyclic/));

  it('refuses a result that is not JSON', () => expectError('export default () => ({ when: 10n })', /^result is not a JSON value: \$\.when/));

  it('refuses fetch to a loopback address', () => expectError("export default async (input, ctx) => (await ctx.fetch('http://127.0.0.1:9/')).body", /loopback/));

  it('refuses a redirect that lands on a refused address', async () => {
    await expectError(`export default async (input, ctx) => (await ctx.fetch('http://127.0.0.2:${(web.address() as AddressInfo).port}/redirect')).body`, /loopback/);
    expect(refusedHits).to.equal(0);
  });

  it('limits fetch calls per run', () =>
    expectError(`export default async (input, ctx) => { for (let i = 0; i < 4; i++) await ctx.fetch('http://127.0.0.2:${(web.address() as AddressInfo).port}/'); }`, /fetch call limit of 3/));

  it('fetches from an allow-listed address', async () => {
    const request = await run(`export default async (input, ctx) => (await ctx.fetch('http://127.0.0.2:${(web.address() as AddressInfo).port}/')).json()`);
    expect(request.outcome).to.deep.include({ ok: true, value: { price: 42 } });
  });

  it('sees only its own project secrets', async () => {
    const owner = await run('export default (input, ctx) => Object.keys(ctx.secrets)');
    await ctx.repository.putSecrets(owner.projectId, { TOKEN: 'owner-only' });
    const other = await run("export default (input, ctx) => ({ keys: Object.keys(ctx.secrets), leaked: JSON.stringify(globalThis).includes('owner-only') })");
    expect(other.outcome).to.deep.include({ ok: true, value: { keys: [], leaked: false } });
  });
});

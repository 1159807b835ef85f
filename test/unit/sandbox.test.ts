// The user-code sandbox on real isolates: entry forms, ctx, determinism, logs, result checks, limits, escapes, recycling.
import { expect } from 'chai';
import { GatewayError } from '../../lib/errors.ts';
import { checkCode, NO_ENTRY_MESSAGE } from '../../lib/sandbox/compile.ts';
import ivm from 'isolated-vm';
import { createIsolateCache, PREPARE_DELAY_MS, takeContext } from '../../lib/sandbox/isolate-cache.ts';
import { createSandboxRunner, type SandboxJob, type SandboxOutcome, type SandboxRunner } from '../../lib/sandbox/runner.ts';

const SEED_A = 'a1'.repeat(32);
const SEED_B = '5e'.repeat(32);
const ACCEPTED_AT_MS = 1_700_000_000_000;

function buildJob(code: string, overrides: Partial<SandboxJob> = {}): SandboxJob {
  return {
    codeKey: code,
    code,
    input: null,
    context: { requestId: 'req-1', projectId: 'proj-1', round: 7, seed: SEED_A, acceptedAtMs: ACCEPTED_AT_MS, secrets: { apiKey: 'k-123' } },
    limits: { timeoutMs: 1000, memoryMb: 32, outputBytes: 10_000, logLines: 100, logBytes: 10_000 },
    ...overrides,
  };
}

function limits(overrides: Partial<SandboxJob['limits']>): SandboxJob['limits'] {
  return { ...buildJob('').limits, ...overrides };
}

function checkError(code: string): GatewayError {
  try {
    checkCode(code);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected checkCode to throw');
}

describe('sandbox runner', () => {
  let runner: SandboxRunner;
  const run = (code: string, overrides: Partial<SandboxJob> = {}) => runner.run(buildJob(code, overrides));
  const valueOf = async (code: string, overrides: Partial<SandboxJob> = {}) => {
    const outcome = await run(code, overrides);
    expect(outcome, JSON.stringify(outcome)).to.include({ ok: true });
    return (outcome as Extract<SandboxOutcome, { ok: true }>).value;
  };
  const errorOf = async (code: string, overrides: Partial<SandboxJob> = {}) => {
    const outcome = await run(code, overrides);
    expect(outcome.ok, JSON.stringify(outcome)).to.equal(false);
    return (outcome as Extract<SandboxOutcome, { ok: false }>).error;
  };

  beforeEach(() => {
    runner = createSandboxRunner();
  });
  afterEach(async () => {
    await runner.close();
  });

  it('runs a synchronous and an asynchronous default export', async () => {
    expect(await valueOf('export default (input) => input.n + 1', { input: { n: 41 } })).to.equal(42);
    expect(await valueOf('export default async (input) => { await null; return { doubled: input.n * 2 } }', { input: { n: 21 } })).to.deep.equal({ doubled: 42 });
  });

  it('runs a classic script that defines a global mainFunction', async () => {
    expect(await valueOf('function mainFunction(input) { return input * 3 }', { input: 5 })).to.equal(15);
    expect(await valueOf('globalThis.mainFunction = async (input) => input + "!"', { input: 'hi' })).to.equal('hi!');
  });

  it('passes requestId, projectId, round, seed and a frozen copy of the secrets in ctx', async () => {
    const code = `export default (input, ctx) => ({ requestId: ctx.requestId, projectId: ctx.projectId, round: ctx.round, seed: ctx.seed,
      secrets: ctx.secrets, isFrozen: Object.isFrozen(ctx.secrets) })`;
    expect(await valueOf(code)).to.deep.equal({ requestId: 'req-1', projectId: 'proj-1', round: 7, seed: SEED_A, secrets: { apiKey: 'k-123' }, isFrozen: true });
  });

  it('seeds Math.random from ctx.seed', async () => {
    const code = 'export default () => [Math.random(), Math.random(), Math.random()]';
    const first = (await valueOf(code)) as number[];
    const again = await valueOf(code);
    const other = await valueOf(code, { context: { ...buildJob('').context, seed: SEED_B } });
    expect(again).to.deep.equal(first);
    expect(other).to.not.deep.equal(first);
    for (const x of first) expect(x).to.be.within(0, 1);
    expect(new Set(first).size).to.equal(3);
  });

  it('stops the clock at acceptedAtMs while dates from arguments work normally', async () => {
    const code = `export default () => [Date.now(), new Date().getTime(), new Date(0).toISOString(), Date.UTC(2020, 0, 1),
      Date.parse('2020-01-01T00:00:00Z'), Date() === new Date().toString(), new Date() instanceof Date]`;
    expect(await valueOf(code)).to.deep.equal([ACCEPTED_AT_MS, ACCEPTED_AT_MS, '1970-01-01T00:00:00.000Z', 1577836800000, 1577836800000, true, true]);
  });

  it('captures console.* and ctx.log lines, formatted like a simple console', async () => {
    const code = `export default (input, ctx) => { console.log('a', 1, { b: 2 }, [3], null, undefined); console.error(new TypeError('bad'));
      ctx.log('from ctx'); return 0 }`;
    expect(await run(code)).to.deep.include({ ok: true, logs: ['a 1 {"b":2} [3] null undefined', 'TypeError: bad', 'from ctx'] });
  });

  it('caps log lines and log bytes, ending with one truncation line', async () => {
    const lines = 'export default () => { for (let i = 0; i < 5; i++) console.log("line " + i); return 0 }';
    expect((await run(lines, { limits: limits({ logLines: 3 }) })).logs).to.deep.equal(['line 0', 'line 1', 'line 2', '… logs truncated']);
    const bytes = 'export default (input, ctx) => { ctx.log("abcdef"); ctx.log("ghij"); ctx.log("k"); return 0 }';
    expect((await run(bytes, { limits: limits({ logBytes: 10 }) })).logs).to.deep.equal(['abcdef', 'ghij', '… logs truncated']);
    const multibyte = 'export default () => { console.log("éé"); console.log("ééé"); return 0 }';
    expect((await run(multibyte, { limits: limits({ logBytes: 9 }) })).logs).to.deep.equal(['éé', '… logs truncated']);
  });

  it('turns a thrown value into String(e.message) for an Error, else String(value)', async () => {
    expect(await errorOf('export default async () => { throw new RangeError("input out of range") }')).to.equal('input out of range');
    expect(await errorOf('export default () => { throw "str" }')).to.equal('str');
    expect(await errorOf('export default () => { throw { code: 7 } }')).to.equal('[object Object]');
    expect(await errorOf('export default () => { throw 42 }')).to.equal('42');
    expect(await errorOf('export default () => { throw { toString() { throw new Error("no") } } }')).to.equal('uncaught value');
    expect(await errorOf('export default () => { const e = new Error("x"); Object.defineProperty(e, "message", { get() { throw 1 } }); throw e }')).to.equal('uncaught value');
  });

  it('cuts an error message to 4096 UTF-8 bytes at a character boundary, with an ellipsis', async () => {
    expect(await errorOf('export default () => { throw new Error("a".repeat(5000)) }')).to.equal(`${'a'.repeat(4096)}…`);
    // 'é' is 2 bytes: 2048 of them fill 4096 bytes exactly; a 4-byte emoji after 4094 bytes does not fit.
    expect(await errorOf('export default () => { throw new Error("é".repeat(3000)) }')).to.equal(`${'é'.repeat(2048)}…`);
    expect(await errorOf('export default () => { throw new Error("a".repeat(4094) + "😀" + "b") }')).to.equal(`${'a'.repeat(4094)}…`);
    expect(await errorOf('export default () => { throw new Error("a".repeat(4096)) }')).to.equal('a'.repeat(4096));
  });

  it('ends a run whose thrown value has a looping message getter, and serves the next run', async () => {
    const code = 'export default (input) => { if (!input.hang) return "alive"; const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e }';
    expect(await errorOf(code, { input: { hang: true }, limits: limits({ timeoutMs: 2000, cpuMs: 300 }) })).to.equal('CPU time limit of 300 ms exceeded');
    expect(await valueOf(code, { input: { hang: false } })).to.equal('alive');
  });

  it('ends a run that loops in Error.prepareStackTrace or a getter at top level', async () => {
    const topLevel = 'const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e; export default () => 1';
    expect(await errorOf(topLevel, { limits: limits({ timeoutMs: 1500, cpuMs: 300 }) })).to.be.oneOf(['CPU time limit of 300 ms exceeded', 'timed out after 1500 ms']);
    const stack = 'Error.prepareStackTrace = () => { for (;;) {} }; export default () => { throw new Error("x") }';
    expect(await errorOf(stack, { limits: limits({ timeoutMs: 1500, cpuMs: 300 }) })).to.equal('x');
  });

  it('builds the result envelope from captured intrinsics: a poisoned then, getters or toJSON shape nothing', async () => {
    // Any object with a 'logs' or 'json' key (an envelope) becomes a thenable that forges the answer.
    const code = `export default () => {
      Object.defineProperty(Object.prototype, 'then', { configurable: true, get() {
        return Object.keys(this).includes('logs') || Object.keys(this).includes('json') ? (resolve) => resolve({ json: '"forged"', logs: '["forged"]' }) : undefined } });
      Object.defineProperty(Object.prototype, 'error', { get() { return 'forged' }, set() {}, configurable: true });
      Object.defineProperty(String.prototype, 'then', { configurable: true, value(resolve) { resolve('hijacked') } }); return { a: 1 } }`;
    expect(await run(code)).to.deep.include({ ok: true, value: { a: 1 }, logs: [] });
    const proxy = 'export default () => new Proxy({}, { ownKeys() { for (;;) {} } })';
    expect(await errorOf(proxy, { limits: limits({ timeoutMs: 2000, cpuMs: 300 }) })).to.equal('CPU time limit of 300 ms exceeded');
  });

  it('refuses results that are not JSON values, naming the path', async () => {
    const cases: Array<[string, string]> = [
      ['undefined', '$: undefined is not a JSON value'],
      ['({ f: () => 1 })', '$.f: a function is not a JSON value'],
      ['({ n: 10n })', '$.n: a bigint is not a JSON value'],
      ['[1, NaN]', '$[1]: NaN is not a JSON number'],
      ['(() => { const o = { a: 1 }; o.self = o; return o })()', '$.self: cyclic reference'],
      ['({ m: new Map() })', '$.m: a Map is not a plain object'],
      ['[1, , 3]', '$[1]: sparse array hole'],
    ];
    for (const [expression, reason] of cases) {
      expect(await errorOf(`export default () => ${expression}`)).to.equal(`result is not a JSON value: ${reason}`);
    }
  });

  it('refuses a result larger than outputBytes, counting UTF-8 bytes', async () => {
    expect(await errorOf('export default () => "x".repeat(200)', { limits: limits({ outputBytes: 100 }) })).to.equal('result exceeds 100 bytes');
    expect(await errorOf('export default () => "é".repeat(60)', { limits: limits({ outputBytes: 100 }) })).to.equal('result exceeds 100 bytes');
    expect(await valueOf('export default () => "é".repeat(49)', { limits: limits({ outputBytes: 100 }) })).to.equal('é'.repeat(49));
  });

  it('times out a synchronous infinite loop and serves the next run of the same code', async () => {
    const code = 'export default (input) => { if (input.hang) while (true) {} return "alive" }';
    const outcome = await run(code, { input: { hang: true }, limits: limits({ timeoutMs: 200 }) });
    expect(outcome).to.deep.include({ ok: false, error: 'timed out after 200 ms' });
    expect(await valueOf(code, { input: { hang: false } })).to.equal('alive');
  });

  it('times out an infinite loop after an await', async () => {
    expect(await errorOf('export default async () => { await null; while (true) {} }', { limits: limits({ timeoutMs: 200 }) })).to.equal('timed out after 200 ms');
  });

  it('stops a memory bomb at the memory limit and serves the next run of the same code', async () => {
    const code = 'export default (input) => { const a = []; while (input.bomb) a.push({ n: a.length, s: "s" + a.length }); return "alive" }';
    // A generous clock: filling 32 MB on a busy machine may take a while, and the memory limit is what is under test.
    expect(await errorOf(code, { input: { bomb: true }, limits: limits({ timeoutMs: 10_000 }) })).to.equal('memory limit of 32 MB exceeded');
    expect(await valueOf(code, { input: { bomb: false } })).to.equal('alive');
  });

  it('keeps a concurrent run of the same code alive when another run exhausts its memory', async () => {
    const code = `export default async (input, ctx) => {
      if (input.bomb) { await null; const a = []; while (true) a.push({ n: a.length }); }
      return (await ctx.fetch('https://example.test/slow')).status }`;
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const slowFetch = async () => {
      await released;
      return { status: 200, headers: {}, body: '' };
    };
    const waiting = run(code, { input: { bomb: false }, fetch: slowFetch, limits: limits({ timeoutMs: 20_000 }) });
    expect(await errorOf(code, { input: { bomb: true }, limits: limits({ timeoutMs: 10_000 }) })).to.equal('memory limit of 32 MB exceeded');
    release();
    expect(await waiting).to.deep.include({ ok: true, value: 200 });
  });

  it('bounds CPU time across slices: a spin after an awaited fetch stops at cpuMs, not at the wall clock', async () => {
    const fetch: SandboxJob['fetch'] = async () => ({ status: 200, headers: {}, body: '' });
    const code = 'export default async (input, ctx) => { for (let i = 0; i < 3; i++) { await ctx.fetch("https://example.test/"); const t = Date.now(); let n = 0; while (n < 2e9) n++; } return 1 }';
    expect(await errorOf(code, { fetch, limits: limits({ timeoutMs: 20_000, cpuMs: 300 }) })).to.equal('CPU time limit of 300 ms exceeded');
  });

  it('aborts the fetches of a run when the run ends', async () => {
    let signal: AbortSignal | undefined;
    const fetch: SandboxJob['fetch'] = (_url, _init, runSignal) => {
      signal = runSignal;
      return new Promise(() => undefined);
    };
    expect(await errorOf('export default async (input, ctx) => (await ctx.fetch("https://example.test/")).status', { fetch, limits: limits({ timeoutMs: 300 }) })).to.equal('timed out after 300 ms');
    expect(signal?.aborted).to.equal(true);
  });

  it('offers no host objects, timers, require, process or imports', async () => {
    expect(await valueOf('export default () => [typeof setTimeout, typeof require, typeof process, typeof WeakRef]')).to.deep.equal(['undefined', 'undefined', 'undefined', 'undefined']);
    expect(await errorOf('function mainFunction() { return this.constructor.constructor("return process")() }')).to.equal('process is not defined');
    expect(await errorOf('export default async () => (await import("fs")).readFileSync("/etc/passwd", "utf8")')).to.equal('Not supported');
    expect(await errorOf('import fs from "fs"; export default () => fs')).to.equal("invalid code: imports are not available (import of 'fs')");
  });

  it('runs a module\'s top level, its top-level await and then its entry; a top-level await that never settles ends at the deadline', async () => {
    expect(await valueOf('const base = await Promise.resolve(40); export default (input) => base + input', { input: 2 })).to.equal(42);
    expect(await errorOf('await Promise.reject(new Error("not ready")); export default () => 1')).to.equal('not ready');
    const outcome = await run('await new Promise(() => {}); export default () => 1', { limits: limits({ timeoutMs: 150 }) });
    expect(outcome).to.include({ ok: false, error: 'timed out after 150 ms' });
  });

  it('starts the entry once, through a global user code can neither replace nor call to shape anything but its own result', async () => {
    // The start global is fixed in place.
    const descriptor = await valueOf(`export default () => { const d = Object.getOwnPropertyDescriptor(globalThis, '__gatewayStart');
      return { writable: d.writable, configurable: d.configurable, enumerable: d.enumerable, replaced: Reflect.set(globalThis, '__gatewayStart', () => 0) } }`);
    expect(descriptor).to.deep.equal({ writable: false, configurable: false, enumerable: false, replaced: false });
    // Called early by the top level, it starts the run with the entry given, once: the real start after it does nothing.
    const early = await run(`globalThis.__gatewayStart({ default: (input) => ({ early: input }) });
      export default (input) => ({ late: input })`, { input: 5 });
    expect(early).to.deep.include({ ok: true, value: { early: 5 } });
    // A classic script gets no second start either.
    expect(await valueOf('__gatewayStart(undefined); function mainFunction(input) { return input * 2 }', { input: 4 })).to.equal(8);
  });

  it('checks the result with intrinsics captured before user code could tamper with them', async () => {
    const code = `export default () => { JSON.stringify = () => '1'; Array.isArray = () => false; Object.keys = () => [];
      Object.prototype.toJSON = function () { return 'hijacked' }; Array.prototype.toJSON = () => 'hijacked'; return { a: 1, list: [1, 2] } }`;
    expect(await valueOf(code)).to.deep.equal({ a: 1, list: [1, 2] });
  });

  it('rejects ctx.fetch when the host offers no fetch', async () => {
    expect(await errorOf('export default async (input, ctx) => (await ctx.fetch("https://example.test")).status')).to.equal('fetch is not available');
  });

  it('bridges ctx.fetch to the host fetch, with a json() helper', async () => {
    const calls: unknown[] = [];
    const fetch: SandboxJob['fetch'] = async (url, init) => {
      calls.push({ url, init });
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"x":1}' };
    };
    const code = `export default async (input, ctx) => { const r = await ctx.fetch('https://example.test/a', { method: 'POST', headers: { h: 'v' }, body: 'b' });
      return { status: r.status, type: r.headers['content-type'], x: r.json().x } }`;
    expect(await valueOf(code, { fetch })).to.deep.equal({ status: 200, type: 'application/json', x: 1 });
    expect(calls).to.deep.equal([{ url: 'https://example.test/a', init: { method: 'POST', headers: { h: 'v' }, body: 'b' } }]);
  });

  it('logs where a thrown error came from: its frames in the user\'s code, with line and column', async () => {
    const outcome = await run('function helper(x) {\n  throw new TypeError("bad " + x);\n}\nexport default (input) => {\n  console.log("before");\n  return helper(input);\n};', { input: 7 });
    expect(outcome).to.deep.include({ ok: false, error: 'bad 7', logs: ['before', 'at helper (user.js:2:9)', 'at default (user.js:6:10)'] });
  });

  it('keeps the lines logged before a run is ended for its deadline or its CPU time', async () => {
    const looping = 'export default () => { console.log("started"); ctx_unused(); }\nfunction ctx_unused() { console.log("looping"); for (;;) {} }';
    const timedOut = await run(looping, { limits: limits({ timeoutMs: 300 }) });
    expect(timedOut).to.deep.include({ ok: false, error: 'timed out after 300 ms', logs: ['started', 'looping'] });
    const overCpu = await run(looping, { limits: limits({ timeoutMs: 5000, cpuMs: 200 }) });
    expect(overCpu).to.deep.include({ ok: false, error: 'CPU time limit of 200 ms exceeded', logs: ['started', 'looping'] });
  });

  it('shows a failing host fetch to the user code as an Error with its message', async () => {
    const fetch: SandboxJob['fetch'] = async () => {
      throw new Error('address 127.0.0.1 is not allowed');
    };
    const code = 'export default async (input, ctx) => { try { await ctx.fetch("http://localhost") } catch (e) { return [e instanceof Error, e.message] } }';
    expect(await valueOf(code, { fetch })).to.deep.equal([true, 'address 127.0.0.1 is not allowed']);
  });

  it('reports code that does not compile as invalid code with its position', async () => {
    expect(await errorOf('export default () => {\n  return 1 +;\n}')).to.equal("invalid code: syntax error: Unexpected token ';' at line 2, column 13");
    expect(await errorOf('export default 42')).to.equal(NO_ENTRY_MESSAGE);
  });

  it('keeps one warm isolate per code and recycles it after maxRunsPerIsolate runs', async () => {
    await runner.close();
    runner = createSandboxRunner({ maxRunsPerIsolate: 50 });
    for (let i = 0; i < 200; i++) {
      expect(await valueOf('export default (i) => i + 1', { input: i })).to.equal(i + 1);
      expect(runner.stats().isolates).to.be.at.most(1);
    }
    expect(runner.stats().runs).to.equal(200);
    expect(runner.stats().recycled).to.be.at.least(3);
  });

  it('makes an idle isolate\'s next context a moment after its release, untouched, and a run takes it', async () => {
    const cache = createIsolateCache();
    // A timer of the same duration set after the release's fires after it (Node keeps timers of one
    // duration in the order they were set): by then the context was made, or left unmade.
    const afterPreparation = () => new Promise((resolve) => setTimeout(resolve, PREPARE_DELAY_MS));
    try {
      const entry = cache.acquire(32, 'k', 'code');
      expect(entry.nextContext).to.equal(undefined);
      const first = takeContext(entry);
      await first.global.set('leftover', 1);
      cache.release(entry, true);
      // Not in the releasing turn nor the next one (the run answers, and the process it woke runs first), a moment later.
      expect(entry.nextContext).to.equal(undefined);
      await new Promise((resolve) => setImmediate(resolve));
      expect(entry.nextContext).to.equal(undefined);
      await afterPreparation();
      const made = entry.nextContext;
      expect(made).to.be.instanceOf(ivm.Context);
      expect(cache.acquire(32, 'k', 'code')).to.equal(entry);
      const second = takeContext(entry);
      expect(second).to.equal(made);
      expect(entry.nextContext).to.equal(undefined);
      expect(await second.eval('typeof leftover')).to.equal('undefined');
      // Taken already: the next one is made on the spot.
      expect(takeContext(entry)).to.be.instanceOf(ivm.Context).and.not.equal(second);
      // Taken again before its next turn: no context is made for a busy isolate.
      cache.release(entry, true);
      expect(cache.acquire(32, 'k', 'code')).to.equal(entry);
      await afterPreparation();
      expect(entry.nextContext).to.equal(undefined);
      // Released while another run is in progress (runs back to back): made in the next turn, so it is
      // ready for the next run. (An immediate set after the release's runs after it.)
      const other = cache.acquire(32, 'k', 'code');
      expect(other).to.not.equal(entry);
      cache.release(entry, true);
      await new Promise((resolve) => setImmediate(resolve));
      expect(entry.nextContext).to.be.instanceOf(ivm.Context);
      cache.release(other, true);
      // Disposed while idle (the cache closed): nothing is made and nothing throws.
      expect(cache.acquire(32, 'k', 'code')).to.equal(other);
      cache.release(other, true);
      cache.close();
      await afterPreparation();
      expect(other.nextContext).to.equal(undefined);
      expect(entry.isolate.isDisposed).to.equal(true);
    } finally {
      cache.close();
    }
  });

  it('closes idempotently', async () => {
    await valueOf('export default () => 1');
    expect(runner.stats().isolates).to.equal(1);
    await runner.close();
    await runner.close();
    expect(runner.stats().isolates).to.equal(0);
  });
});

describe('checkCode', () => {
  it('accepts a default export and both global mainFunction forms', () => {
    expect(checkCode('export default async (input, ctx) => input')).to.deep.equal({ entry: 'default' });
    expect(checkCode('function mainFunction(input, ctx) { return input }')).to.deep.equal({ entry: 'mainFunction' });
    expect(checkCode('globalThis.mainFunction = (input) => input')).to.deep.equal({ entry: 'mainFunction' });
  });

  it('names the line and column of a syntax error', () => {
    const error = checkError('const a = 1;\nexport default () => {\n  return a +;\n}');
    expect(error.code).to.equal('invalid_code');
    expect(error.message).to.equal("syntax error: Unexpected token ';' at line 3, column 13");
  });

  it('refuses code without an entry point', () => {
    for (const code of ['const x = 1;', 'export default 42', 'export const helper = () => 1']) {
      const error = checkError(code);
      expect(error.code).to.equal('invalid_code');
      expect(error.message).to.equal(NO_ENTRY_MESSAGE);
    }
  });

  it('refuses imports', () => {
    const error = checkError('import fs from "fs";\nexport default () => fs.readFileSync("/etc/passwd")');
    expect(error.code).to.equal('invalid_code');
    expect(error.message).to.equal("imports are not available (import of 'fs')");
  });

  it('refuses a dynamic import() at upload, with its position', () => {
    const error = checkError('export default async () => {\n  const fs = await import("node:fs");\n  return 1;\n}');
    expect(error.code).to.equal('invalid_code');
    expect(error.message).to.equal('dynamic import() is not available at line 2, column 20: the code runs alone (ctx.fetch reaches the network)');
  });

  it('refuses a top level that throws or does not finish', () => {
    expect(checkError('throw new Error("boot failed")').message).to.equal('top-level code failed: boot failed');
    expect(checkError('while (true) {}\nexport default () => 1').message).to.equal('top-level code did not finish within 200 ms');
  });
});

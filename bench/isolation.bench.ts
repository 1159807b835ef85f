// npm run bench:isolation — what hostile tenants cost everyone else, in one run of the one-process
// gateway on a private redis-server: API latency idle and while 20 hostile uploads and 20 never-settling
// runs are in flight (as a ratio), Redis bytes kept per request for code that tries to log 8 MB,
// and sandbox restarts caused by results at the delivery limits.
import { BENCH_ADMIN_TOKEN as ADMIN, startBenchGateway } from './bench-gateway.ts';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
const HOSTILE_UPLOAD = 'const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e;\nexport default () => 1';

const gateway = await startBenchGateway({ GATEWAY_LOG_LEVEL: 'error', GATEWAY_CHECK_MAX_QUEUED: '32', GATEWAY_REQUEST_DEADLINE_MS: '60000' });
const { ctx, config } = gateway;

const call = async (method: string, path: string, token?: string, body?: unknown) => {
  const response = await fetch(`${gateway.url}${path}`, {
    method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
};
const createProject = async (name: string, code: string, limits?: Record<string, number>) => (await call('POST', '/v1/projects', ADMIN, { name, code, ...(limits ? { limits } : {}) })).body;
const waitFinal = async (id: string) => {
  for (;;) {
    const request = await ctx.repository.getRequest(id);
    if (request && (request.status === 'published' || request.status === 'failed')) return request;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const quick = await createProject('quick', 'export default (input) => input');

// API latency: health, a request read, and a request accepted, one after another.
async function sampleLatencies(): Promise<number[]> {
  const times: number[] = [];
  const { id } = (await call('POST', `/v1/projects/${quick.id}/requests`, quick.apiKey, { input: 0 })).body;
  for (let i = 0; i < SAMPLES; i++) {
    const started = performance.now();
    if (i % 3 === 0) await call('GET', '/healthz');
    else if (i % 3 === 1) await call('GET', `/v1/requests/${id}`, quick.apiKey);
    else await call('POST', `/v1/projects/${quick.id}/requests`, quick.apiKey, { input: i });
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b);
}
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

const idle = await sampleLatencies();

// 20 never-settling runs of one project, and 20 hostile uploads kept in flight.
const slow = await createProject('slow', 'export default () => new Promise(() => {})', { timeoutMs: 30_000 });
for (let i = 0; i < 20; i++) await call('POST', `/v1/projects/${slow.id}/requests`, slow.apiKey, { input: i });
let isHostile = true;
let uploadsRefused = 0;
const uploaders = Array.from({ length: 20 }, async () => {
  while (isHostile) {
    const reply = await call('POST', '/v1/projects', ADMIN, { name: 'hostile', code: HOSTILE_UPLOAD });
    if (reply.status === 429) uploadsRefused++;
  }
});
await new Promise((resolve) => setTimeout(resolve, 1000));
const hostile = await sampleLatencies();
isHostile = false;
await Promise.all(uploaders);

// Redis bytes a request keeps: plain, and code that logs 8 MB (8,192 lines of 1 KiB).
async function bytesPerRequest(code: string, count: number): Promise<number> {
  const project = await createProject(`mem-${code.length}`, code);
  const before = Number(/used_memory:(\d+)/.exec(await ctx.connection.info('memory'))![1]);
  const ids = [];
  for (let i = 0; i < count; i++) ids.push((await call('POST', `/v1/projects/${project.id}/requests`, project.apiKey, { input: i })).body.id);
  for (const id of ids) await waitFinal(id);
  const after = Number(/used_memory:(\d+)/.exec(await ctx.connection.info('memory'))![1]);
  return (after - before) / count;
}
const plainBytes = await bytesPerRequest('export default (input) => input', 20);
const loggingBytes = await bytesPerRequest('export default (input) => { for (let i = 0; i < 8192; i++) console.log("x".repeat(1024)); return input }', 20);

// Restarts caused by results at the delivery limits: the deepest allowed nesting, and too deep.
const restartsBefore = (await ctx.metrics.registry.getSingleMetric('gateway_sandbox_restarts_total')?.get())?.values.reduce((s, v) => s + v.value, 0) ?? 0;
const deep = await createProject('deep', 'export default (input) => { let v = input; for (let i = 0; i < (input % 2 ? 255 : 400); i++) v = [v]; return v }');
const deepIds = [];
for (let i = 0; i < 10; i++) deepIds.push((await call('POST', `/v1/projects/${deep.id}/requests`, deep.apiKey, { input: i })).body.id);
const deepResults = await Promise.all(deepIds.map(waitFinal));
const restartsAfter = (await ctx.metrics.registry.getSingleMetric('gateway_sandbox_restarts_total')?.get())?.values.reduce((s, v) => s + v.value, 0) ?? 0;

console.log(`node ${process.version}; ${SAMPLES} sequential API calls per phase (healthz, request read, request accept), 3 local executors, ${config.sandboxProcesses} sandbox processes`);
console.log(`API latency idle:                       p50 ${pct(idle, 0.5).toFixed(1)} ms, p99 ${pct(idle, 0.99).toFixed(1)} ms`);
console.log(`API latency, 20 hostile uploads + 20 never-settling runs in flight: p50 ${pct(hostile, 0.5).toFixed(1)} ms, p99 ${pct(hostile, 0.99).toFixed(1)} ms (uploads refused with 429: ${uploadsRefused})`);
console.log(`p99 ratio hostile/idle:                 ${(pct(hostile, 0.99) / pct(idle, 0.99)).toFixed(2)}`);
console.log(`Redis bytes per request:                plain ${plainBytes.toFixed(0)}, code that logs 8 MB ${loggingBytes.toFixed(0)} (ratio ${(loggingBytes / plainBytes).toFixed(2)})`);
console.log(`10 results at the delivery limits:      ${deepResults.filter((r) => r.outcome?.ok).length} delivered, ${deepResults.filter((r) => r.outcome && !r.outcome.ok).length} refused as too deep, sandbox restarts ${restartsAfter - restartsBefore}`);

await gateway.stop();

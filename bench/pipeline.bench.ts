// npm run bench:pipeline — end-to-end throughput and latency of the one-process gateway
// (webserver, receiver, consensus, sender, scheduler, 3 executors; committees of 3) on a private
// redis-server, with requests sent over HTTP. Prints requests/s and accepted→published p50/p99.
import { BENCH_ADMIN_TOKEN as ADMIN, startBenchGateway } from './bench-gateway.ts';

const TOTAL = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);

// One project sends every request: its in-flight cap must not be what the benchmark measures.
const gateway = await startBenchGateway({ GATEWAY_PROJECT_MAX_IN_FLIGHT: '1000000', ...(process.env.BENCH_RUN_SHARE ? { GATEWAY_PROJECT_RUN_SHARE: process.env.BENCH_RUN_SHARE } : {}) });
const { ctx, config } = gateway;

const post = async (path: string, body: unknown, token: string) => {
  const response = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, string>;
};

const project = await post('/v1/projects', { name: 'bench', code: 'export default (input) => ({ double: input.n * 2 })' }, ADMIN);

const redisCpu = async () => {
  const info = await ctx.connection.info('cpu');
  return ['used_cpu_sys', 'used_cpu_user'].reduce((sum, field) => sum + Number(new RegExp(`${field}:([\\d.]+)`).exec(info)![1]), 0);
};
await ctx.connection.config('RESETSTAT');
const cpuBefore = await redisCpu();
const processCpuBefore = process.cpuUsage();
const ids: string[] = [];
const startedAt = performance.now();
let next = 0;
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (next < TOTAL) {
    const n = next++;
    ids.push((await post(`/v1/projects/${project.id}/requests`, { input: { n } }, project.apiKey)).id);
  }
}));
const acceptedAt = performance.now();
const latencies: number[] = [];
const stages = { queuedToAssigned: [] as number[], assignedToAgreed: [] as number[], agreedToPublished: [] as number[] };
let failed = 0;
const failures = new Map<string, number>();
for (const id of ids) {
  let request = await ctx.repository.getRequest(id);
  while (request && request.status !== 'published' && request.status !== 'failed') {
    await new Promise((resolve) => setTimeout(resolve, 20));
    request = await ctx.repository.getRequest(id);
  }
  if (request?.status !== 'published') {
    failed++;
    failures.set(request?.failure?.code ?? 'unknown', (failures.get(request?.failure?.code ?? 'unknown') ?? 0) + 1);
    if (failures.size === 1 && failed === 1) console.log(`first failure: ${JSON.stringify(request?.failure)} votes: ${JSON.stringify(request?.votes.map((v) => v.value))}`);
  }
  else {
    latencies.push(Date.parse(request.finishedAt!) - Date.parse(request.createdAt));
    const assigned = Date.parse(request.assignment!.assignedAt);
    const agreed = Date.parse(request.outcome!.agreedAt);
    stages.queuedToAssigned.push(assigned - Date.parse(request.createdAt));
    stages.assignedToAgreed.push(agreed - assigned);
    stages.agreedToPublished.push(Date.parse(request.finishedAt!) - agreed);
  }
}
const doneAt = performance.now();
const processCpu = process.cpuUsage(processCpuBefore);
const finishTimes = await Promise.all(ids.map(async (id) => Date.parse((await ctx.repository.getRequest(id))!.finishedAt!)));
const lastFinished = Math.max(...finishTimes);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
const firstAccepted = Math.min(...await Promise.all(ids.slice(0, 50).map(async (id) => Date.parse((await ctx.repository.getRequest(id))!.createdAt))));

console.log(`node ${process.version}; ${TOTAL} requests, ${CONCURRENCY} concurrent HTTP clients, committees of 3, 3 local executors sharing ${config.sandboxProcesses} sandbox processes, 1 gateway process`);
console.log(`accepted over HTTP:        ${(TOTAL / ((acceptedAt - startedAt) / 1000)).toFixed(0)} requests/s`);
console.log(`published end to end:      ${(TOTAL / ((lastFinished - firstAccepted) / 1000)).toFixed(0)} requests/s`);
console.log(`accepted → published:      p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${latencies[latencies.length - 1]} ms`);
console.log(`failed:                    ${failed}${failed ? ` (${[...failures].map(([code, n]) => `${code}: ${n}`).join(', ')})` : ''}`);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`stage medians:             queued→assigned ${median(stages.queuedToAssigned)} ms, assigned→agreed ${median(stages.assignedToAgreed)} ms, agreed→published ${median(stages.agreedToPublished)} ms`);
const cpuUsed = (await redisCpu()) - cpuBefore;
const stats = (await ctx.connection.info('commandstats')).split('\n')
  .map((line) => /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/.exec(line)).filter((m) => m !== null)
  .map((m) => ({ command: m[1], calls: Number(m[2]), usec: Number(m[3]) })).sort((a, b) => b.usec - a.usec).slice(0, 5);
console.log(`gateway process CPU:       ${((processCpu.user + processCpu.system) / 1000 / TOTAL).toFixed(2)} ms per request (the sandbox processes not included)`);
console.log(`redis CPU:                 ${cpuUsed.toFixed(2)} s over ${((doneAt - startedAt) / 1000).toFixed(2)} s (${((cpuUsed * 1e6) / TOTAL).toFixed(0)} µs per request)`);
console.log(`redis top commands:        ${stats.map((s) => `${s.command} ${s.calls} calls ${(s.usec / 1000).toFixed(0)} ms`).join('; ')}`);

await gateway.stop();

// npm run bench:pipeline — the gateway against its floor (floor.ts: the same hops, queue settings and
// Redis, plus only the work the protocol cannot avoid), alternated in one invocation, in both layouts
// (one process; one process per role or hop). Each run: a warm-up, then saturation (BENCH_REQUESTS
// closed-loop from BENCH_CONCURRENCY clients: published requests/s, CPU ms of the measured processes,
// Redis CPU µs and Redis commands, per request), then a light fixed rate (BENCH_LIGHT_REQUESTS
// open-loop at BENCH_RATE/s: accepted → published p50 and p99). The load client is a process of its
// own. Prints each figure per repetition, as a ratio gateway/floor, and the medians.
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { loadConfig } from '../lib/config.ts';
import { DEFAULT_JOB_OPTIONS } from '../lib/queues.ts';
import { workerLockOptions } from '../lib/runtime/worker-locks.ts';
import { FLOOR_SETTINGS } from './floor.ts';
import { format, median, printMarkdownTable, runLoadClient, sleep } from './bench-kit.ts';
import type { LoadPlan } from './load-client.ts';
import { startFloorSystem, startGatewaySystem, type BenchSystem, type Finish, type Layout } from './pipeline-systems.ts';
import { readLoadAverage, readTreeCpuMs } from './process-cpu.ts';

const env = process.env;
const REPEAT = Number(env.BENCH_REPEAT ?? 3);
const REQUESTS = Number(env.BENCH_REQUESTS ?? 1000);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 64);
const RATE = Number(env.BENCH_RATE ?? 20);
const LIGHT_REQUESTS = Number(env.BENCH_LIGHT_REQUESTS ?? 200);
const WARMUP = Number(env.BENCH_WARMUP ?? 100);
const LAYOUTS = (env.BENCH_LAYOUTS ?? 'one process,processes').split(',').map((l) => l.trim()) as Layout[];
/** The gateway's log level: `info` is what `npm start` ships. */
const LOG_LEVEL = env.BENCH_LOG_LEVEL ?? 'info';
/** Extra gateway settings, as JSON (`{"GATEWAY_ROUND_MS": "500"}`). */
const GATEWAY_ENV = JSON.parse(env.BENCH_GATEWAY_ENV ?? '{}') as Record<string, string>;
/** The measured window ends when nothing was published for this long (a failed request never is). */
const WINDOW_STALL_MS = 10_000;
/** Where to write every sample as JSON, when set. */
const JSON_OUT = env.BENCH_JSON_OUT;
/** A run gives up waiting for its requests to be final when nothing was published for this long. */
const STALL_MS = 60_000;

const METRICS = [
  { key: 'throughput', label: 'saturated throughput (published/s)', digits: 0 },
  { key: 'p50', label: `p50 accepted→published at ${RATE}/s (ms)`, digits: 0 },
  { key: 'p99', label: `p99 accepted→published at ${RATE}/s (ms)`, digits: 0 },
  { key: 'cpuMs', label: 'CPU per request, all processes (ms)', digits: 2 },
  { key: 'redisCpuUs', label: 'Redis CPU per request (µs)', digits: 0 },
  { key: 'redisCommands', label: 'Redis commands per request', digits: 1 },
] as const;
type Sample = Record<(typeof METRICS)[number]['key'], number> & { failed: number; failures: Record<string, number> };
type SystemName = 'gateway' | 'floor';

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

/**
 * Waits until `target` requests are published (one LLEN per poll), or until nothing was published for
 * WINDOW_STALL_MS; returns the number of polls (Redis commands the bench sent).
 */
async function waitPublished(system: BenchSystem, target: number): Promise<number> {
  let [last, movedAt, polls] = [-1, Date.now(), 0];
  for (;;) {
    const published = await system.countPublished();
    polls++;
    if (published !== last) [last, movedAt] = [published, Date.now()];
    if (published >= target || Date.now() - movedAt > WINDOW_STALL_MS) return polls;
    await sleep(50);
  }
}

/** The finishes of `ids` once all are final, or once nothing was published for STALL_MS. */
async function waitFinal(system: BenchSystem, ids: readonly string[]): Promise<Map<string, Finish>> {
  let [last, movedAt] = [-1, Date.now()];
  for (;;) {
    const finishes = await system.readFinishes(ids);
    const published = await system.countPublished();
    if (published !== last) [last, movedAt] = [published, Date.now()];
    if (finishes.size === ids.length || Date.now() - movedAt > STALL_MS) return finishes;
    await sleep(2000);
  }
}

async function readRedisCounters(system: BenchSystem): Promise<{ cpuSeconds: number; commands: number }> {
  const info = (await system.redis.info('cpu')) + (await system.redis.info('stats'));
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return { cpuSeconds: field('used_cpu_sys') + field('used_cpu_user'), commands: field('total_commands_processed') };
}

let nextN = 0;
async function measure(system: BenchSystem): Promise<Sample> {
  const failures: Record<string, number> = {};
  /** Runs one load; `whilePublishing` ends when the last accepted request was published, before the records are read. */
  const load = async (plan: Omit<LoadPlan, 'url' | 'token' | 'firstN'>, whilePublishing?: (polls: number) => Promise<void>) => {
    const publishedBefore = await system.countPublished();
    const report = await runLoadClient({ url: system.url, ...(system.token ? { token: system.token } : {}), firstN: nextN, ...plan });
    nextN += plan.requests;
    const polls = await waitPublished(system, publishedBefore + report.ids.length);
    await whilePublishing?.(polls + 1);
    const finishes = await waitFinal(system, report.ids);
    for (const [status, count] of Object.entries(report.refused)) failures[`http ${status}`] = (failures[`http ${status}`] ?? 0) + count;
    for (const id of report.ids) {
      const finish = finishes.get(id);
      const code = !finish ? 'not final' : 'failure' in finish ? finish.failure : undefined;
      if (code) failures[code] = (failures[code] ?? 0) + 1;
    }
    return [...finishes.values()].filter((f): f is Extract<Finish, { publishedAtMs: number }> => 'publishedAtMs' in f);
  };

  await load({ requests: WARMUP, concurrency: CONCURRENCY });

  const cpuBefore = readTreeCpuMs(system.pids());
  const redisBefore = await readRedisCounters(system);
  let cpuMs = NaN;
  let redis = { cpuSeconds: NaN, commands: NaN };
  const saturated = await load({ requests: REQUESTS, concurrency: CONCURRENCY }, async (polls) => {
    cpuMs = readTreeCpuMs(system.pids()) - cpuBefore;
    const after = await readRedisCounters(system);
    // The bench's own commands: its polls (one LLEN each) and the two INFO calls after `redisBefore`'s count.
    redis = { cpuSeconds: after.cpuSeconds - redisBefore.cpuSeconds, commands: after.commands - redisBefore.commands - polls - 2 };
  });
  const spanMs = Math.max(...saturated.map((f) => f.publishedAtMs)) - Math.min(...saturated.map((f) => f.acceptedAtMs));

  const light = await load({ requests: LIGHT_REQUESTS, ratePerSec: RATE });
  const latencies = light.map((f) => f.publishedAtMs - f.acceptedAtMs).sort((a, b) => a - b);
  return {
    throughput: (saturated.length * 1000) / spanMs,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    cpuMs: cpuMs / REQUESTS,
    redisCpuUs: (redis.cpuSeconds * 1e6) / REQUESTS,
    redisCommands: redis.commands / REQUESTS,
    failed: Object.values(failures).reduce((a, b) => a + b, 0),
    failures,
  };
}

/** The system being started or measured: stopped on Ctrl-C too (its redis-server runs detached); a second signal exits at once. */
let running: Promise<BenchSystem> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.once(signal, () => process.exit(130));
    void (running ?? Promise.reject(new Error('none'))).then((system) => system.stop()).catch(() => undefined).finally(() => process.exit(130));
  });
}

async function runOnce(name: SystemName, layout: Layout): Promise<Sample> {
  running = name === 'gateway'
    ? startGatewaySystem(layout, { GATEWAY_LOG_LEVEL: LOG_LEVEL, ...GATEWAY_ENV })
    : startFloorSystem(layout);
  const system = await running;
  try {
    return await measure(system);
  } finally {
    await system.stop();
    running = undefined;
  }
}


function printTable(layout: Layout, samples: Record<SystemName, Sample[]>): void {
  const reps = samples.gateway.length;
  const header = ['', ...Array.from({ length: reps }, (_, i) => `rep ${i + 1} gw / floor = ratio`), 'median gw / floor', 'median ratio'];
  const rows = METRICS.map(({ key, label, digits }) => {
    const ratios = samples.gateway.map((g, i) => g[key] / samples.floor[i]![key]);
    return [
      label,
      ...samples.gateway.map((g, i) => `${format(g[key], digits)} / ${format(samples.floor[i]![key], digits)} = ${format(ratios[i]!, 2)}`),
      `${format(median(samples.gateway.map((s) => s[key])), digits)} / ${format(median(samples.floor.map((s) => s[key])), digits)}`,
      format(median(ratios), 2),
    ];
  });
  rows.push(['requests not published', ...samples.gateway.map((g, i) => `${g.failed} / ${samples.floor[i]!.failed}`), '', '']);
  console.log(`\n${layout}:`);
  printMarkdownTable(header, rows);
}

/** The floor copies the gateway's queue settings: says which of them the gateway has changed since (the events stream's length is not exported: not compared). */
function describeSettingsDrift(): string[] {
  const defaults = loadConfig({ GATEWAY_ADMIN_TOKEN: 'x'.repeat(32), GATEWAY_MASTER_KEY: '0'.repeat(64), GATEWAY_COUNTER_KEY: '0'.repeat(64) });
  const gateway = {
    jobOptions: DEFAULT_JOB_OPTIONS, workerConcurrency: defaults.workerConcurrency, executorConcurrency: defaults.executorConcurrency,
    locks: { incoming: workerLockOptions('incoming'), exec: workerLockOptions('exec'), votes: workerLockOptions('votes'), publish: workerLockOptions('publish') },
  };
  return (Object.keys(gateway) as (keyof typeof gateway)[]).filter((key) => !isDeepStrictEqual(gateway[key], FLOOR_SETTINGS[key]))
    .map((key) => `${key}: gateway ${JSON.stringify(gateway[key])}, floor ${JSON.stringify(FLOOR_SETTINGS[key])}`);
}

const startedAt = Date.now();
const loadAtStart = readLoadAverage();
console.log(`bench:pipeline — node ${process.version}, ${availableParallelism()} cores, load average at start ${loadAtStart}`);
console.log(`${REPEAT} repetitions; per run ${WARMUP} warm-up, ${REQUESTS} saturating (${CONCURRENCY} clients), ${LIGHT_REQUESTS} at ${RATE}/s; gateway log level ${LOG_LEVEL}; layouts: ${LAYOUTS.join(', ')}`);
for (const drift of describeSettingsDrift()) console.log(`note: the gateway's settings moved since floor.ts copied them (${drift})`);
const results = new Map<Layout, Record<SystemName, Sample[]>>(LAYOUTS.map((layout) => [layout, { gateway: [], floor: [] }]));
for (let rep = 0; rep < REPEAT; rep++) {
  for (const layout of LAYOUTS) {
    // Alternated, and in turn first: a drift of the machine's load weighs on both.
    const order: SystemName[] = rep % 2 === 0 ? ['gateway', 'floor'] : ['floor', 'gateway'];
    for (const name of order) {
      const sample = await runOnce(name, layout);
      results.get(layout)![name].push(sample);
      console.log(`rep ${rep + 1} ${layout} ${name}: ${METRICS.map(({ key, digits }) => `${key} ${format(sample[key], digits)}`).join(', ')}, not published ${sample.failed}${sample.failed ? ` (${Object.entries(sample.failures).map(([code, n]) => `${code}: ${n}`).join(', ')})` : ''} (load ${readLoadAverage()})`);
    }
  }
}
for (const [layout, samples] of results) printTable(layout, samples);
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ loadAtStart, loadAtEnd: readLoadAverage(), results: Object.fromEntries(results) }, null, 2));
console.log(`\nload average at start ${loadAtStart}, at end ${readLoadAverage()}; ${((Date.now() - startedAt) / 1000).toFixed(0)} s in all`);

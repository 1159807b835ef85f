// npm run bench:commands — where a request's Redis commands and CPU go: the gateway and the floor
// (floor.ts), in one layout (BENCH_LAYOUT: `one process` by default, or `processes`), each take a
// warm-up and then BENCH_REQUESTS requests from BENCH_CONCURRENCY closed-loop clients; prints Redis
// commands per request by name (INFO commandstats: commands run inside scripts counted by their own
// names, so an EVALSHA line counts the script calls) side by side, and the CPU and the context
// switches (every thread's, each a hand-off to or from another thread or process) and the minor page
// faults per request of each measured process (the gateway, its sandbox processes, the floor) and of redis-server. A
// diagnostic beside bench:pipeline: one run, no repetitions.
import { readFileSync } from 'node:fs';
import { format, printMarkdownTable, runLoadClient, sleep } from './bench-kit.ts';
import { startFloorSystem, startGatewaySystem, type BenchSystem, type Layout } from './pipeline-systems.ts';
import { readAllStats, readLoadAverage, readSwitches, ticksToMs } from './process-cpu.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
/** `one process` (npm start and the floor in one process) or `processes` (a process per role, per hop). */
const LAYOUT = (process.env.BENCH_LAYOUT ?? 'one process') as Layout;
/** Extra gateway settings, as JSON (as bench:pipeline's). */
const GATEWAY_ENV = JSON.parse(process.env.BENCH_GATEWAY_ENV ?? '{}') as Record<string, string>;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WARMUP = 100;

/**
 * What a process has used so far: CPU ms, context switches of all its threads (each a hand-off to or
 * from another thread or process), and minor page faults (memory the kernel had to map: on a virtual
 * machine with shadow page tables each costs microseconds).
 */
interface Usage {
  cpuMs: number;
  switches: number;
  faults: number;
}
const NO_USAGE: Usage = { cpuMs: 0, switches: 0, faults: 0 };

/** What each of `roots` and their direct children used so far, by a short name (redis-server included). */
function readProcessUsage(roots: readonly number[]): Map<string, Usage> {
  const usage = new Map<string, Usage>();
  for (const { pid, ppid, comm, ticks, minorFaults } of readAllStats()) {
    const isRoot = roots.includes(pid);
    if (!isRoot && !roots.includes(ppid)) continue;
    let args: string[] = [];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      // The process ended meanwhile: named by its command.
    }
    const at = args.findIndex((arg) => arg.endsWith('.ts'));
    const script = at < 0 ? undefined : [args[at]!.split('/').pop(), ...args.slice(at + 1, at + 2).filter((a) => /^[a-z]/.test(a))].join(' ');
    const label = isRoot ? `${script ?? comm} (main)` : (script ?? comm);
    const sum = usage.get(label) ?? NO_USAGE;
    usage.set(label, { cpuMs: sum.cpuMs + ticksToMs(ticks), switches: sum.switches + readSwitches(pid), faults: sum.faults + minorFaults });
  }
  return usage;
}

async function measure(system: BenchSystem): Promise<{ commands: Map<string, number>; usage: Map<string, Usage>; throughput: number }> {
  const published = async (target: number) => {
    while ((await system.countPublished()) < target) await sleep(50);
  };
  await runLoadClient({ url: system.url, ...(system.token ? { token: system.token } : {}), requests: WARMUP, concurrency: CONCURRENCY, firstN: 0 });
  await published(WARMUP);
  await system.redis.config('RESETSTAT');
  const roots = system.pids();
  const before = readProcessUsage(roots);
  const startedAt = Date.now();
  await runLoadClient({ url: system.url, ...(system.token ? { token: system.token } : {}), requests: REQUESTS, concurrency: CONCURRENCY, firstN: WARMUP });
  await published(WARMUP + REQUESTS);
  const throughput = (REQUESTS * 1000) / (Date.now() - startedAt);
  const after = readProcessUsage(roots);
  const stats = await system.redis.info('commandstats');
  const commands = new Map<string, number>();
  for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (match[1] !== 'config|resetstat' && match[1] !== 'info') commands.set(match[1]!, Number(match[2]) / REQUESTS);
  const usage = new Map([...after].map(([label, used]) => {
    const earlier = before.get(label) ?? NO_USAGE;
    return [label, { cpuMs: (used.cpuMs - earlier.cpuMs) / REQUESTS, switches: (used.switches - earlier.switches) / REQUESTS, faults: (used.faults - earlier.faults) / REQUESTS }];
  }));
  return { commands, usage, throughput };
}

console.log(`bench:commands — ${LAYOUT}, ${REQUESTS} requests from ${CONCURRENCY} clients, load average at start ${readLoadAverage()}`);
const results: Record<'gateway' | 'floor', Awaited<ReturnType<typeof measure>>> = {} as never;
for (const name of ['gateway', 'floor'] as const) {
  const system = name === 'gateway' ? await startGatewaySystem(LAYOUT, { GATEWAY_LOG_LEVEL: 'info', ...GATEWAY_ENV }) : await startFloorSystem(LAYOUT);
  try {
    results[name] = await measure(system);
  } finally {
    await system.stop();
  }
}
const { gateway, floor } = results;
const names = [...new Set([...gateway.commands.keys(), ...floor.commands.keys()])]
  .sort((a, b) => (gateway.commands.get(b) ?? 0) - (floor.commands.get(b) ?? 0) - ((gateway.commands.get(a) ?? 0) - (floor.commands.get(a) ?? 0)));
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
console.log(`\nRedis commands per request (throughput ${format(gateway.throughput, 0)} / ${format(floor.throughput, 0)} per s):`);
printMarkdownTable(['command', 'gateway', 'floor', 'gateway − floor'], [
  ...names.map((n) => [n, format(gateway.commands.get(n) ?? 0, 2), format(floor.commands.get(n) ?? 0, 2), format((gateway.commands.get(n) ?? 0) - (floor.commands.get(n) ?? 0), 2)]),
  ['all', format(total(gateway.commands), 1), format(total(floor.commands), 1), format(total(gateway.commands) - total(floor.commands), 1)],
]);
console.log('\nCPU ms, context switches (all threads) and minor page faults per request, by process:');
// Redis is a child of the one-process gateway only: the sums leave it out on both sides.
const sumOf = (usage: Map<string, Usage>, field: keyof Usage) => [...usage].filter(([label]) => label !== 'redis-server').reduce((sum, [, used]) => sum + used[field], 0);
printMarkdownTable(['system', 'process', 'CPU ms / request', 'switches / request', 'minor faults / request'], (['gateway', 'floor'] as const).flatMap((name) => [
  ...[...results[name].usage].sort((a, b) => b[1].cpuMs - a[1].cpuMs).map(([label, used]) => [name, label, format(used.cpuMs, 2), format(used.switches, 1), format(used.faults, 1)]),
  [name, 'all but redis-server', format(sumOf(results[name].usage, 'cpuMs'), 2), format(sumOf(results[name].usage, 'switches'), 1), format(sumOf(results[name].usage, 'faults'), 1)],
]));
console.log(`\nload average at end ${readLoadAverage()}`);

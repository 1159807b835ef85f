// npm run bench:stages — where the time between acceptance and publication goes at a light rate: the
// gateway and its floor (floor.ts) side by side, in both layouts. Each run sends a warm-up, then
// BENCH_LIGHT_REQUESTS [150] open-loop at BENCH_RATE [20]/s from the load client (a process of its
// own), and reads back, for every request, the BullMQ job hashes of its hops (`timestamp` when a job
// was added, `processedOn` when a worker took it, `finishedOn` when it completed; milliseconds, as
// the roles' clocks wrote them): the median of each moment since acceptance, and the time each role
// holds a request. A diagnostic beside bench:pipeline's p50 ratio: it shows which hop the difference is in.
import { availableParallelism } from 'node:os';
import { format, median, printMarkdownTable, runLoadClient, sleep } from './bench-kit.ts';
import { startFloorSystem, startGatewaySystem, type BenchSystem, type Layout } from './pipeline-systems.ts';
import { readLoadAverage } from './process-cpu.ts';

const env = process.env;
const RATE = Number(env.BENCH_RATE ?? 20);
const REQUESTS = Number(env.BENCH_LIGHT_REQUESTS ?? 150);
const WARMUP = Number(env.BENCH_WARMUP ?? 100);
/** The first requests of the light run are left out: the processes settle into the rate. */
const SKIPPED = 10;
const LAYOUTS = (env.BENCH_LAYOUTS ?? 'one process,processes').split(',').map((l) => l.trim()) as Layout[];
const GATEWAY_ENV = JSON.parse(env.BENCH_GATEWAY_ENV ?? '{}') as Record<string, string>;
const FINAL_WAIT_MS = 30_000;

type Hop = 'incoming' | 'exec' | 'votes' | 'publish';
interface JobTimes { readonly added: number; readonly taken: number; readonly done: number }
/** One request's moments, in ms since its acceptance. */
type Moments = Record<string, number>;

const MOMENTS: ReadonlyArray<readonly [key: string, label: string]> = [
  ['incoming added', 'request job added (`incoming`)'],
  ['incoming taken', 'request job taken (receiver)'],
  ['exec added', 'run jobs added (first)'],
  ['exec taken', 'run job taken (first executor)'],
  ['vote 1 added', 'first vote job added'],
  ['vote 2 added', 'second vote job added'],
  ['vote 2 done', 'second vote handled (consensus)'],
  ['publish added', 'publish job added'],
  ['publish taken', 'publish job taken (sender)'],
  ['published', 'published'],
];
/** How long a role held one request, from its moments. */
const HOLDS: ReadonlyArray<readonly [label: string, held: (m: Moments) => number]> = [
  ['receiver: request taken → run jobs added', (m) => m['exec added']! - m['incoming taken']!],
  ['executor: run taken → its vote added (median member)', (m) => m['executor hold']!],
  ['consensus: deciding vote taken → publish added', (m) => m['publish added']! - m['deciding vote taken']!],
  ['sender: publish taken → published', (m) => m.published! - m['publish taken']!],
];

function hopOf(queue: string): Hop | undefined {
  if (queue === 'incoming' || queue === 'publish') return queue;
  if (queue.startsWith('exec.')) return 'exec';
  if (queue.startsWith('votes.')) return 'votes';
  return undefined;
}

// Every job hash whose key names the request: `<prefix>:<queue>:<job id>`, the job id holding the request id.
async function readJobs(system: BenchSystem, id: string): Promise<Array<{ hop: Hop; node: string; times: JobTimes }>> {
  const redis = system.redis;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `*${id}*`, 'COUNT', 10_000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  const jobs: Array<{ hop: Hop; node: string; times: JobTimes }> = [];
  for (const key of keys) {
    const parts = key.split(':');
    const at = parts.findIndex((part) => part.includes(id));
    // A job's own hash only (its lock, logs and dependency keys have more after the id).
    if (at !== parts.length - 1) continue;
    const hop = hopOf(parts[at - 1] ?? '');
    if (!hop) continue;
    const fields = await redis.hmget(key, 'timestamp', 'processedOn', 'finishedOn');
    if (fields.some((field) => field === null)) continue;
    const [added, taken, done] = fields.map(Number);
    // Run and vote jobs name their node after the request id.
    const node = parts[at]!.slice(parts[at]!.indexOf(id) + id.length);
    jobs.push({ hop, node, times: { added: added!, taken: taken!, done: done! } });
  }
  return jobs;
}

function momentsOf(jobs: Awaited<ReturnType<typeof readJobs>>, acceptedAtMs: number, publishedAtMs: number): Moments | undefined {
  const of = (hop: Hop) => jobs.filter((j) => j.hop === hop);
  const [incoming] = of('incoming');
  const [publish] = of('publish');
  const runs = of('exec');
  const votes = of('votes').sort((a, b) => a.times.added - b.times.added);
  if (!incoming || !publish || runs.length < 2 || votes.length < 2) return undefined;
  const since = (ms: number) => ms - acceptedAtMs;
  // The deciding vote: the last one handled before the publish job was added.
  const deciding = votes.filter((v) => v.times.done <= publish.times.added + 1).sort((a, b) => b.times.done - a.times.done)[0] ?? votes[1]!;
  const holds = runs.flatMap((run) => {
    const vote = votes.find((v) => v.node === run.node);
    return vote ? [vote.times.added - run.times.taken] : [];
  });
  return {
    'incoming added': since(incoming.times.added),
    'incoming taken': since(incoming.times.taken),
    'exec added': since(Math.min(...runs.map((r) => r.times.added))),
    'exec taken': since(Math.min(...runs.map((r) => r.times.taken))),
    'vote 1 added': since(votes[0]!.times.added),
    'vote 2 added': since(votes[1]!.times.added),
    'vote 2 done': since([...votes].sort((a, b) => a.times.done - b.times.done)[1]!.times.done),
    'deciding vote taken': since(deciding.times.taken),
    'publish added': since(publish.times.added),
    'publish taken': since(publish.times.taken),
    published: since(publishedAtMs),
    'executor hold': holds.length ? median(holds) : NaN,
  };
}

async function measure(system: BenchSystem, firstN: number): Promise<Moments[]> {
  await runLoadClient({ url: system.url, ...(system.token ? { token: system.token } : {}), requests: WARMUP, concurrency: 8, firstN });
  const report = await runLoadClient({ url: system.url, ...(system.token ? { token: system.token } : {}), requests: REQUESTS, ratePerSec: RATE, firstN: firstN + WARMUP });
  const ids = report.ids.slice(SKIPPED);
  const deadline = Date.now() + FINAL_WAIT_MS;
  let finishes = await system.readFinishes(ids);
  while (finishes.size < ids.length && Date.now() < deadline) {
    await sleep(200);
    finishes = await system.readFinishes(ids);
  }
  const all: Moments[] = [];
  for (const id of ids) {
    const finish = finishes.get(id);
    if (!finish || !('publishedAtMs' in finish)) continue;
    const moments = momentsOf(await readJobs(system, id), finish.acceptedAtMs, finish.publishedAtMs);
    if (moments) all.push(moments);
  }
  return all;
}

async function run(name: 'gateway' | 'floor', layout: Layout, firstN: number): Promise<Moments[]> {
  const system = name === 'gateway'
    ? await startGatewaySystem(layout, { GATEWAY_LOG_LEVEL: 'info', ...GATEWAY_ENV })
    : await startFloorSystem(layout);
  try {
    return await measure(system, firstN);
  } finally {
    await system.stop();
  }
}

const medianOf = (samples: Moments[], value: (m: Moments) => number) => median(samples.map(value).filter(Number.isFinite));

console.log(`bench:stages — node ${process.version}, ${availableParallelism()} cores, load average at start ${readLoadAverage()}`);
console.log(`per run ${WARMUP} warm-up, then ${REQUESTS} at ${RATE}/s (the first ${SKIPPED} left out); medians in ms since acceptance (job times have 1 ms steps)`);
let firstN = 0;
for (const layout of LAYOUTS) {
  const gateway = await run('gateway', layout, firstN);
  firstN += WARMUP + REQUESTS;
  const floor = await run('floor', layout, firstN);
  firstN += WARMUP + REQUESTS;
  console.log(`\n${layout} (${gateway.length} / ${floor.length} requests read):`);
  const row = (label: string, g: number, f: number) => [label, format(g, 1), format(f, 1), format(g - f, 1)];
  printMarkdownTable(['moment', 'gateway', 'floor', 'gateway − floor'], MOMENTS.map(([key, label]) => row(label, medianOf(gateway, (m) => m[key]!), medianOf(floor, (m) => m[key]!))));
  console.log('');
  printMarkdownTable(['held by', 'gateway', 'floor', 'gateway − floor'], HOLDS.map(([label, held]) => row(label, medianOf(gateway, held), medianOf(floor, held))));
}
console.log(`\nload average at end ${readLoadAverage()}`);

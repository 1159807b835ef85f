// npm run bench:cluster — Redis CPU per request, per shard, on a Redis Cluster of one master
// (GATEWAY_REQUEST_BUCKETS=4) and of three (12), alternated in one invocation. Each run
// (cluster-gateway.ts: every role its own process and ACL user, three onboarded executors): a
// warm-up, an idle window (what the cluster costs with no load: gossip, blocked workers, rounds),
// then BENCH_REQUESTS closed-loop from BENCH_CONCURRENCY clients (the load client a process of its
// own) until every request is published. Per master: Redis CPU µs and commands per request (INFO cpu
// and commandstats before and after; also less the idle rate over the window), its share, and where
// the keys live by tag kind ({ctl}, {r<b>}, queues). Prints each run, then the medians side by side.
import { availableParallelism } from 'node:os';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis } from '../lib/redis.ts';
import { startClusterGateway, type ClusterGateway } from './cluster-gateway.ts';
import { format, median, printMarkdownTable, runLoadClient, sleep } from './bench-kit.ts';
import { readLoadAverage, readTreeCpuMs } from './process-cpu.ts';

const env = process.env;
const REPEAT = Number(env.BENCH_REPEAT ?? 2);
const REQUESTS = Number(env.BENCH_REQUESTS ?? 400);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 32);
const WARMUP = Number(env.BENCH_WARMUP ?? 50);
const IDLE_MS = Number(env.BENCH_IDLE_MS ?? 5000);
const ROUND_MS = env.BENCH_ROUND_MS ?? '250';
/** The shapes compared: about four request buckets per master, as the config's description advises. */
const SHAPES = [{ masters: 1, buckets: 4 }, { masters: 3, buckets: 12 }] as const;
type Shape = (typeof SHAPES)[number];
/** The measured window gives up when nothing was published for this long (a failed request never is). */
const STALL_MS = 30_000;


/** One master as measured in one run. */
interface MasterSample {
  readonly port: number;
  readonly slots: string;
  readonly isControlPlane: boolean;
  readonly idleCpuMsPerSec: number;
  readonly cpuUs: number;
  /** `cpuUs` less what the master would have spent idle over the window. */
  readonly aboveIdleCpuUs: number;
  readonly commands: number;
  /** Keys per tag kind after the run, and how many distinct tags of that kind. */
  readonly keys: Record<TagKind, { keys: number; tags: number }>;
}
interface Sample {
  readonly shape: Shape;
  readonly masters: MasterSample[];
  readonly published: number;
  readonly notPublished: Record<string, number>;
  readonly throughput: number;
  readonly gatewayCpuMs: number;
}
type TagKind = 'ctl' | 'requests' | 'queues';

/** Total CPU seconds and commands one master has served; one INFO, which the next reading counts. */
async function readCounters(master: Redis): Promise<{ cpuSeconds: number; commands: number }> {
  const info = (await master.call('INFO', 'cpu', 'commandstats')) as string;
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  const commands = [...info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  return { cpuSeconds: field('used_cpu_sys') + field('used_cpu_user'), commands };
}
const readAll = (masters: readonly Redis[]) => Promise.all(masters.map(readCounters));

/** Each master's slot ranges (`0-16383`), by port, from CLUSTER SLOTS. */
async function readSlotRanges(master: Redis): Promise<Map<number, string[]>> {
  const ranges = new Map<number, string[]>();
  for (const [first, last, [, port]] of (await master.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][]) {
    ranges.set(port, [...(ranges.get(port) ?? []), `${first}-${last}`]);
  }
  return ranges;
}

/** Keys of one master by tag kind: `{ctl}`, `{r<b>}`, anything else tagged (a BullMQ queue). */
async function countKeys(master: Redis, prefix: string): Promise<Record<TagKind, { keys: number; tags: number }>> {
  const tags: Record<TagKind, Set<string>> = { ctl: new Set(), requests: new Set(), queues: new Set() };
  const keys: Record<TagKind, number> = { ctl: 0, requests: 0, queues: 0 };
  let cursor = '0';
  do {
    const [next, batch] = await master.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    for (const key of batch) {
      const tag = /^[^:]+:\{([^}]*)\}/.exec(key)?.[1] ?? '';
      const kind: TagKind = tag === 'ctl' ? 'ctl' : /^r\d+$/.test(tag) ? 'requests' : 'queues';
      keys[kind]++;
      tags[kind].add(tag);
    }
    cursor = next;
  } while (cursor !== '0');
  return Object.fromEntries((Object.keys(keys) as TagKind[]).map((kind) => [kind, { keys: keys[kind], tags: tags[kind].size }])) as Record<TagKind, { keys: number; tags: number }>;
}

/** The gateway being started or measured: stopped on Ctrl-C too; a second signal exits at once. */
let running: Promise<ClusterGateway> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.once(signal, () => process.exit(130));
    void (running ?? Promise.reject(new Error('none'))).then((gateway) => gateway.stop()).catch(() => undefined).finally(() => process.exit(130));
  });
}

let nextN = 0;
async function runOnce(shape: Shape): Promise<Sample> {
  running = startClusterGateway({ ...shape, env: { GATEWAY_ROUND_MS: ROUND_MS, GATEWAY_LOG_LEVEL: 'warn', GATEWAY_REQUEST_DEADLINE_MS: '30000' } });
  const gateway = await running;
  // Straight to each master as `default`: the bench's own commands are then exactly its INFOs and polls.
  const masters = gateway.masters.map((node) => createRedis(`redis://default:${encodeURIComponent(gateway.adminPassword)}@${node.host}:${node.port}`, 'bench-inspect'));
  try {
    await Promise.all(masters.map((m) => m.ping()));
    const ranges = await readSlotRanges(masters[0]!);
    const ledgerKey = `${gateway.prefix}:{ctl}:ledger`;
    const ledgerSlot = (await masters[0]!.call('CLUSTER', 'KEYSLOT', ledgerKey)) as number;
    const ctlIndex = gateway.masters.findIndex((node) => ranges.get(node.port)!.some((r) => {
      const [first, last] = r.split('-').map(Number);
      return ledgerSlot >= first! && ledgerSlot <= last!;
    }));
    const ctl = masters[ctlIndex]!;
    let polls = 0;
    /** Waits until the ledger holds `target` entries (one LLEN per poll), or nothing was published for STALL_MS. */
    const waitPublished = async (target: number) => {
      let [last, movedAt] = [-1, Date.now()];
      for (;;) {
        const length = await ctl.llen(ledgerKey);
        polls++;
        if (length !== last) [last, movedAt] = [length, Date.now()];
        if (length >= target || Date.now() - movedAt > STALL_MS) return;
        await sleep(50);
      }
    };
    const load = async (requests: number) => {
      const before = await ctl.llen(ledgerKey);
      polls++;
      const report = await runLoadClient({ url: gateway.requestsUrl, token: gateway.apiKey, requests, concurrency: CONCURRENCY, firstN: nextN });
      nextN += requests;
      await waitPublished(before + report.ids.length);
      return report;
    };

    await load(WARMUP);
    const idleBefore = await readAll(masters);
    await sleep(IDLE_MS);
    const idleAfter = await readAll(masters);

    const cpuBefore = readTreeCpuMs(gateway.pids());
    const before = await readAll(masters);
    const windowStartMs = Date.now();
    polls = 0;
    const report = await load(REQUESTS);
    const after = await readAll(masters);
    const windowSeconds = (Date.now() - windowStartMs) / 1000;
    const gatewayCpuMs = readTreeCpuMs(gateway.pids()) - cpuBefore;

    // After the window: what became of each request (the webserver's reads are not counted any more).
    const finishes = await Promise.all(report.ids.map(async (id) => {
      const response = await fetch(`${gateway.baseUrl}/v1/requests/${id}`, { headers: { authorization: `Bearer ${gateway.apiKey}` } });
      return (await response.json()) as { status: string; createdAt: string; finishedAt?: string; failure?: { code: string } };
    }));
    const published = finishes.filter((f) => f.status === 'published');
    const notPublished: Record<string, number> = {};
    for (const [status, count] of Object.entries(report.refused)) notPublished[`http ${status}`] = count;
    for (const f of finishes.filter((f) => f.status !== 'published')) notPublished[f.failure?.code ?? f.status] = (notPublished[f.failure?.code ?? f.status] ?? 0) + 1;
    const spanMs = Math.max(...published.map((f) => Date.parse(f.finishedAt!))) - Math.min(...published.map((f) => Date.parse(f.createdAt)));
    const perRequest = Math.max(1, published.length);
    const keys = await Promise.all(masters.map((m) => countKeys(m, gateway.prefix)));
    const idleCpuMsPerSec = (i: number) => ((idleAfter[i]!.cpuSeconds - idleBefore[i]!.cpuSeconds) * 1000) / (IDLE_MS / 1000);
    const cpuUs = (i: number) => ((after[i]!.cpuSeconds - before[i]!.cpuSeconds) * 1e6) / perRequest;
    return {
      shape, published: published.length, notPublished, throughput: (published.length * 1000) / spanMs, gatewayCpuMs: gatewayCpuMs / perRequest,
      masters: gateway.masters.map((node, i) => ({
        port: node.port, slots: ranges.get(node.port)!.join(','), isControlPlane: i === ctlIndex,
        idleCpuMsPerSec: idleCpuMsPerSec(i), cpuUs: cpuUs(i), aboveIdleCpuUs: cpuUs(i) - (idleCpuMsPerSec(i) * 1000 * windowSeconds) / perRequest,
        // The bench's own: the INFO of `before` (each master) and the LLEN polls (the control plane's master).
        commands: (after[i]!.commands - before[i]!.commands - 1 - (i === ctlIndex ? polls : 0)) / perRequest,
        keys: keys[i]!,
      })),
    };
  } finally {
    await Promise.all(masters.map(closeRedis));
    await gateway.stop();
    running = undefined;
  }
}

const label = (shape: Shape) => `${shape.masters} master${shape.masters > 1 ? 's' : ''} (${shape.buckets} buckets)`;
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
/** The whole cluster's figures of one run. */
function totals(sample: Sample) {
  const cpuUs = sum(sample.masters.map((m) => m.cpuUs));
  const busiest = Math.max(...sample.masters.map((m) => m.cpuUs));
  return {
    throughput: sample.throughput, cpuUs, aboveIdleCpuUs: sum(sample.masters.map((m) => m.aboveIdleCpuUs)), busiestCpuUs: busiest, busiestShare: busiest / cpuUs,
    commands: sum(sample.masters.map((m) => m.commands)), busiestCommands: Math.max(...sample.masters.map((m) => m.commands)),
    idleCpuMsPerSec: sum(sample.masters.map((m) => m.idleCpuMsPerSec)), gatewayCpuMs: sample.gatewayCpuMs,
  };
}

function printRun(rep: number, sample: Sample): void {
  const t = totals(sample);
  const failed = Object.entries(sample.notPublished);
  console.log(`\nrep ${rep} — ${label(sample.shape)}: ${sample.published} published, ${format(t.throughput, 0)}/s; gateway processes ${format(t.gatewayCpuMs, 2)} CPU ms/request; not published ${failed.length ? failed.map(([code, n]) => `${code}: ${n}`).join(', ') : 0} (load ${readLoadAverage()})`);
  const keys = (k: { keys: number; tags: number }) => (k.keys ? `${k.keys} (${k.tags} tag${k.tags > 1 ? 's' : ''})` : '-');
  printMarkdownTable(
    ['master', 'slots', '{ctl} keys', '{r<b>} keys', 'queue keys', 'idle Redis CPU (ms/s)', 'Redis CPU (µs/request)', 'above idle (µs/request)', 'share', 'commands/request'],
    [
      ...sample.masters.map((m) => [
        `${m.port}${m.isControlPlane ? ' (control plane)' : ''}`, m.slots, keys(m.keys.ctl), keys(m.keys.requests), keys(m.keys.queues),
        format(m.idleCpuMsPerSec, 1), format(m.cpuUs, 0), format(m.aboveIdleCpuUs, 0), `${format((100 * m.cpuUs) / t.cpuUs, 0)}%`, format(m.commands, 1),
      ]),
      ['all', '', '', '', '', format(t.idleCpuMsPerSec, 1), format(t.cpuUs, 0), format(t.aboveIdleCpuUs, 0), '100%', format(t.commands, 1)],
    ],
  );
}

const METRICS = [
  { key: 'throughput', label: 'throughput (published/s)', digits: 0 },
  { key: 'cpuUs', label: 'Redis CPU per request, all masters (µs)', digits: 0 },
  { key: 'aboveIdleCpuUs', label: 'the same less the idle rate over the window (µs)', digits: 0 },
  { key: 'busiestCpuUs', label: 'Redis CPU per request, busiest master (µs)', digits: 0 },
  { key: 'busiestShare', label: 'busiest master\'s share of Redis CPU', digits: 2 },
  { key: 'commands', label: 'Redis commands per request, all masters', digits: 1 },
  { key: 'busiestCommands', label: 'Redis commands per request, busiest master', digits: 1 },
  { key: 'idleCpuMsPerSec', label: 'idle Redis CPU, all masters (ms/s)', digits: 1 },
  { key: 'gatewayCpuMs', label: 'gateway processes CPU per request (ms)', digits: 2 },
] as const;

const startedAt = Date.now();
const loadAtStart = readLoadAverage();
console.log(`bench:cluster — node ${process.version}, ${availableParallelism()} cores, load average at start ${loadAtStart}`);
console.log(`${REPEAT} repetitions of ${SHAPES.map(label).join(' and ')}, alternated; per run ${WARMUP} warm-up, ${IDLE_MS} ms idle, ${REQUESTS} requests from ${CONCURRENCY} clients; round ${ROUND_MS} ms, log level warn`);
const samples = new Map<Shape, Sample[]>(SHAPES.map((shape) => [shape, []]));
for (let rep = 1; rep <= REPEAT; rep++) {
  // Alternated, and in turn first: a drift of the machine's load weighs on both.
  for (const shape of rep % 2 ? SHAPES : [...SHAPES].reverse()) {
    const sample = await runOnce(shape);
    samples.get(shape)!.push(sample);
    printRun(rep, sample);
  }
}
console.log('\nmedians:');
const [one, three] = SHAPES.map((shape) => samples.get(shape)!.map(totals));
printMarkdownTable(['', label(SHAPES[0]), label(SHAPES[1]), 'ratio 3 / 1'], METRICS.map(({ key, label: name, digits }) => {
  const [a, b] = [median(one!.map((t) => t[key])), median(three!.map((t) => t[key]))];
  return [name, format(a, digits), format(b, digits), format(b / a, 2)];
}));
console.log(`\nload average at start ${loadAtStart}, at end ${readLoadAverage()}; ${((Date.now() - startedAt) / 1000).toFixed(0)} s in all`);

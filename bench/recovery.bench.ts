// npm run bench:recovery — kill -9 of each role under steady load. Every role runs as its own process
// (recovery-cluster.ts: its own ACL user, three onboarded executor nodes, Redis with the shipped AOF
// settings); a load loop sends BENCH_RATE (20) requests/s, each retried until accepted (with an
// Idempotency-Key, as a client would) while the webserver is down. After a baseline, each role in
// turn is killed with SIGKILL and started again at once. Per role it prints: requests sent around the
// kill, how many were delayed (slower than the baseline allows) or failed, the worst latency (first
// send → published), the longest pause in publications, the seconds from the kill until the last
// delayed request was published (throughput back), and the jobs BullMQ handed back (stalled).
import { queuePrefix } from '../lib/queues.ts';
import { createRedis, closeRedis } from '../lib/redis.ts';
import { createRepository } from '../lib/repository/index.ts';
import { ADMIN_TOKEN, startCluster } from './recovery-cluster.ts';

const RATE = Number(process.env.BENCH_RATE ?? 20);
const WARMUP_MS = 10_000;
const BASELINE_MS = 20_000;
/** Each role's window: requests sent from BEFORE_MS before its kill until AFTER_MS after it. */
const BEFORE_MS = 5_000;
const AFTER_MS = 30_000;
const ROLES = (process.env.BENCH_ROLES ?? 'webserver,receiver,executor-0,consensus,sender,scheduler').split(',').filter(Boolean);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sent {
  readonly n: number;
  readonly firstAtMs: number;
  id?: string;
  attempts: number;
  finishedAtMs?: number;
  /** Accepted → assigned → agreed → published (ms), for the baseline's breakdown. */
  stagesMs?: readonly [number, number, number];
  status?: string;
  failure?: string;
}

const cluster = await startCluster({ GATEWAY_PROJECT_MAX_IN_FLIGHT: '1000000', GATEWAY_SANDBOX_PROCESSES: '1' });
const admin = createRedis(cluster.redis.url, 'bench-admin');
const repository = createRepository(admin, { prefix: cluster.prefix, idempotencyTtlMs: 3_600_000 });
const project = (await (await fetch(`${cluster.url}/v1/projects`, {
  method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'recovery', code: 'export default (input) => ({ double: input.n * 2 })' }),
})).json()) as { id: string; apiKey: string };

// The load: open loop, one request every 1/RATE s whatever the answers; each retried every 250 ms until a 202.
const sent: Sent[] = [];
let isLoading = true;
async function send(item: Sent): Promise<void> {
  while (Date.now() - item.firstAtMs < 60_000) {
    item.attempts++;
    try {
      const response = await fetch(`${cluster.url}/v1/projects/${project.id}/requests`, {
        method: 'POST', signal: AbortSignal.timeout(5000),
        headers: { authorization: `Bearer ${project.apiKey}`, 'content-type': 'application/json', 'idempotency-key': `bench-${item.n}` },
        body: JSON.stringify({ input: { n: item.n } }),
      });
      if (response.status === 202) {
        item.id = ((await response.json()) as { id: string }).id;
        return;
      }
      await response.body?.cancel();
    } catch { /* the webserver is down: retry */ }
    await sleep(250);
  }
}
const loading = (async () => {
  const startMs = Date.now();
  for (let n = 0; isLoading; n++) {
    await sleep(Math.max(0, startMs + (n * 1000) / RATE - Date.now()));
    const item: Sent = { n, firstAtMs: Date.now(), attempts: 0 };
    sent.push(item);
    void send(item);
  }
})();

// Completion, read straight from Redis (the webserver is one of the killed).
let isTracking = true;
const tracking = (async () => {
  while (isTracking) {
    const open = sent.filter((s) => s.id && s.finishedAtMs === undefined);
    for (let i = 0; i < open.length; i += 500) {
      const byId = new Map(open.slice(i, i + 500).map((s) => [s.id!, s]));
      for (const request of await repository.getRequests([...byId.keys()])) {
        if (request.status !== 'published' && request.status !== 'failed') continue;
        const [created, assigned, agreed, finished] = [request.createdAt, request.assignment?.assignedAt, request.outcome?.agreedAt, request.finishedAt].map((t) => Date.parse(t ?? ''));
        Object.assign(byId.get(request.id)!, {
          finishedAtMs: finished, status: request.status, failure: request.failure?.code,
          ...(request.status === 'published' ? { stagesMs: [assigned - created, agreed - assigned, finished - agreed] } : {}),
        });
      }
    }
    await sleep(200);
  }
})();

// Jobs BullMQ handed back from a dead worker: the `stalled` events of every queue's event stream.
const stalls: { atMs: number; queue: string }[] = [];
const queues = ['incoming', 'publish', ...cluster.nodeIds.flatMap((id) => [`exec.${id}`, `exec.${id}.tickets`, `votes.${id}`, `tickets.${id}`])];
/** A queue's kind: `exec.<id>` → exec, `exec.<id>.tickets` → ticketRequests, `votes.<id>` → votes. */
const kindOf = (queue: string) => (queue.startsWith('exec.') && queue.endsWith('.tickets') ? 'ticketRequests' : queue.split('.')[0]);
const lastIds = new Map<string, string>();
let isWatching = true;
const watching = (async () => {
  while (isWatching) {
    for (const queue of queues) {
      const key = `${queuePrefix(cluster.prefix, queue)}:${queue}:events`;
      const entries = await admin.xrange(key, lastIds.has(queue) ? `(${lastIds.get(queue)}` : '-', '+');
      for (const [id, fields] of entries) {
        lastIds.set(queue, id);
        if (fields[fields.indexOf('event') + 1] === 'stalled') stalls.push({ atMs: Number(id.split('-')[0]), queue: kindOf(queue) });
      }
    }
    await sleep(1000);
  }
})();

const latencyOf = (s: Sent) => (s.finishedAtMs === undefined ? Infinity : s.finishedAtMs - s.firstAtMs);
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))];

await sleep(WARMUP_MS);
const baselineFrom = Date.now();
await sleep(BASELINE_MS);
const baselineTo = Date.now();
const kills: { role: string; atMs: number }[] = [];
for (const role of ROLES) {
  await sleep(BEFORE_MS);
  kills.push({ role, atMs: await cluster.killAndRestart(role) });
  console.error(`killed ${role}`);
  await sleep(AFTER_MS);
}
isLoading = false;
await loading;
// Let the last requests finish (or reach their deadline).
const drainUntil = Date.now() + 40_000;
while (Date.now() < drainUntil && sent.some((s) => s.finishedAtMs === undefined && Date.now() - s.firstAtMs < 60_000)) await sleep(500);
isTracking = false;
isWatching = false;
await Promise.all([tracking, watching]);

const baseline = sent.filter((s) => s.firstAtMs >= baselineFrom && s.firstAtMs < baselineTo);
const baselineLatencies = baseline.map(latencyOf);
const p99 = percentile(baselineLatencies, 0.99);
const delayedAboveMs = Math.max(1000, 2 * p99);
const countByQueue = (list: typeof stalls) => [...new Set(list.map((s) => s.queue))].map((q) => `${list.filter((s) => s.queue === q).length} ${q}`).join(', ');
const baselineStalls = stalls.filter((s) => s.atMs >= baselineFrom && s.atMs < baselineTo);
console.log(`baseline: ${baseline.length} requests in ${(baselineTo - baselineFrom) / 1000} s, latency p50 ${percentile(baselineLatencies, 0.5)} ms, p99 ${p99} ms, ${baseline.filter((s) => s.status !== 'published').length} not published, ${baselineStalls.length} jobs handed back${baselineStalls.length ? ` (${countByQueue(baselineStalls)})` : ''}`);
const stage = (i: number) => percentile(baseline.flatMap((s) => (s.stagesMs ? [s.stagesMs[i]] : [])), 0.5);
console.log(`baseline stages (median): accepted → assigned ${stage(0)} ms, → agreed ${stage(1)} ms, → published ${stage(2)} ms`);
console.log(`delayed: latency above ${delayedAboveMs} ms (twice the baseline p99, at least 1 s)\n`);
console.log('| killed (kill -9, restarted at once) | requests | delayed | failed | worst latency | publications paused | throughput back after | jobs handed back |');
console.log('|---|---|---|---|---|---|---|---|');
for (const { role, atMs } of kills) {
  const window = sent.filter((s) => s.firstAtMs >= atMs - BEFORE_MS && s.firstAtMs < atMs + AFTER_MS);
  const delayed = window.filter((s) => latencyOf(s) > delayedAboveMs);
  const failed = window.filter((s) => s.status !== 'published');
  const failures = [...new Set(failed.map((s) => s.failure ?? s.status ?? 'not finished'))].join(', ');
  const worst = Math.max(...window.map(latencyOf));
  const published = sent.filter((s) => s.finishedAtMs !== undefined && s.finishedAtMs >= atMs && s.finishedAtMs < atMs + AFTER_MS).map((s) => s.finishedAtMs!).sort((a, b) => a - b);
  const pause = Math.max(0, ...published.map((t, i) => t - (i === 0 ? atMs : published[i - 1])));
  const backAfter = delayed.length === 0 ? 0 : Math.max(...delayed.map((s) => (s.finishedAtMs ?? Infinity) - atMs));
  const handedBack = stalls.filter((s) => s.atMs >= atMs && s.atMs < atMs + AFTER_MS);
  const byQueue = countByQueue(handedBack);
  const seconds = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'never');
  console.log(`| ${role} | ${window.length} | ${delayed.length} | ${failed.length}${failures ? ` (${failures})` : ''} | ${seconds(worst)} | ${seconds(pause)} | ${seconds(backAfter)} | ${handedBack.length}${byQueue ? ` (${byQueue})` : ''} |`);
}
await closeRedis(admin);
await cluster.stop();

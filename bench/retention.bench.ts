// npm run bench:retention — bytes Redis keeps per published request and per round, measured on the
// one-process gateway (committees of 3, a code that logs two lines) on a private redis-server, after
// the queues' own retention ran (completed jobs cleaned, as removeOnComplete does after its age).
// Phases: `published` (what stays once a request is published), `compacted` (after
// GATEWAY_RETENTION_LOGS_MS), `removed` (after GATEWAY_RETENTION_MS, once exported: what is left).
// BENCH_NO_RETENTION=1 measures the published state only (what was kept forever before retention).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeys } from '../lib/repository/keys.ts';
import { PER_NODE_QUEUE_KINDS, SHARED_QUEUE_KINDS } from '../lib/queues.ts';
import { BENCH_ADMIN_TOKEN as ADMIN, startBenchGateway } from './bench-gateway.ts';

const TOTAL = Number(process.env.BENCH_REQUESTS ?? 300);
const CONCURRENCY = 16;
// Long enough that every request is published before the first is compacted or removed.
const LOGS_MS = 20_000;
const RETENTION_MS = 40_000;
// A result of ~200 bytes and two log lines of ~60: a small, typical oracle answer.
const CODE = `export default (input) => {
  console.log('fetching price for', input.pair, 'at step', input.n);
  const price = 1000 + input.n;
  console.log('price', price, 'spread', 0.25);
  return { pair: input.pair, price, bid: price - 0.25, ask: price + 0.25, sources: ['alpha', 'beta', 'gamma'], note: 'median of three sources, rounded to cents' };
};`;

const exportDir = mkdtempSync(join(tmpdir(), 'gw-bench-export-'));
const retentionEnv: Record<string, string> = process.env.BENCH_NO_RETENTION ? {} : {
  GATEWAY_RETENTION_LOGS_MS: String(LOGS_MS), GATEWAY_RETENTION_MS: String(RETENTION_MS), GATEWAY_EXPORT_DIR: exportDir, GATEWAY_EXPORT_EVERY_MS: '1000',
};
const gateway = await startBenchGateway({ GATEWAY_PROJECT_MAX_IN_FLIGHT: '1000000', GATEWAY_SWEEP_MS: '500', ...retentionEnv });
const { ctx, config } = gateway;
const redis = ctx.connection;
const keys = createKeys(config.keyPrefix, { buckets: config.requestBuckets });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const hasRetention = !process.env.BENCH_NO_RETENTION;

const post = async (path: string, body: unknown, token: string) => {
  const response = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, string>;
};

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
const memoryOf = async (key: string) => Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
const sum = async (list: readonly string[]) => (await Promise.all(list.map(memoryOf))).reduce((a, b) => a + b, 0);

/** Completed jobs go as BullMQ's removeOnComplete would remove them once their age passed. */
async function cleanQueues(): Promise<void> {
  const nodes = (await ctx.repository.listNodes()).map((n) => n.id);
  const queues = [...SHARED_QUEUE_KINDS.map((kind) => ctx.queues.get(kind)), ...nodes.flatMap((id) => PER_NODE_QUEUE_KINDS.map((kind) => ctx.queues.get(kind, id)))];
  for (const queue of queues) await queue.clean(0, 100_000, 'completed');
}

const project = await post('/v1/projects', { name: 'bench', code: CODE }, ADMIN);
await sleep(200);
await cleanQueues();
const firstRound = await ctx.repository.getLatestRoundNumber();
const memoryBefore = await usedMemory();

const ids: string[] = [];
let next = 0;
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (next < TOTAL) {
    const n = next++;
    ids.push((await post(`/v1/projects/${project.id}/requests`, { input: { pair: 'ETH/USD', n } }, project.apiKey)).id);
  }
}));
for (const id of ids) {
  for (;;) {
    const request = await ctx.repository.getRequest(id);
    if (request?.status === 'published') break;
    if (request?.status === 'failed') throw new Error(`request ${id} failed: ${JSON.stringify(request.failure)}`);
    await sleep(20);
  }
}
await cleanQueues();

// The rounds the run used: from before the first request to the one that anchors the last entry.
const lastRound = (await ctx.repository.getLatestRoundNumber()) - 1;
const rounds = Array.from({ length: lastRound - firstRound }, (_, i) => firstRound + i);

/** Bytes per request (its own keys, and its share of the ledger and indexes), and per round of the run. */
async function measure(phase: string): Promise<void> {
  const own = await sum(ids.flatMap((id) => [keys.request(id), keys.requestVotes(id)]));
  const indexes = await sum([keys.ledger, keys.ledgerByRequest, keys.projectRequests(project.id), ...keys.bucketNumbers.map(keys.finishedRequests)]);
  // Tombstone keys of every bucket (`<prefix>:{r<b>}:gone:<hour>`); the bench runs on one Redis, where KEYS sees them all.
  const gone = await sum(await redis.keys(`${keys.prefix}:{r*}:gone:*`));
  const roundBytes = await sum(rounds.flatMap((n) => [keys.round(n), keys.roundTickets(n)]));
  const perRequest = (own + indexes + gone) / TOTAL;
  console.log(`${phase.padEnd(10)} per request: ${perRequest.toFixed(0)} B (record and votes ${(own / TOTAL).toFixed(0)} B, ledger and indexes ${(indexes / TOTAL).toFixed(0)} B, tombstones ${(gone / TOTAL).toFixed(0)} B); per round: ${(roundBytes / rounds.length).toFixed(0)} B`);
}

async function waitUntil(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + RETENTION_MS + 60_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

console.log(`node ${process.version}; ${TOTAL} requests published, committees of 3, round ${config.roundMs} ms (${rounds.length} rounds); completed jobs cleaned`);
await measure('published');
const usedPublished = await usedMemory();
if (hasRetention) {
  // Compaction: once GATEWAY_RETENTION_LOGS_MS passed after publication, the sweep drops logs and late votes' values.
  const lastSeq = (await ctx.repository.getLedgerHead()).length;
  await waitUntil('compaction', async () => (await ctx.repository.getCompactionCursor()) >= lastSeq);
  await measure('compacted');
  // Removal: after GATEWAY_RETENTION_MS, once the scheduler exported them.
  await waitUntil('removal', async () => (await ctx.repository.haveRequests(ids)).every((kept) => !kept) && (await ctx.repository.getRoundAnchor())!.round >= rounds[rounds.length - 1]);
  await measure('removed');
  const exported = readdirSync(exportDir).reduce((total, name) => total + statSync(join(exportDir, name)).size, 0);
  await cleanQueues();
  console.log(`used_memory: ${((usedPublished - memoryBefore) / 1024).toFixed(0)} KiB more than before the run once published, ${(((await usedMemory()) - memoryBefore) / 1024).toFixed(0)} KiB after removal (completed jobs cleaned again)`);
  // What is left, by kind of key: BullMQ's event streams and the rounds started since the run, mostly.
  const groups = new Map<string, number>();
  for (const key of await redis.keys(`${keys.prefix}:*`)) {
    const group = key.slice(keys.prefix.length + 1).replace(/node_[0-9a-f]{20}/, '<node>').replace(/:[^:]*$/, '').replace(/\d+/g, 'N');
    groups.set(group, (groups.get(group) ?? 0) + (await memoryOf(key)));
  }
  const top = [...groups].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([group, bytes]) => `${group} ${(bytes / 1024).toFixed(0)} KiB`);
  console.log(`largest key groups left: ${top.join(', ')}`);
  console.log(`export files: ${(exported / TOTAL).toFixed(0)} B per request on disk (ledger entry and receipt)`);
}
await gateway.stop();
rmSync(exportDir, { recursive: true, force: true });

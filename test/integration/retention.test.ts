// Retention on a real redis-server through the real roles, with retention periods of a second or
// two: compaction, removal only after an export, `410 gone` naming the export, a ledger that still
// verifies (and keeps growing) after its front is removed, old rounds removed behind an anchor, the
// scheduler's export and the real `gateway export` / `gateway verify`, and the sweep's bounded batches;
// and the store's removal, tombstones and oldest-first listing over several request buckets.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, toHex } from '../../lib/crypto/bytes.ts';
import { publicKey } from '../../lib/crypto/ecvrf.ts';
import type { Config } from '../../lib/config.ts';
import { openAdmin, openProcess, startRole, type ProcessContext } from '../../lib/process.ts';
import { closeRedis, createRedis, type RedisCredentials } from '../../lib/redis.ts';
import { acceptRequest } from '../../lib/roles/accept-request.ts';
import type { Receipt } from '../../lib/protocol/receipt.ts';
import { verifyRound } from '../../lib/protocol/rounds.ts';
import { verifyReceipt } from '../../lib/protocol/verify-receipt.ts';
import { createId } from '../../lib/ids.ts';
import { createRepository } from '../../lib/repository/index.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { Project } from '../../lib/repository/types.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import { createRetentionSweep, type RetentionReport } from '../../lib/roles/scheduler/retention.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes } from '../support/builders.ts';
import { ADMIN_TOKEN, COUNTER_KEY, openTestProcess, roundProofOf, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.ts';
import { createRoleUsers, type RoleUsers } from '../support/redis-acl.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const ROOT = join(import.meta.dirname, '../..');
const CODE = "export default (input) => { console.log('pricing', input.price); console.log('done'); return { price: input.price * 2 }; };";
const COUNTER_PUBLIC_KEY = toHex(publicKey(COUNTER_KEY));

/** Runs `gateway <args>` as a child process on the pinned Node. */
function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, XDG_CONFIG_HOME: join(tmpdir(), 'gateway-retention-cli'), GATEWAY_URL: '', GATEWAY_TOKEN: '', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A process context with every role and three executors, over its own key prefix. */
interface Gateway {
  readonly ctx: ProcessContext;
  readonly call: ReturnType<typeof createClient>;
  readonly url: string;
  createProject(committee?: { size: number; quorum: number }): Promise<{ id: string; apiKey: string }>;
  /** Sends a request and waits until it is final; returns its id and final view. */
  send(project: { id: string; apiKey: string }, input: unknown): Promise<{ id: string; body: any }>;
  stop(): Promise<void>;
}

/**
 * Every role and three executors over a fresh key prefix; with `users`, each role on its own
 * context logged in as its Redis user (the returned `ctx`, for the test's own reads, stays privileged).
 */
async function startGateway(redisUrl: string, sandbox: SandboxRunner, overrides: Record<string, string>, users?: (config: Config) => Promise<RoleUsers>): Promise<Gateway> {
  const ctx = await openTestProcess(redisUrl, overrides);
  const nodes = buildNodes(3);
  await seedFrozenRound(ctx, nodes);
  const roleUsers = users ? await users(ctx.config) : undefined;
  const contexts: ProcessContext[] = [];
  const contextOf = async (name: string, credentials: RedisCredentials | undefined): Promise<ProcessContext> => {
    if (!credentials) return ctx;
    // The webserver's queue dashboard runs on an admin connection, as in production.
    const isWeb = name === 'webserver';
    const own = await openProcess(name, ctx.config, redisUrl, ctx.logger, { credentials, queueGauges: isWeb ? { kind: 'all' } : null, ...(isWeb ? { admin: openAdmin(ctx.config, redisUrl, ctx.logger) } : {}) });
    contexts.push(own);
    return own;
  };
  const handles: RoleHandle[] = [];
  const web = (await startRole('webserver', await contextOf('webserver', roleUsers?.credentials('webserver')))) as RoleHandle & { url: string };
  handles.push(web);
  for (const role of ['receiver', 'consensus', 'sender', 'scheduler'] as const) handles.push(await startRole(role, await contextOf(role, roleUsers?.credentials(role))));
  for (const node of nodes) {
    const own = await contextOf(node.nodeId, roleUsers?.credentials('executor'));
    handles.push(await startExecutor({ ...own, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
  }
  // Committees of 3 draw from a frozen round in which every node proved its ticket.
  await waitFor(async () => {
    const latest = await ctx.repository.getLatestRoundNumber();
    return latest > 3 && (await ctx.repository.listTickets(latest - 1)).length === 3 ? true : undefined;
  }, 20_000, 'a frozen round with three tickets');
  const call = createClient(web.url);
  return {
    ctx, call, url: web.url,
    async createProject(committee = { size: 3, quorum: 2 }) {
      const reply = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'retention', code: CODE, committee } });
      expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
      return reply.body;
    },
    async send(project, input) {
      const accepted = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input } });
      expect(accepted.status).to.equal(202);
      const id = accepted.body.id as string;
      const body = await waitFor(async () => {
        const reply = await call('GET', `/v1/requests/${id}?wait=1000`, { token: project.apiKey });
        // With a retention period of a second, a slow poll may find the request removed already.
        if (reply.status === 410) return { status: 'removed' };
        return reply.body.status === 'published' || reply.body.status === 'failed' ? reply.body : undefined;
      }, 20_000, `request ${id} to be final`);
      return { id, body };
    },
    async stop() {
      for (const handle of handles.reverse()) await handle.stop();
      for (const own of contexts) await own.close();
      await ctx.close();
    },
  };
}

describe('retention', function () {
  this.timeout(120_000);
  allowSharedFixtures(this);
  let redis: TestRedis;
  let sandbox: SandboxRunner;
  let dir: string;

  before(async () => {
    redis = await startTestRedis();
    sandbox = createSandboxRunner();
    dir = mkdtempSync(join(tmpdir(), 'gateway-retention-'));
  });
  after(async () => {
    await sandbox.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('through the scheduler, with `gateway export`', () => {
    let gw: Gateway;
    let project: { id: string; apiKey: string };
    const published: string[] = [];
    let exportDir: string;

    before(async () => {
      gw = await startGateway(redis.url, sandbox, { GATEWAY_RETENTION_MS: '1500', GATEWAY_RETENTION_LOGS_MS: '200', GATEWAY_RETENTION_BATCH: '2' });
      project = await gw.createProject();
      exportDir = join(dir, 'cli-export');
    });
    after(async () => {
      await gw.stop();
    });

    const receiptOf = (id: string) => gw.call('GET', `/v1/requests/${id}/receipt`, { token: project.apiKey });

    it('compacts published requests after GATEWAY_RETENTION_LOGS_MS: the stored votes lose logs and what the outcome holds, and the receipt still verifies', async () => {
      for (let price = 1; price <= 4; price++) {
        const { id, body } = await gw.send(project, { price });
        expect(body.status, JSON.stringify(body.failure)).to.equal('published');
        published.push(id);
      }
      const keys = createKeys(gw.ctx.config.keyPrefix, { buckets: gw.ctx.config.requestBuckets });
      // The stored form proves compaction ran: counted votes for the outcome keep only node, signature and order.
      const stored = await waitFor(async () => {
        const all = await Promise.all(published.map((id) => gw.ctx.connection.hvals(keys.requestVotes(id))));
        const votes = all.map((texts) => texts.map((text) => JSON.parse(text) as Record<string, unknown>));
        // Every request compacted: at least the quorum's votes stored as the outcome's.
        return votes.every((list) => list.filter((v) => v.sameAsOutcome === true).length >= 2) ? votes.flat() : undefined;
      }, 20_000, 'compaction');
      expect(stored.filter((v) => 'logs' in v || (v.late === true && v.valueDropped !== true))).to.deep.equal([]);
      for (const vote of stored.filter((v) => v.sameAsOutcome === true)) expect(Object.keys(vote).sort()).to.deep.equal(['nodeId', 'sameAsOutcome', 'seq', 'signature']);
      const view = await gw.call('GET', `/v1/requests/${published[1]}`, { token: project.apiKey });
      const counted = view.body.votes.filter((v: { late: boolean }) => !v.late);
      expect(counted.map((v: { value: unknown; resultHash: string }) => [v.value, v.resultHash])).to.deep.equal(counted.map(() => [{ price: 4 }, view.body.resultHash]));
      expect(view.body.votes.every((v: object) => !('logs' in v))).to.equal(true);
      const receipt = await waitFor(async () => {
        const reply = await receiptOf(published[1]);
        return reply.status === 200 ? (reply.body as Receipt) : undefined;
      }, 20_000, 'the anchoring round');
      expect(verifyReceipt(receipt, COUNTER_PUBLIC_KEY).filter((c) => !c.ok)).to.deep.equal([]);
    });

    it('removes a failed request after GATEWAY_RETENTION_MS, and keeps the older published requests nobody exported', async () => {
      // A schedule tick whose input is too large is stored as failed (rejected) at once, as intake does.
      const stored = (await gw.ctx.repository.getProject(project.id))!;
      const { id } = await acceptRequest({ repository: gw.ctx.repository, queues: gw.ctx.queues, config: gw.ctx.config, nowMs: Date.now() }, {
        project: stored, input: 'x'.repeat(gw.ctx.config.maxInputBytes + 1), source: 'schedule',
      });
      expect((await gw.ctx.repository.getRequest(id))!.failure!.code).to.equal('rejected');
      const gone = await waitFor(async () => {
        const reply = await gw.call('GET', `/v1/requests/${id}`, { token: project.apiKey });
        return reply.status === 410 ? reply : undefined;
      }, 20_000, 'the failed request to be removed');
      expect(gone.body.error).to.deep.equal({ code: 'gone', message: `request ${id} was removed by retention; it was not published, so no export holds a receipt of it` });
      // The published requests became final before the failed one: the sweep passed over them, unexported.
      for (const publishedId of published) expect((await gw.call('GET', `/v1/requests/${publishedId}`, { token: project.apiKey })).body.status).to.equal('published');
      expect((await gw.call('GET', '/v1/exports', { token: ADMIN_TOKEN })).body).to.deep.equal({ exportedThrough: 0, removedThrough: 0, items: [] });
      const other = await gw.createProject();
      expect((await gw.call('GET', `/v1/requests/${id}`, { token: other.apiKey })).status).to.equal(403);
    });

    it('gateway export writes the ledger and the receipts as JSON Lines that gateway verify accepts, and records the export', async () => {
      await waitFor(async () => ((await gw.call('GET', '/v1/rounds/latest')).body.ledgerLength >= 4 ? true : undefined), 20_000, 'a round anchoring entry 4');
      const exported = await runCli(['export', '--since', '1', '--out', exportDir, '--url', gw.url, '--token', ADMIN_TOKEN, '--json']);
      expect(exported.code, exported.stderr).to.equal(0);
      const report = JSON.parse(exported.stdout);
      expect(report.exports).to.have.length(1);
      expect(report.exports[0]).to.deep.include({ fromSeq: 1, toSeq: 4, ledgerFile: 'ledger-1-4.jsonl', receiptsFile: 'receipts-1-4.jsonl', receipts: 4, missingReceipts: 0, isMarked: true });
      expect(readdirSync(exportDir).sort()).to.deep.equal(['ledger-1-4.jsonl', 'receipts-1-4.jsonl']);

      const receipts = await runCli(['verify', join(exportDir, 'receipts-1-4.jsonl'), '--counter-key', COUNTER_PUBLIC_KEY]);
      expect(receipts.code, receipts.stdout + receipts.stderr).to.equal(0);
      expect(receipts.stdout).to.include('4 receipts: 4 verified, 0 failed');
      const lines = readFileSync(join(exportDir, 'receipts-1-4.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Receipt);
      expect(lines.map((r) => r.request.id).sort()).to.deep.equal([...published].sort());

      const ledger = await runCli(['verify', join(exportDir, 'ledger-1-4.jsonl')]);
      expect(ledger.code, ledger.stdout + ledger.stderr).to.equal(0);
      expect(ledger.stdout).to.match(/^ {2}ok {4}ledger-chain +entries 1\.\.4 link from the genesis to head [0-9a-f]{64}$/m);
      expect((await gw.call('GET', '/v1/exports', { token: ADMIN_TOKEN })).body).to.deep.include({ exportedThrough: 4 });
    });

    it('then removes the exported requests and the ledger front; GET /v1/requests/:id and its receipt answer 410 gone naming the export', async () => {
      const exportedEntries = readFileSync(join(exportDir, 'ledger-1-4.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { hash: string });
      const head = exportedEntries[3].hash;
      for (const id of published) {
        const gone = await waitFor(async () => {
          const reply = await receiptOf(id);
          return reply.status === 410 ? reply : undefined;
        }, 20_000, `request ${id} to be removed`);
        expect(gone.body.error.message).to.match(new RegExp(`^request ${id} was removed by retention; its receipt is in the export receipts-1-4\\.jsonl \\(ledger entry [1-4], in ledger-1-4\\.jsonl\\)$`));
        expect(gone.body.error.details[0]).to.equal('receipts: receipts-1-4.jsonl');
        expect((await gw.call('GET', `/v1/requests/${id}`, { token: project.apiKey })).status).to.equal(410);
      }
      const verified = await waitFor(async () => {
        const reply = await gw.call('GET', '/v1/ledger/verify?full=true', { token: ADMIN_TOKEN });
        return reply.body.base?.seq === 4 ? reply.body : undefined;
      }, 20_000, 'the ledger front to be removed');
      expect(verified).to.deep.include({ ok: true, length: 4, head, base: { seq: 4, hash: head } });
      expect((await gw.call('GET', '/v1/ledger?after=0')).body).to.deep.equal({ items: [], nextCursor: null });
    });

    it('keeps appending and verifying after the front is gone: a new request gets seq 5, a receipt that verifies, and the ledger check passes', async () => {
      const { id, body } = await gw.send(project, { price: 50 });
      expect(body.status, JSON.stringify(body)).to.equal('published');
      expect(body.ledger.seq).to.equal(5);
      const receipt = await waitFor(async () => {
        const reply = await receiptOf(id);
        return reply.status === 200 ? (reply.body as Receipt) : undefined;
      }, 20_000, 'the anchoring round');
      expect(receipt.ledger.entry).to.deep.include({ seq: 5 });
      expect(verifyReceipt(receipt, COUNTER_PUBLIC_KEY).filter((c) => !c.ok)).to.deep.equal([]);
      expect((await gw.call('GET', '/v1/ledger?after=0')).body.items.map((e: { seq: number }) => e.seq)).to.deep.equal([5]);
      const check = await gw.call('GET', '/v1/ledger/verify');
      expect(check.body).to.deep.include({ ok: true, length: 5 });
      expect(check.body.base.seq).to.equal(4);
    });

    it('removes old rounds and keeps the newest removed one as the anchor the oldest kept round\'s proof starts from', async () => {
      const gone = await waitFor(async () => {
        const reply = await gw.call('GET', '/v1/rounds/1');
        return reply.status === 410 ? reply : undefined;
      }, 20_000, 'round 1 to be removed');
      expect(gone.body.error.code).to.equal('gone');
      // The sweep keeps removing rounds as they age: read the anchor, the API's answer and the next round while the anchor holds still.
      const { anchor, served, oldest } = await waitFor(async () => {
        const before = (await gw.ctx.repository.getRoundAnchor())!;
        const [reply, next] = [await gw.call('GET', `/v1/rounds/${before.round}`), await gw.ctx.repository.getRound(before.round + 1)];
        return (await gw.ctx.repository.getRoundAnchor())!.round === before.round && next ? { anchor: before, served: reply, oldest: next } : undefined;
      }, 5000, 'a steady round anchor');
      expect(served.body).to.deep.include({ round: anchor.round, seed: anchor.seed, removed: true, tickets: [] });
      expect(verifyRound(fromHex(COUNTER_PUBLIC_KEY, 32), roundProofOf(oldest), fromHex(anchor.seed, 32))).to.equal(true);
    });
  });

  describe('with the scheduler\'s export (GATEWAY_EXPORT_DIR), one sweep at a time', () => {
    let gw: Gateway;
    let project: { id: string; apiKey: string };
    const ids: string[] = [];
    let exportDir: string;

    before(async () => {
      exportDir = join(dir, 'scheduled');
      // The scheduler's own sweep keeps requests seven days; the test runs a sweep with a short period itself.
      gw = await startGateway(redis.url, sandbox, { GATEWAY_EXPORT_DIR: exportDir, GATEWAY_EXPORT_EVERY_MS: '200', GATEWAY_RETENTION_BATCH: '2' });
      project = await gw.createProject();
    });
    after(async () => {
      await gw.stop();
    });

    it('exports the anchored entries and their receipts, which gateway verify accepts', async () => {
      for (let price = 1; price <= 5; price++) ids.push((await gw.send(project, { price })).id);
      // Logs are kept until the compaction (an hour here): what the node's run printed.
      const view = await gw.call('GET', `/v1/requests/${ids[0]}`, { token: project.apiKey });
      expect(view.body.votes[0].logs).to.deep.equal(['pricing 1', 'done']);
      await waitFor(async () => ((await gw.ctx.repository.getExportThrough()) >= 5 ? true : undefined), 20_000, 'the export of entries 1..5');
      const receiptFiles = readdirSync(exportDir).filter((name) => name.startsWith('receipts-')).sort();
      const exported: string[] = [];
      for (const name of receiptFiles) {
        const result = await runCli(['verify', join(exportDir, name), '--counter-key', COUNTER_PUBLIC_KEY]);
        expect(result.code, result.stdout + result.stderr).to.equal(0);
        exported.push(...readFileSync(join(exportDir, name), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as Receipt).request.id));
        const ledger = await runCli(['verify', join(exportDir, name.replace('receipts-', 'ledger-'))]);
        expect(ledger.code, ledger.stdout + ledger.stderr).to.equal(0);
      }
      expect(exported.slice(0, 5).sort()).to.deep.equal([...ids].sort());
    });

    it('removes at most GATEWAY_RETENTION_BATCH requests and ledger entries per sweep', async () => {
      const sweep = createRetentionSweep({ repository: gw.ctx.repository, config: { retentionMs: 1000, retentionLogsMs: 0, retentionBatch: 2 }, clock: systemClock, logger: gw.ctx.logger }, () => true);
      await waitFor(async () => ((await gw.ctx.repository.listFinishedBefore(Date.now() - 1000, 0, 10)).length === 5 ? true : undefined), 10_000, 'the requests to be past the retention period');
      const reports: RetentionReport[] = [];
      for (let run = 0; run < 10; run++) {
        const report = await sweep();
        reports.push(report);
        if (report.removedRequests === 0 && report.removedEntries === 0 && run > 0) break;
      }
      expect(reports.map((r) => r.removedRequests).filter((n) => n > 0), JSON.stringify(reports)).to.deep.equal([2, 2, 1]);
      expect(reports.every((r) => r.removedEntries <= 2 && r.compacted <= 2), JSON.stringify(reports)).to.equal(true);
      // The scheduler's own sweep removes the exported front of the ledger too, once the requests are gone.
      const base = await waitFor(async () => {
        const current = await gw.ctx.repository.getLedgerBase();
        return current.seq === 5 ? current : undefined;
      }, 10_000, 'the ledger front to be removed');
      expect(base.hash).to.equal((await gw.ctx.repository.getLedgerHead()).head);
      expect((await gw.ctx.repository.haveRequests(ids))).to.deep.equal([false, false, false, false, false]);
      const gone = await gw.call('GET', `/v1/requests/${ids[0]}/receipt`, { token: project.apiKey });
      expect(gone.status).to.equal(410);
      const file = /its receipt is in the export (receipts-\d+-\d+\.jsonl)/.exec(gone.body.error.message)![1];
      expect(existsSync(join(exportDir, file))).to.equal(true);
      expect(readFileSync(join(exportDir, file), 'utf8')).to.include(ids[0]);
    });
  });

  describe('over four request buckets, through the repository', () => {
    const PROJECT: Project = {
      id: 'prj_0000000000retentionbucket', name: 'buckets', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
      limits: { timeoutMs: 2000, cpuMs: 1000, memoryMb: 32, fetchCalls: 0, outputBytes: 65536, logLines: 20, logBytes: 4096 }, version: 1, codeCid: 'bafkreibuckets', createdAt: new Date().toISOString(),
    };
    let connection: ReturnType<typeof createRedis>;

    before(() => {
      connection = createRedis(redis.url, 'test-retention-buckets');
    });
    after(async () => {
      await closeRedis(connection);
    });

    it('removes final requests of several buckets, tombstones each in its own bucket, and lists the finished oldest first across buckets', async () => {
      const prefix = uniquePrefix();
      const repository = createRepository(connection, { prefix, buckets: 4 });
      const keys = createKeys(prefix, { buckets: 4 });
      await repository.putProject(PROJECT, 'export default (input) => input', 'hash-buckets', Date.now());
      const startMs = Date.now();
      // An id's last character picks its bucket here ('0'..'3' → 0..3): finished in the order of `buckets`.
      const buckets = [2, 0, 3, 1, 2];
      const ids = buckets.map((b) => `${createId('req', startMs).slice(0, -2)}0${b}`);
      expect(ids.map(keys.bucketOf)).to.deep.equal(buckets);
      for (const id of ids) {
        expect(await repository.putRequest({ id, projectId: PROJECT.id, version: 1, codeCid: PROJECT.codeCid, source: 'api', input: {}, createdAtMs: startMs, maxOpen: 100 })).to.deep.equal({ outcome: 'created', id });
      }
      // Bucket 1's request is published (ledger seq 1) and not exported yet: the others fail, one per ms.
      const published = ids[3];
      const finishedMs = ids.map((_, i) => startMs + 10 + i);
      for (const [i, id] of ids.entries()) {
        if (id !== published) {
          expect((await repository.failRequest(id, ['queued'], { code: 'timeout', message: 'late' }, finishedMs[i])).applied).to.equal(true);
          continue;
        }
        const assignment = { round: 2, roundSeed: '00'.repeat(32), committee: ['node_a', 'node_b', 'node_c'], quorum: 2, aggregation: 'exact' as const, assignedAt: new Date(startMs).toISOString() };
        await repository.assignRequest(id, assignment, finishedMs[i] - 2);
        await repository.agreeRequest(id, { ok: true, value: 1, resultHash: '11'.repeat(32), supporters: ['node_a', 'node_b'], agreedAt: new Date(startMs).toISOString() }, finishedMs[i] - 1);
        expect((await repository.publishRequest(id, { seq: 1, hash: '22'.repeat(32) }, finishedMs[i])).applied).to.equal(true);
      }

      expect(await repository.listFinishedBefore(finishedMs[4] + 1, 0, 10)).to.deep.equal(ids);
      expect(await repository.listFinishedBefore(finishedMs[4] + 1, 1, 3)).to.deep.equal(ids.slice(1, 4));
      expect(await repository.listFinishedBefore(finishedMs[3], 0, 10)).to.deep.equal(ids.slice(0, 3));
      expect(await repository.getOldestFinishedMs()).to.equal(finishedMs[0]);

      const untilMs = Date.now() + 60_000;
      const requests = ids.map((id) => ({ id, projectId: PROJECT.id }));
      const failed = ids.filter((id) => id !== published);
      expect(await repository.removeRequests(requests, () => untilMs)).to.deep.equal({ removed: failed, cleaned: [] });
      expect(await repository.haveRequests(ids)).to.deep.equal(ids.map((id) => id === published));
      const hour = Math.floor(startMs / 3_600_000);
      for (const id of failed) {
        expect(await repository.getTombstone(id)).to.deep.equal({ projectId: PROJECT.id, seq: 0 });
        expect(await connection.hget(keys.gone(keys.bucketOf(id), hour), id)).to.equal(`${PROJECT.id} 0`);
      }
      expect(await connection.pexpiretime(keys.gone(2, hour))).to.equal(untilMs);
      expect((await repository.listProjectRequests(PROJECT.id, 10)).items.map((r) => r.id)).to.deep.equal([published]);
      expect(await repository.listFinishedBefore(finishedMs[4] + 1, 0, 10)).to.deep.equal([published]);
      expect(await repository.getOldestFinishedMs()).to.equal(finishedMs[3]);

      // Once its entry is exported, the published request goes too, its tombstone naming its seq.
      await repository.putExport({ fromSeq: 1, toSeq: 1, ledgerFile: 'ledger-1-1.jsonl', receiptsFile: 'receipts-1-1.jsonl', receipts: 1, firstCreatedAt: PROJECT.createdAt, lastCreatedAt: PROJECT.createdAt, exportedAt: PROJECT.createdAt });
      expect(await repository.removeRequests([{ id: published, projectId: PROJECT.id }], () => untilMs)).to.deep.equal({ removed: [published], cleaned: [] });
      expect(await repository.getTombstone(published)).to.deep.equal({ projectId: PROJECT.id, seq: 1 });
      expect(await repository.getOldestFinishedMs()).to.equal(null);
      // A second run finds every record gone: it only reports them cleaned and changes nothing.
      expect(await repository.removeRequests(requests, () => untilMs)).to.deep.equal({ removed: [], cleaned: ids });
      expect((await repository.listProjectRequests(PROJECT.id, 10)).items).to.deep.equal([]);
      expect(await connection.zcard(keys.projectRequests(PROJECT.id))).to.equal(0);
    });
  });

  describe('as each role\'s Redis user', () => {
    let gw: Gateway;
    let exportDir: string;

    before(async () => {
      exportDir = join(dir, 'acl');
      await gwAdmin(redis.url, (admin) => admin.call('ACL', 'LOG', 'RESET'));
      gw = await startGateway(redis.url, sandbox, {
        GATEWAY_RETENTION_MS: '1000', GATEWAY_RETENTION_LOGS_MS: '0', GATEWAY_EXPORT_DIR: exportDir, GATEWAY_EXPORT_EVERY_MS: '200',
      }, (config) => createRoleUsers(redis.url, config.keyPrefix));
    });
    after(async () => {
      await gw?.stop();
    });

    it('exports, compacts and removes as the scheduler\'s user, answers 410 and shows the gauges as the webserver\'s, and Redis refuses nothing', async () => {
      const project = await gw.createProject();
      const ids: string[] = [];
      for (let price = 1; price <= 3; price++) ids.push((await gw.send(project, { price })).id);
      for (const id of ids) {
        await waitFor(async () => ((await gw.call('GET', `/v1/requests/${id}/receipt`, { token: project.apiKey })).status === 410 ? true : undefined), 20_000, `request ${id} to be removed`);
      }
      await waitFor(async () => ((await gw.ctx.repository.getLedgerBase()).seq === 3 ? true : undefined), 20_000, 'the ledger front to be removed');
      expect((await gw.call('GET', '/v1/ledger/verify')).body).to.deep.include({ ok: true, length: 3 });
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(Number(/^gateway_redis_used_memory_bytes (\d+)$/m.exec(metrics)?.[1])).to.be.above(1_000_000);
      expect(metrics).to.match(/^gateway_redis_maxmemory_bytes 0$/m);
      expect(metrics).to.match(/^gateway_retention_lag_seconds \d/m);
      const status = (await gw.call('GET', '/v1/status')).body;
      expect(status.memory).to.deep.include({ maxBytes: 0, isNearLimit: false });
      expect(status.retention).to.deep.include({ retentionMs: 1000, exportedThrough: 3 });
      // With a maxmemory the used memory is above 80% of, the status page warns.
      const maxBytes = Math.ceil(status.memory.usedBytes * 1.15);
      await gwAdmin(redis.url, (admin) => admin.config('SET', 'maxmemory', String(maxBytes)));
      try {
        const near = (await gw.call('GET', '/v1/status')).body.memory;
        expect(near).to.deep.include({ maxBytes, isNearLimit: true });
        // The gauges read Redis once per scrape (a snapshot lives 100 ms).
        await waitFor(async () => ((await (await fetch(`${gw.url}/metrics`)).text()).includes(`gateway_redis_maxmemory_bytes ${maxBytes}`) ? true : undefined), 5000, 'the maxmemory gauge');
      } finally {
        await gwAdmin(redis.url, (admin) => admin.config('SET', 'maxmemory', '0'));
      }
      // The webserver's user records an export (a range exported again is fine); one past the ledger is refused.
      const record = { fromSeq: 2, toSeq: 3, ledgerFile: 'ledger-2-3.jsonl', receiptsFile: 'receipts-2-3.jsonl', receipts: 0, firstCreatedAt: status.now, lastCreatedAt: status.now };
      expect(await gw.call('POST', '/v1/exports', { token: ADMIN_TOKEN, body: record })).to.deep.include({ status: 201, body: { exportedThrough: 3 } });
      const past = await gw.call('POST', '/v1/exports', { token: ADMIN_TOKEN, body: { ...record, toSeq: 9 } });
      expect([past.status, past.body.error.details]).to.deep.equal([400, ['toSeq: at most 3']]);
      expect(await gw.ctx.repository.putExport({ ...record, fromSeq: 5, toSeq: 6, exportedAt: status.now })).to.deep.equal({ outcome: 'gap', through: 3 });
      const log = await gwAdmin(redis.url, (admin) => admin.call('ACL', 'LOG'));
      expect(log, JSON.stringify(log)).to.deep.equal([]);
    });
  });
});

/** Runs `use` on a connection as Redis's default user (the test harness's operator). */
async function gwAdmin<T>(url: string, use: (admin: ReturnType<typeof createRedis>) => Promise<T>): Promise<T> {
  const admin = createRedis(url, 'test-retention-admin');
  try {
    return await use(admin);
  } finally {
    await closeRedis(admin);
  }
}

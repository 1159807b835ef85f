// End to end, on a machine whose two cores are held busy by two spinning processes: the one-process
// gateway (`npm start`'s entrypoint, three local nodes) takes 200 requests at 20 per second with
// committees of 3. Every round's tickets must reach the scheduler before the round freezes, or the
// receiver finds fewer than 3 eligible nodes and the request fails `no_nodes`; every request publishes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { findFreePort } from '../../lib/embedded-redis.ts';
import { ADMIN_TOKEN, testEnv, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const ROOT = join(import.meta.dirname, '../..');
const REQUESTS = 200;
const PER_SECOND = 20;

describe('rounds on a busy machine', function () {
  this.timeout(600_000);
  // The spinners and the gateway live until after(), past the root hook's per-test check.
  allowSharedFixtures(this);
  let redis: TestRedis;
  let dir: string;
  let gateway: { child: ChildProcess; output: string[] } | undefined;
  const spinners: ChildProcess[] = [];

  before(async () => {
    redis = await startTestRedis();
    dir = mkdtempSync(join(tmpdir(), 'gw-busy-rounds-'));
    // Both cores busy for the whole test, as a noisy neighbour would keep them.
    for (let i = 0; i < 2; i++) spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  });

  after(async () => {
    for (const spinner of spinners) spinner.kill('SIGKILL');
    if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) {
      const { child } = gateway;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        child.kill('SIGTERM');
      });
    }
    await Promise.all(spinners.map((s) => (s.exitCode !== null || s.signalCode !== null ? undefined : new Promise((resolve) => s.once('exit', resolve)))));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`publishes ${REQUESTS} requests sent at ${PER_SECOND}/s with committees of 3, none failing no_nodes`, async () => {
    const port = await findFreePort();
    const env = {
      PATH: process.env.PATH ?? '',
      ...testEnv({ GATEWAY_ROUND_MS: '500', GATEWAY_LOG_LEVEL: 'warn', GATEWAY_REQUEST_DEADLINE_MS: '120000' }),
      REDIS_URL: redis.url, GATEWAY_PORT: String(port), GATEWAY_DATA_DIR: dir, GATEWAY_EXPORT_DIR: '', GATEWAY_LOCAL_NODES: '3',
    };
    const child = spawn(process.execPath, [join(ROOT, 'entrypoints', 'all.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    gateway = { child, output };
    const call = createClient(`http://127.0.0.1:${port}`);
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}: ${output.join('').slice(-3000)}`);
      try {
        return (await call('GET', '/readyz')).status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    }, 120_000, 'the gateway');
    // Committees of 3 can be drawn once a frozen round holds the three local nodes' tickets.
    await waitFor(async () => {
      const latest = await call('GET', '/v1/rounds/latest');
      if (latest.status !== 200) return undefined;
      const previous = await call('GET', `/v1/rounds/${latest.body.round - 1}`);
      return previous.status === 200 && previous.body.tickets.length === 3 ? true : undefined;
    }, 120_000, 'three ticketed nodes');

    const created = await call('POST', '/v1/projects', {
      token: ADMIN_TOKEN,
      body: { name: 'busy', committee: { size: 3, quorum: 2 }, code: 'export default (input) => ({ square: input.n * input.n })' },
    });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const { id: projectId, apiKey } = created.body;

    // An open-loop client: one request every 1/20 s from the start, whatever the replies take.
    const startedAt = Date.now();
    const sent: Promise<{ n: number; status: number; id: string }>[] = [];
    for (let n = 0; n < REQUESTS; n++) {
      const dueAt = startedAt + (n * 1000) / PER_SECOND;
      if (dueAt > Date.now()) await new Promise((resolve) => setTimeout(resolve, dueAt - Date.now()));
      sent.push(call('POST', `/v1/projects/${projectId}/requests`, { token: apiKey, body: { input: { n } } }).then((r) => ({ n, status: r.status, id: r.body?.id })));
    }
    const accepted = await Promise.all(sent);
    expect(accepted.filter((r) => r.status !== 202)).to.deep.equal([]);

    const finished = await Promise.all(accepted.map((r) => waitFor(async () => {
      const reply = await call('GET', `/v1/requests/${r.id}?wait=20000`, { token: apiKey });
      return ['published', 'failed'].includes(reply.body.status) ? { n: r.n, ...reply.body } : undefined;
    }, 300_000, `request ${r.id}`)));
    const failed: Record<string, number> = {};
    for (const r of finished.filter((f) => f.status !== 'published')) failed[r.failure?.code ?? r.status] = (failed[r.failure?.code ?? r.status] ?? 0) + 1;
    // On a failure, what it looked like: how many tickets each round froze with, and the gateway's warnings.
    const explain = async () => {
      if (Object.keys(failed).length === 0) return '';
      const latest = (await call('GET', '/v1/rounds/latest')).body.round as number;
      const counts: string[] = [];
      for (let r = Math.max(1, latest - 100); r < latest; r++) counts.push(`${r}:${(await call('GET', `/v1/rounds/${r}`)).body.tickets?.length}`);
      const logs = output.join('').split('\n').filter((line) => !line.includes('request failed: no nodes'));
      return `tickets per round ${counts.join(' ')}\n${logs.slice(-30).join('\n')}`;
    };
    const explanation = await explain();
    expect(failed.no_nodes ?? 0, `requests that failed no_nodes (failures: ${JSON.stringify(failed)})\n${explanation}`).to.equal(0);
    expect(failed, `requests that did not publish\n${explanation}`).to.deep.equal({});
    for (const request of finished) {
      expect(request.result).to.deep.equal({ square: request.n * request.n });
      expect(request.committee).to.have.length(3);
    }
  });
});

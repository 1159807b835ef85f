// End to end, as an attacker would meet it: five executor nodes as separate processes, two of them
// Byzantine (they sign a value the code never returned), every role on its own Redis ACL user, and
// both cores held busy by two spinning processes. Only honest results are published, the liars'
// dissent shows in the node statistics, and every receipt verifies with `gateway verify`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fromHex } from '../../lib/crypto/bytes.ts';
import { deriveNodeKeys } from '../../lib/crypto/keys.ts';
import { findFreePort } from '../../lib/embedded-redis.ts';
import { nodeIdOf } from '../../lib/process.ts';
import { createNodeRegistration } from '../../lib/roles/node-record.ts';
import { ADMIN_TOKEN, testEnv, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { createRoleUsers } from '../support/redis-acl.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { createRoleProcesses, waitForTicketedNodes, waitForWebserver } from '../support/role-processes.ts';

const ROOT = join(import.meta.dirname, '../..');
const REQUESTS = 20;

describe('a committee of 5 with 2 Byzantine nodes, on a busy machine', function () {
  this.timeout(240_000);
  let redis: TestRedis;
  let dir: string;
  const processes = createRoleProcesses();
  const spinners: ChildProcess[] = [];
  // Only PATH and the test's settings reach the roles: nothing of this process's environment.
  const startProcess = (name: string, script: string, env: Record<string, string>) => processes.start(name, script, env, { cleanEnv: true });

  before(async () => {
    redis = await startTestRedis();
    dir = mkdtempSync(join(tmpdir(), 'gw-byzantine-'));
    // Both cores busy for the whole test, as a noisy neighbour would keep them.
    for (let i = 0; i < 2; i++) spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  });

  after(async () => {
    for (const spinner of spinners) spinner.kill('SIGKILL');
    await processes.stopAll(15_000);
    await Promise.all(spinners.map((s) => (s.exitCode !== null || s.signalCode !== null ? undefined : new Promise((resolve) => s.once('exit', resolve)))));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes only honest results, shows the dissent, and every receipt verifies offline', async () => {
    const port = await findFreePort();
    const base = testEnv({ GATEWAY_ROUND_MS: '500', GATEWAY_LOG_LEVEL: 'warn', GATEWAY_REQUEST_DEADLINE_MS: '90000', GATEWAY_SANDBOX_PROCESSES: '1' });
    const prefix = base.GATEWAY_KEY_PREFIX!;
    const keyFiles = Array.from({ length: 5 }, (_, i) => join(dir, `node-${i}.key`));
    const nodeIds = keyFiles.map((file) => nodeIdOf(file));
    const byzantine = new Set(nodeIds.slice(3));
    const users = await createRoleUsers(redis.url, prefix, nodeIds);
    const asUser = (name: string, credentials: { username: string; password: string }): Record<string, string> => {
      const file = join(dir, `${name}.password`);
      writeFileSync(file, credentials.password, { mode: 0o600 });
      return { REDIS_USERNAME: credentials.username, REDIS_PASSWORD_FILE: file };
    };
    const env = { ...base, REDIS_URL: redis.url, GATEWAY_PORT: String(port), HEALTH_PORT: '0', GATEWAY_NODE_AUTO_REGISTER: 'false' };
    for (const role of ['webserver', 'receiver', 'consensus', 'sender', 'scheduler'] as const) {
      startProcess(role, join(ROOT, 'entrypoints', `${role}.ts`), { ...env, ...asUser(role, users.credentials(role)) });
    }
    for (const [i, nodeId] of nodeIds.entries()) {
      const script = byzantine.has(nodeId) ? join(ROOT, 'test/support/byzantine-executor.ts') : join(ROOT, 'entrypoints/executor.ts');
      startProcess(`node-${i}`, script, { ...env, ...asUser(nodeId, users.nodeCredentials(nodeId)), NODE_KEY_FILE: keyFiles[i]!, BYZANTINE_TAG: `liar-${i}` });
    }
    const call = createClient(`http://127.0.0.1:${port}`);
    await waitForWebserver(call, 60_000);

    // The admin registers each node from what the node signed (as `gateway node init` prints it).
    for (const [i, file] of keyFiles.entries()) {
      const registration = createNodeRegistration(deriveNodeKeys(fromHex(readFileSync(file, 'utf8').trim(), 32)), `node-${i}`);
      const reply = await call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body: registration });
      expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
    }
    await waitForTicketedNodes(call, 5, 90_000);

    const created = await call('POST', '/v1/projects', {
      token: ADMIN_TOKEN,
      body: { name: 'byzantine', committee: { size: 5, quorum: 3 }, code: 'export default (input) => ({ square: input.n * input.n })' },
    });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const { id: projectId, apiKey } = created.body;
    const send = (n: number) => call('POST', `/v1/projects/${projectId}/requests`, { token: apiKey, body: { input: { n } } });
    const finish = (id: string) => waitFor(async () => {
      const reply = await call('GET', `/v1/requests/${id}?wait=20000`, { token: apiKey });
      return ['published', 'failed'].includes(reply.body.status) ? reply.body : undefined;
    }, 180_000, `request ${id}`);
    const sent = await Promise.all(Array.from({ length: REQUESTS }, (_, n) => send(n)));
    expect(sent.map((r) => r.status)).to.deep.equal(Array(REQUESTS).fill(202));
    const finished = await Promise.all(sent.map((r) => finish(r.body.id)));
    const readStats = async () => new Map(((await call('GET', '/v1/nodes')).body.items as { id: string; stats: Record<string, number> }[]).map((n) => [n.id, n.stats]));
    const liarsDisagreed = (stats: Map<string, Record<string, number>>) => [...byzantine].reduce((sum, id) => sum + stats.get(id)!.disagreed, 0);
    // Whether a liar's vote comes before finality is the scheduler's choice on busy cores: a liar's
    // process kept off the CPU for the whole burst votes late on every request of it. Requests go on,
    // one at a time, until a liar's vote has been counted before finality.
    await waitFor(async () => {
      if (liarsDisagreed(await readStats()) > 0) return true;
      const reply = await send(finished.length);
      expect(reply.status).to.equal(202);
      finished.push(await finish(reply.body.id));
      return undefined;
    }, 120_000, 'a liar\'s vote counted before finality');
    const total = finished.length;
    for (const [n, request] of finished.entries()) {
      expect(request.status, JSON.stringify(request.failure)).to.equal('published');
      expect(request.result).to.deep.equal({ square: n * n });
      expect(request.committee).to.have.length(5);
      const counted = request.votes.filter((v: { late: boolean }) => !v.late);
      const honestCounted = counted.filter((v: { nodeId: string; resultHash: string }) => !byzantine.has(v.nodeId) && v.resultHash === request.resultHash);
      expect(honestCounted.length, 'the quorum is honest').to.be.at.least(3);
      for (const vote of request.votes.filter((v: { nodeId: string }) => byzantine.has(v.nodeId))) {
        expect(vote.resultHash, 'a liar never agrees').to.not.equal(request.resultHash);
      }
    }

    // Dissent is visible per node: the liars disagree (or vote late), the honest never disagree.
    const stats = await readStats();
    for (const id of nodeIds) {
      const s = stats.get(id)!;
      // Each seat ends agreed, disagreed or missed (a late vote missed its seat).
      if (byzantine.has(id)) expect([s.agreed, s.disagreed + s.missed], id).to.deep.equal([0, total]);
      else expect([s.disagreed, s.agreed + s.missed], id).to.deep.equal([0, total]);
    }
    expect(liarsDisagreed(stats), 'liars counted before finality').to.be.greaterThan(0);

    // Every receipt verifies offline, with the counter key the operator publishes.
    const receipts = await Promise.all(finished.map((request) => waitFor(async () => {
      const reply = await call('GET', `/v1/requests/${request.id}/receipt`, { token: apiKey });
      return reply.status === 200 ? reply.body : undefined;
    }, 60_000, `the receipt of ${request.id}`)));
    const counterKey = (await call('GET', '/v1/rounds/latest')).body.counterPublicKey as string;
    const file = join(dir, 'receipts.jsonl');
    writeFileSync(file, receipts.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const verified = await runCli(['verify', file, '--counter-key', counterKey, '--json'], { XDG_CONFIG_HOME: dir });
    expect(verified.code, verified.output.slice(-3000)).to.equal(0);

    await processes.expectCleanStop();
  });
});

function runCli(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli/main.ts'), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('exit', (code) => resolve({ code, output }));
  });
}

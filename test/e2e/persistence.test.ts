// "Accepted means persisted": Redis as `npm start` runs it (startLocalRedis: ACL users, the AOF with
// appendfsync always) on a temp data folder, the real webserver as its own process, a burst of
// requests, Redis killed with SIGKILL right after the last 202 and started again on the same folder:
// every accepted request is there.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { findFreePort } from '../../lib/embedded-redis.ts';
import { startLocalRedis, type LocalRedis } from '../../lib/local-redis.ts';
import { closeRedis, createRedis, withoutCredentials } from '../../lib/redis.ts';
import { createRepository } from '../../lib/repository/index.ts';
import { ADMIN_TOKEN, testEnv, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';

const ROOT = join(import.meta.dirname, '../..');
const BURST = 200;
const CONCURRENCY = 25;

describe('accepted means persisted', function () {
  this.timeout(120_000);
  let dir: string;
  let redis: LocalRedis | undefined;
  let webserver: ChildProcess | undefined;
  const output: string[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gw-persist-'));
  });
  after(async () => {
    if (webserver && webserver.exitCode === null && webserver.signalCode === null) {
      const exited = new Promise((resolve) => webserver!.once('exit', resolve));
      webserver.kill('SIGKILL');
      await exited;
    }
    await redis?.server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds every request answered 202 after Redis is killed with SIGKILL right after the burst and restarted on its folder', async () => {
    const env = testEnv({ GATEWAY_LOG_LEVEL: 'warn' });
    const prefix = env.GATEWAY_KEY_PREFIX;
    const secrets = new Map<string, string>();
    const secret = (name: string) => secrets.get(name) ?? secrets.set(name, randomBytes(24).toString('hex')).get(name)!;
    // What npm start does: the same function, the same folder layout, one user per role.
    const start = () => startLocalRedis({ dataDir: dir, prefix, localNodeIds: [], adminPassword: secret('redis-password'), secret });
    redis = await start();
    const admin = createRedis(redis.server.url, 'test-admin');
    try {
      expect(await admin.config('GET', 'appendonly')).to.deep.equal(['appendonly', 'yes']);
      expect(await admin.config('GET', 'appendfsync')).to.deep.equal(['appendfsync', 'always']);
    } finally {
      await closeRedis(admin);
    }

    const port = await findFreePort();
    const login = redis.credentialsOf('webserver');
    writeFileSync(join(dir, 'webserver.password'), login.password, { mode: 0o600 });
    webserver = spawn(process.execPath, [join(ROOT, 'entrypoints', 'webserver.ts')], {
      env: { ...process.env, ...env, REDIS_URL: withoutCredentials(redis.server.url), REDIS_USERNAME: login.username, REDIS_PASSWORD_FILE: join(dir, 'webserver.password'), GATEWAY_PORT: String(port), HEALTH_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    webserver.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    webserver.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const call = createClient(`http://127.0.0.1:${port}`);
    await waitFor(async () => {
      try {
        return (await call('GET', '/healthz')).status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    }, 30_000, 'the webserver');
    const created = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'persist', code: 'export default (input) => input' } });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const { id: projectId, apiKey } = created.body as { id: string; apiKey: string };

    const accepted: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < BURST) {
        const n = next++;
        const reply = await call('POST', `/v1/projects/${projectId}/requests`, { token: apiKey, body: { input: { n } } });
        expect(reply.status, JSON.stringify(reply.body)).to.equal(202);
        accepted.push((reply.body as { id: string }).id);
      }
    }));
    // Right after the last 202: no grace, no shutdown, no fsync asked for.
    process.kill(redis.server.pid, 'SIGKILL');
    await waitFor(async () => (isAlive(redis!.server.pid) ? undefined : true), 10_000, 'redis-server to die');
    expect(accepted).to.have.length(BURST);

    redis = await start();
    const reader = createRedis(redis.server.url, 'test-reader');
    try {
      const repository = createRepository(reader, { prefix, idempotencyTtlMs: 60_000 });
      const found = await repository.getRequests(accepted);
      expect(found.map((r) => r.id).sort()).to.deep.equal([...accepted].sort());
      expect(new Set(found.map((r) => r.status))).to.deep.equal(new Set(['queued']));
      expect(await repository.countQueued()).to.equal(BURST);
    } finally {
      await closeRedis(reader);
    }
    const exited = new Promise((resolve) => webserver!.once('exit', resolve));
    webserver.kill('SIGTERM');
    await exited;
    await redis.server.stop();
    redis = undefined;
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

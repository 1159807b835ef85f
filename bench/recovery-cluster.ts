// The gateway as the recovery benchmark runs it: a private redis-server with the shipped persistence,
// every role as its own process logged in as its role's ACL user, three executor nodes onboarded over
// POST /v1/nodes; any role process can be killed with SIGKILL and started again with the same settings.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex, utf8 } from '../lib/crypto/bytes.ts';
import { sha256 } from '../lib/crypto/hash.ts';
import { deriveNodeKeys } from '../lib/crypto/keys.ts';
import { findFreePort, startEmbeddedRedis, type EmbeddedRedis } from '../lib/embedded-redis.ts';
import { loadOrCreateNodeSeed } from '../lib/node-key-file.ts';
import { withoutCredentials } from '../lib/redis.ts';
import { createNodeRegistration } from '../lib/roles/node-record.ts';
import { createRoleUsers } from '../test/support/redis-acl.ts';
import { lastLines, spawnLogged } from './bench-kit.ts';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const ROOT = join(import.meta.dirname, '..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One role process: its entrypoint and environment, so it can be started again after a kill. */
interface RoleProcess {
  readonly name: string;
  readonly entrypoint: string;
  readonly env: Record<string, string>;
  child: ChildProcess;
}

export interface Cluster {
  readonly url: string;
  readonly redis: EmbeddedRedis;
  readonly prefix: string;
  readonly nodeIds: readonly string[];
  /** The role processes running now (their sandbox processes are their children). */
  pids(): number[];
  /** Kills the named process with SIGKILL, waits until it is gone, starts it again; resolves with the kill time. */
  killAndRestart(name: string): Promise<number>;
  /** Resolves once GET /readyz answers 200. */
  waitForWebserver(): Promise<void>;
  stop(): Promise<void>;
}

/** The key prefix of the roles-as-processes gateway the benches start. */
export const CLUSTER_PREFIX = 'bench';

export async function startCluster(settings: Record<string, string>): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-recovery-'));
  const redis = await startEmbeddedRedis({ dir: join(dir, 'redis'), password: 'bench-password', appendOnly: true });
  const prefix = CLUSTER_PREFIX;
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const base = {
    GATEWAY_KEY_PREFIX: prefix, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN, GATEWAY_MASTER_KEY: toHex(sha256(utf8('bench master'))),
    GATEWAY_COUNTER_KEY: toHex(sha256(utf8('bench counter'))), GATEWAY_LOG_LEVEL: 'warn', GATEWAY_HOST: '127.0.0.1',
    GATEWAY_PORT: String(port), HEALTH_PORT: '0', REDIS_URL: withoutCredentials(redis.url), ...settings,
  };
  const users = await createRoleUsers(redis.url, prefix);
  const processes = new Map<string, RoleProcess>();
  const login = (name: string, username: string, password: string) => {
    writeFileSync(join(dir, `${name}.password`), password, { mode: 0o600 });
    return { REDIS_USERNAME: username, REDIS_PASSWORD_FILE: join(dir, `${name}.password`) };
  };
  // Each role writes its output to a file of its own, appended across restarts, as the one-process
  // gateway of the benches does: no bench process reads the lines while it measures.
  const logFileOf = (name: string) => join(dir, `${name}.log`);
  const spawnRole = (p: Omit<RoleProcess, 'child'>): RoleProcess => {
    const child = spawnLogged(join(ROOT, 'entrypoints', `${p.entrypoint}.ts`), { ...process.env, ...p.env }, logFileOf(p.name));
    const started = { ...p, child };
    processes.set(p.name, started);
    return started;
  };
  writeFileSync(join(dir, 'admin.password'), 'bench-password', { mode: 0o600 });
  const waitForWebserver = async () => {
    for (;;) {
      try {
        if ((await fetch(`${url}/readyz`)).status === 200) return;
      } catch { /* not up yet */ }
      await sleep(100);
    }
  };
  const spawnService = (role: 'webserver' | 'receiver' | 'consensus' | 'sender' | 'scheduler') => {
    const { username, password } = users.credentials(role);
    spawnRole({ name: role, entrypoint: role, env: { ...base, ...login(role, username, password), ...(role === 'webserver' ? { REDIS_ADMIN_PASSWORD_FILE: join(dir, 'admin.password') } : {}) } });
  };
  // The webserver holds its port before the other roles start: their health servers take any free
  // port (HEALTH_PORT=0), which could otherwise be the one chosen for the webserver.
  spawnService('webserver');
  await waitForWebserver();
  for (const role of ['receiver', 'consensus', 'sender', 'scheduler'] as const) spawnService(role);
  const cluster: Cluster = {
    url, redis, prefix, nodeIds: [],
    pids: () => [...processes.values()].map(({ child }) => child.pid!),
    waitForWebserver,
    async killAndRestart(name) {
      const p = processes.get(name)!;
      const exited = new Promise((resolve) => p.child.once('exit', resolve));
      p.child.kill('SIGKILL');
      await exited;
      const killedAtMs = Date.now();
      spawnRole({ name: p.name, entrypoint: p.entrypoint, env: p.env });
      return killedAtMs;
    },
    async stop() {
      await Promise.all([...processes.values()].map(({ child }) => new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        child.kill('SIGTERM');
      })));
      for (const p of processes.values()) if (p.child.exitCode !== 0) console.error(`${p.name} exited ${p.child.exitCode ?? p.child.signalCode}: ${lastLines(logFileOf(p.name), 5)}`);
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.waitForWebserver();
  // Onboarding: the admin registers each node and hands it the Redis password the answer carries.
  const nodeIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const keyFile = join(dir, `node-${i}.key`);
    const response = await fetch(`${url}/v1/nodes`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(createNodeRegistration(deriveNodeKeys(loadOrCreateNodeSeed(keyFile)), `bench-${i}`)),
    });
    const node = (await response.json()) as { id: string; redisUsername: string; redisPassword: string };
    if (response.status !== 201) throw new Error(`node onboarding answered ${response.status}`);
    nodeIds.push(node.id);
    spawnRole({ name: `executor-${i}`, entrypoint: 'executor', env: { ...base, ...login(`node-${i}`, node.redisUsername, node.redisPassword), NODE_KEY_FILE: keyFile, GATEWAY_NODE_NAME: `bench-${i}` } });
  }
  // Committees of 3 need a frozen round holding three tickets.
  for (;;) {
    const latest = (await (await fetch(`${url}/v1/rounds/latest`)).json()) as { round?: number };
    const previous = latest.round ? ((await (await fetch(`${url}/v1/rounds/${latest.round - 1}`)).json()) as { tickets?: unknown[] }) : {};
    if ((previous.tickets?.length ?? 0) === 3) break;
    await sleep(250);
  }
  return { ...cluster, nodeIds };
}

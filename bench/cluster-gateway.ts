// The gateway as bench:cluster runs it: a private Redis Cluster of `masters` (test/support/redis-cluster.ts,
// no persistence), every role as its own process logged in as its role's ACL user from the nodes'
// ACL file, three executor nodes onboarded over POST /v1/nodes (the webserver puts their users on
// every master), request state in `buckets` hash tags, and one project whose requests the load client posts.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex, utf8 } from '../lib/crypto/bytes.ts';
import { sha256 } from '../lib/crypto/hash.ts';
import { deriveNodeKeys } from '../lib/crypto/keys.ts';
import { findFreePort } from '../lib/embedded-redis.ts';
import { loadOrCreateNodeSeed } from '../lib/node-key-file.ts';
import { ACL_ROLES, createAclUser, renderAclFileLine, renderDefaultUserLine } from '../lib/redis-acl.ts';
import { generateRedisPassword } from '../lib/redis-users.ts';
import { createNodeRegistration } from '../lib/roles/node-record.ts';
import { startRedisCluster, type ClusterNode, type TestRedisCluster } from '../test/support/redis-cluster.ts';
import { lastLines, spawnLogged } from './bench-kit.ts';

const ROOT = join(import.meta.dirname, '..');
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const PREFIX = 'bench';
/** The roles' start and three ticketed rounds; generous, the machine may be busy. */
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ClusterGateway {
  /** Where the load client posts, and the project's API key. */
  readonly requestsUrl: string;
  readonly apiKey: string;
  readonly baseUrl: string;
  readonly prefix: string;
  readonly masters: readonly ClusterNode[];
  /** The cluster's `default` user (every command): the bench reads INFO and keys with it, master by master. */
  readonly adminPassword: string;
  /** The role processes (their sandbox processes are their children). */
  pids(): number[];
  /** Stops the roles (SIGTERM, then SIGKILL), then the cluster, and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

interface RoleProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Where its output goes (the last lines are a post-mortem). */
  readonly logFile: string;
}

/** Starts everything; on any failure stops what it started and rethrows with the roles' last words. */
export async function startClusterGateway(options: { masters: number; buckets: number; env?: Record<string, string> }): Promise<ClusterGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-cluster-'));
  const adminPassword = generateRedisPassword();
  const users = ACL_ROLES.map((role) => ({ user: createAclUser({ prefix: PREFIX, role }), password: generateRedisPassword() }));
  const processes: RoleProcess[] = [];
  let cluster: TestRedisCluster | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= (async () => {
    await Promise.all(processes.map(({ child }) => stopChild(child)));
    for (const { name, child, logFile } of processes) if (child.exitCode !== 0) console.error(`${name} exited ${child.exitCode ?? child.signalCode}: ${lastLines(logFile, 5)}`);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  })());
  try {
    cluster = await startRedisCluster({
      masters: options.masters,
      password: adminPassword,
      aclFileText: [renderDefaultUserLine(adminPassword), ...users.map(({ user, password }) => renderAclFileLine(user, password)), ''].join('\n'),
    });
    const port = await findFreePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const base = {
      GATEWAY_KEY_PREFIX: PREFIX, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN, GATEWAY_MASTER_KEY: toHex(sha256(utf8('bench master'))),
      GATEWAY_COUNTER_KEY: toHex(sha256(utf8('bench counter'))), GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(port), HEALTH_PORT: '0',
      REDIS_URL: cluster.seedUrl, REDIS_CLUSTER: 'true', GATEWAY_REQUEST_BUCKETS: String(options.buckets),
      // One project sends every request: its in-flight cap and the queued cap are lifted (bench:pipeline does the same).
      GATEWAY_PROJECT_MAX_IN_FLIGHT: '1000000', GATEWAY_MAX_QUEUED: '1000000', ...options.env,
    };
    const login = (name: string, username: string, password: string) => {
      writeFileSync(join(dir, `${name}.password`), password, { mode: 0o600 });
      return { REDIS_USERNAME: username, REDIS_PASSWORD_FILE: join(dir, `${name}.password`) };
    };
    const spawnRole = (name: string, entrypoint: string, env: Record<string, string>) => {
      const logFile = join(dir, `${name}.log`);
      processes.push({ name, child: spawnLogged(join(ROOT, 'entrypoints', `${entrypoint}.ts`), { ...process.env, ...base, ...env }, logFile), logFile });
    };
    writeFileSync(join(dir, 'admin.password'), adminPassword, { mode: 0o600 });
    for (const role of ['webserver', 'receiver', 'consensus', 'sender', 'scheduler'] as const) {
      const { user, password } = users.find((u) => u.user.role === role)!;
      spawnRole(role, role, { ...login(role, user.username, password), ...(role === 'webserver' ? { REDIS_ADMIN_PASSWORD_FILE: join(dir, 'admin.password') } : {}) });
    }
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const call = async (method: string, path: string, token?: string, body?: unknown) => {
      const response = await fetch(`${baseUrl}${path}`, {
        method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
    };
    await waitUntil(deadline, 'the webserver', async () => (await call('GET', '/readyz').catch(() => undefined))?.status === 200);
    // Onboarding: the admin registers each node and hands it the Redis password the answer carries.
    for (let i = 0; i < 3; i++) {
      const keyFile = join(dir, `node-${i}.key`);
      const node = await call('POST', '/v1/nodes', ADMIN_TOKEN, createNodeRegistration(deriveNodeKeys(loadOrCreateNodeSeed(keyFile)), `bench-${i}`));
      if (node.status !== 201) throw new Error(`node onboarding answered ${node.status}: ${JSON.stringify(node.body)}`);
      spawnRole(`executor-${i}`, 'executor', { ...login(`node-${i}`, node.body.redisUsername, node.body.redisPassword), NODE_KEY_FILE: keyFile, GATEWAY_NODE_NAME: `bench-${i}` });
    }
    // Committees of 3 need a frozen round holding three tickets.
    await waitUntil(deadline, 'three ticketed nodes', async () => {
      const latest = await call('GET', '/v1/rounds/latest');
      if (latest.status !== 200 || latest.body.round < 2) return false;
      return (await call('GET', `/v1/rounds/${latest.body.round - 1}`)).body?.tickets?.length === 3;
    });
    const project = await call('POST', '/v1/projects', ADMIN_TOKEN, { name: 'bench', code: 'export default (input) => ({ double: input.n * 2 })' });
    if (project.status !== 201) throw new Error(`project creation answered ${project.status}`);
    return {
      requestsUrl: `${baseUrl}/v1/projects/${project.body.id}/requests`, apiKey: project.body.apiKey, baseUrl, prefix: PREFIX,
      masters: cluster.nodes, adminPassword, pids: () => processes.map(({ child }) => child.pid!), stop,
    };
  } catch (error) {
    for (const { name, child, logFile } of processes) console.error(`--- ${name} (${child.exitCode ?? child.signalCode ?? 'running'})\n${lastLines(logFile, 20)}`);
    await stop();
    throw error;
  }
}

async function waitUntil(deadlineMs: number, what: string, isDone: () => Promise<boolean>): Promise<void> {
  while (!(await isDone().catch(() => false))) {
    if (Date.now() > deadlineMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

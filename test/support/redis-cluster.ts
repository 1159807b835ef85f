// A private Redis Cluster for a test file: one redis-server per master on free loopback ports in a
// temp dir, the 16384 slots split evenly, stopped by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort, quoteConfigValue, stopChild, waitForReady } from '../../lib/embedded-redis.ts';
import { closeRedis, createRedis } from '../../lib/redis.ts';

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
}

export interface TestRedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** One master, without credentials: the seed a cluster client starts from. */
  readonly seedUrl: string;
  /** Stops every node by pid and removes the temp dirs; idempotent. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** 3 unless told: the fewest masters Redis accepts for a cluster of its own making. */
  readonly masters?: number;
  /** Every user, the default user with `password` among them; written to each node's dir (`--aclfile`). */
  readonly aclFileText?: string;
  /** The default user's password (`requirepass` when there is no ACL file); the harness logs in with it. */
  readonly password?: string;
}

const HOST = '127.0.0.1';
const SLOTS = 16384;
/** Redis listens for the cluster bus on the client port plus this. */
const BUS_PORT_OFFSET = 10000;
/** How long a node gets to stop on SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5000;
/** Generous: the nodes start and gossip while both cores may be busy with other tests. */
const START_TIMEOUT_MS = 20_000;
const CONVERGE_TIMEOUT_MS = 60_000;
const START_ATTEMPTS = 3;

/** Starts `masters` cluster-enabled redis-servers and joins them into one cluster that answers `cluster_state:ok`. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<TestRedisCluster> {
  const masters = options.masters ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'gw-redis-cluster-'));
  const children: ChildProcess[] = [];
  const nodes: ClusterNode[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= Promise.all(children.map((child) => stopChild(child, STOP_GRACE_MS))).then(() => rmSync(root, { recursive: true, force: true }));
    return stopped;
  };
  try {
    const taken = new Set<number>();
    for (let i = 0; i < masters; i++) {
      const dir = join(root, `node-${i}`);
      mkdirSync(dir);
      if (options.aclFileText !== undefined) writeFileSync(join(dir, 'users.acl'), options.aclFileText, { mode: 0o600 });
      const { child, port } = await startNode(dir, taken, options);
      children.push(child);
      nodes.push({ host: HOST, port, pid: child.pid!, dir });
    }
    await formCluster(nodes, options.password);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, seedUrl: `redis://${HOST}:${nodes[0]!.port}`, stop };
}

/** A port another test may take between the check and redis-server's bind: then try another one. */
async function startNode(dir: string, taken: Set<number>, options: RedisClusterOptions): Promise<{ child: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await findClusterPort(taken);
    taken.add(port);
    try {
      return { child: await spawnNode(dir, port, options), port };
    } catch (error) {
      if (attempt >= START_ATTEMPTS) throw error;
    }
  }
}

/** A free port whose cluster bus port is free too. */
async function findClusterPort(taken: ReadonlySet<number>): Promise<number> {
  for (;;) {
    const port = await findFreePort();
    if (port + BUS_PORT_OFFSET <= 65535 && !taken.has(port) && (await isPortFree(port + BUS_PORT_OFFSET))) return port;
  }
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

async function spawnNode(dir: string, port: number, options: RedisClusterOptions): Promise<ChildProcess> {
  // `-` first: the password comes on stdin, not argv, so it never shows in `ps`.
  const args = [
    '-', '--port', String(port), '--bind', HOST, '--dir', dir, '--cluster-enabled', 'yes',
    '--cluster-config-file', 'nodes.conf', '--appendonly', 'no', '--save', '', '--logfile', '',
    // A lone master never meets a peer to learn its own address from: without this, CLUSTER SLOTS
    // names it with an empty host and a cluster client cannot connect.
    '--cluster-announce-ip', HOST,
    ...(options.aclFileText !== undefined ? ['--aclfile', join(dir, 'users.acl')] : []),
  ];
  const child = spawn('redis-server', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(options.aclFileText === undefined && options.password ? `requirepass ${quoteConfigValue(options.password)}\n` : '');
  await waitForReady(child, START_TIMEOUT_MS);
  return child;
}

/** Gives each node its share of the slots and a distinct config epoch, meets them, and waits for every node to agree. */
async function formCluster(nodes: readonly ClusterNode[], password: string | undefined): Promise<void> {
  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  const connections = nodes.map((node, i) => createRedis(`redis://${auth}${node.host}:${node.port}`, `test-cluster-setup-${i}`));
  try {
    await Promise.all(connections.map(async (connection, i) => {
      // Distinct epochs up front (as `redis-cli --cluster create` does) spare the gossip a collision round.
      await connection.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1));
      const first = Math.floor((i * SLOTS) / nodes.length);
      const last = Math.floor(((i + 1) * SLOTS) / nodes.length) - 1;
      await connection.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
    }));
    for (const node of nodes.slice(1)) await connections[0]!.call('CLUSTER', 'MEET', node.host, String(node.port));
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
    for (;;) {
      const infos = await Promise.all(connections.map((connection) => connection.call('CLUSTER', 'INFO') as Promise<string>));
      if (infos.every((info) => isConverged(info, nodes.length))) return;
      if (Date.now() > deadline) throw new Error(`the cluster did not converge within ${CONVERGE_TIMEOUT_MS} ms: ${infos.map((info) => info.split('\r\n').slice(0, 6).join(' ')).join(' | ')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await Promise.all(connections.map(closeRedis));
  }
}

/** `cluster_state:ok` with every master known and serving slots. */
function isConverged(info: string, masters: number): boolean {
  const fields = new Map(info.split('\r\n').map((line) => line.split(':') as [string, string]));
  return fields.get('cluster_state') === 'ok' && fields.get('cluster_known_nodes') === String(masters)
    && fields.get('cluster_size') === String(masters) && fields.get('cluster_slots_assigned') === String(SLOTS);
}


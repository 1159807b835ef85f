// End to end: `npm start` (entrypoints/all.ts) on a temp data folder: a private Redis that requires
// a password, one gateway per data folder, a busy port named, the admin token shown only once.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DATA_FORMAT, VERSION_FILE } from '../../lib/data-dir-version.ts';
import { findFreePort } from '../../lib/embedded-redis.ts';
import { createNodeRegistration } from '../../lib/roles/node-record.ts';
import { buildNodes } from '../support/builders.ts';
import { waitFor } from '../support/gateway.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const ROOT = join(import.meta.dirname, '../..');
const BANNER = 'Gateway is running: ';

interface Gateway {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** stdout and stderr as they came. */
  output(): string;
  stderr(): string;
}

describe('npm start', function () {
  this.timeout(120_000);
  allowSharedFixtures(this);
  const dirs: string[] = [];
  const started: Gateway[] = [];
  let dataDir: string;
  let first: Gateway;
  let firstUrl: string;
  let adminToken: string;
  let password: string;
  let onboardedNode: { username: string; password: string } | undefined;

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'gw-start-'));
    dirs.push(dir);
    return dir;
  }

  function startGateway(dir: string, port: number): Gateway {
    // Nothing inherited may point it at another Redis, token or key.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(GATEWAY_|REDIS_URL|NODE_KEY_FILE|HEALTH_PORT)/.test(name)));
    const env = {
      ...inherited, GATEWAY_DATA_DIR: dir, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1',
      GATEWAY_LOCAL_NODES: '1', GATEWAY_ROUND_MS: '200', GATEWAY_SANDBOX_PROCESSES: '1',
    };
    const child = spawn(process.execPath, [join(ROOT, 'entrypoints', 'all.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: string[] = [];
    const errors: string[] = [];
    child.stdout!.on('data', (d: Buffer) => chunks.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      chunks.push(d.toString());
      errors.push(d.toString());
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const gateway = { child, exited, output: () => chunks.join(''), stderr: () => errors.join('') };
    started.push(gateway);
    return gateway;
  }

  /** Resolves with the banner's URL once it is printed; fails at once when the process exits first. */
  async function waitForBanner(gateway: Gateway): Promise<string> {
    return waitFor(async () => {
      const match = new RegExp(`${BANNER}(\\S+)`).exec(gateway.output());
      if (match) return match[1];
      if (gateway.child.exitCode !== null) throw new Error(`npm start exited with ${gateway.child.exitCode}: ${gateway.output().slice(-2000)}`);
      return undefined;
    }, 60_000, 'the start banner');
  }

  before(async () => {
    dataDir = tempDir();
    first = startGateway(dataDir, await findFreePort());
    firstUrl = await waitForBanner(first);
    adminToken = readFileSync(join(dataDir, 'keys', 'admin-token'), 'utf8').trim();
    password = readFileSync(join(dataDir, 'keys', 'redis-password'), 'utf8').trim();
  });

  after(async () => {
    await Promise.all(started.map(stopGateway));
    // A gateway that had to be killed leaves its redis-server behind: stop that by pid too.
    for (const dir of dirs) {
      for (const pid of redisServersUsing(dir)) await stopPid(pid);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints the new admin token on the first start and runs a redis-server that requires the generated password', async () => {
    expect(adminToken).to.match(/^[0-9a-f]{48}$/);
    expect(password).to.match(/^[0-9a-f]{64}$/);
    expect(first.output()).to.include(`  admin token:  ${adminToken}  (new; kept in ${join(dataDir, 'keys', 'admin-token')})`);
    // The banner names where everything is: the API, its reference, the status page, the dashboard, the Redis in use.
    for (const line of [`  API:          ${firstUrl}/v1 (OpenAPI document at ${firstUrl}/openapi.json)`, `  API docs:     ${firstUrl}/docs`, `  status page:  ${firstUrl}/`, `  dashboard:    ${firstUrl}/admin/queues`]) {
      expect(first.output()).to.include(line);
    }
    expect(first.output()).to.match(/ {2}Redis: {8}redis:\/\/127\.0\.0\.1:\d+\/? — private redis-server/);
    expect(statSync(join(dataDir, 'keys', 'redis-password')).mode & 0o777).to.equal(0o600);

    const match = /private redis-server on 127\.0\.0\.1:(\d+) \(pid (\d+), password in (\S+)\)/.exec(first.output());
    expect(match, first.output()).to.not.equal(null);
    const [, redisPort, redisPid, passwordPath] = match!;
    expect(passwordPath).to.equal(join(dataDir, 'keys', 'redis-password'));
    expect(readFileSync(join(dataDir, 'redis', 'gateway-redis.pid'), 'utf8').trim()).to.equal(redisPid);
    expect(await redisExchange(Number(redisPort), 'PING\r\n', 1)).to.match(/^-NOAUTH /);
    expect(await redisExchange(Number(redisPort), `AUTH ${password}\r\nPING\r\n`, 2)).to.equal('+OK\r\n+PONG\r\n');
    // Neither on the command line of either process nor in anything the gateway printed.
    expect(readFileSync(`/proc/${redisPid}/cmdline`, 'utf8')).to.not.include(password);
    expect(readFileSync(`/proc/${first.child.pid}/cmdline`, 'utf8')).to.not.include(password);
    expect(first.output()).to.not.include(password);
    expect(await httpStatus(`${firstUrl}/readyz`)).to.equal(200);
  });

  it('logs every role and local node in as its own Redis user from an ACL file, and onboards a node with a user of its own', async () => {
    const redisPort = Number(/private redis-server on 127\.0\.0\.1:(\d+)/.exec(first.output())![1]);
    expect(readFileSync(join(dataDir, VERSION_FILE), 'utf8').trim()).to.equal(DATA_FORMAT);
    expect(statSync(join(dataDir, 'redis', 'users.acl')).mode & 0o777).to.equal(0o600);
    const usernames = readdirSync(join(dataDir, 'keys', 'redis')).sort();
    expect(usernames.filter((name) => !name.startsWith('gateway-node_'))).to.deep.equal(['gateway-consensus', 'gateway-receiver', 'gateway-scheduler', 'gateway-sender', 'gateway-webserver']);
    expect(usernames.filter((name) => name.startsWith('gateway-node_'))).to.have.length(1);
    for (const name of usernames) expect(statSync(join(dataDir, 'keys', 'redis', name)).mode & 0o777, name).to.equal(0o600);
    // The roles have been running rounds and tickets on their users: Redis refused none of their commands.
    expect(await redisExchange(redisPort, `AUTH ${password}\r\nACL LOG\r\n`, 2)).to.equal('+OK\r\n*0\r\n');
    const receiverPassword = readFileSync(join(dataDir, 'keys', 'redis', 'gateway-receiver'), 'utf8').trim();
    expect(await redisExchange(redisPort, `AUTH gateway-receiver ${receiverPassword}\r\nRPUSH gw:{ctl}:ledger x\r\n`, 2)).to.match(/^\+OK\r\n-NOPERM /);

    const [node] = buildNodes(1);
    const registered = await postJson(`${firstUrl}/v1/nodes`, adminToken, createNodeRegistration(node.keys, 'remote'));
    expect(registered.status).to.equal(201);
    expect(registered.body.redisUsername).to.equal(`gateway-${node.nodeId}`);
    expect(readFileSync(join(dataDir, 'redis', 'users.acl'), 'utf8')).to.include(`user gateway-${node.nodeId} on `);
    expect(await redisExchange(redisPort, `AUTH gateway-${node.nodeId} ${registered.body.redisPassword}\r\nPING\r\n`, 2)).to.equal('+OK\r\n+PONG\r\n');
    onboardedNode = { username: `gateway-${node.nodeId}`, password: registered.body.redisPassword };
  });

  it('refuses a data folder written by 0.1 with one line saying what to do, and changes nothing in it', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'admin-token'), 'an-old-admin-token-0123456789\n');
    mkdirSync(join(dir, 'redis'));
    const gateway = startGateway(dir, await findFreePort());
    expect(await gateway.exited).to.equal(1);
    expect(gateway.stderr()).to.equal(`gateway: ${dir} was written by gateway 0.1, whose data 0.2 cannot use (protocol v2 changed votes, rounds and the ledger, and every role now has its own Redis user). Move it aside (e.g. mv ${dir} ${dir}-0.1) or set GATEWAY_DATA_DIR to a new folder, then start again; nothing in it was changed.\n`);
    expect(readdirSync(dir).sort()).to.deep.equal(['keys', 'redis']);
    expect(readdirSync(join(dir, 'redis'))).to.deep.equal([]);
  });

  it('refuses a second start on the same data folder with one line naming the running gateway, which keeps answering', async () => {
    const redisPid = Number(readFileSync(join(dataDir, 'redis', 'gateway-redis.pid'), 'utf8'));
    const second = startGateway(dataDir, await findFreePort());
    expect(await second.exited).to.equal(1);
    expect(second.output()).to.equal(`gateway: a gateway is already running from ${dataDir} (pid ${first.child.pid}, ${firstUrl}); stop it first or set GATEWAY_DATA_DIR\n`);
    expect(isRedisServer(redisPid)).to.equal(true);
    expect(await httpStatus(`${firstUrl}/readyz`)).to.equal(200);
    expect(JSON.parse(readFileSync(join(dataDir, 'gateway.pid'), 'utf8'))).to.deep.equal({ pid: first.child.pid, url: firstUrl });
  });

  it('exits 1 naming GATEWAY_PORT when the port is in use, and stops the redis-server it started', async () => {
    const dir = tempDir();
    const blocker = createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen(0, '127.0.0.1', () => resolve());
    });
    try {
      const port = (blocker.address() as { port: number }).port;
      const gateway = startGateway(dir, port);
      expect(await gateway.exited).to.equal(1);
      expect(gateway.stderr()).to.equal(`gateway: port ${port} is in use; set GATEWAY_PORT to another port\n`);
      expect(gateway.output()).to.not.include(BANNER);
      expect(gateway.output()).to.not.include(readFileSync(join(dir, 'keys', 'redis-password'), 'utf8').trim());
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    // Redis did run (its AOF folder is there) and is gone, with its pid file and the gateway's.
    expect(existsSync(join(dir, 'redis', 'appendonlydir'))).to.equal(true);
    expect(existsSync(join(dir, 'redis', 'gateway-redis.pid'))).to.equal(false);
    expect(existsSync(join(dir, 'gateway.pid'))).to.equal(false);
    expect(redisServersUsing(dir)).to.deep.equal([]);
  });

  it('stops cleanly on SIGTERM and, started again, says where the admin token is instead of printing it', async () => {
    const redisPid = Number(readFileSync(join(dataDir, 'redis', 'gateway-redis.pid'), 'utf8'));
    first.child.kill('SIGTERM');
    expect(await first.exited).to.equal(0);
    expect(isRedisServer(redisPid)).to.equal(false);
    expect(existsSync(join(dataDir, 'gateway.pid'))).to.equal(false);
    expect(first.output()).to.not.include(password);

    const again = startGateway(dataDir, await findFreePort());
    const url = await waitForBanner(again);
    expect(again.output()).to.include(`  admin token:  in ${join(dataDir, 'keys', 'admin-token')}\n`);
    // A node onboarded through the API keeps its user and password across restarts.
    const againPort = Number(/private redis-server on 127\.0\.0\.1:(\d+)/.exec(again.output())![1]);
    expect(await redisExchange(againPort, `AUTH ${onboardedNode!.username} ${onboardedNode!.password}\r\nPING\r\n`, 2)).to.equal('+OK\r\n+PONG\r\n');
    expect(again.output()).to.not.include(adminToken);
    expect(readFileSync(join(dataDir, 'keys', 'redis-password'), 'utf8').trim()).to.equal(password);
    expect(await httpStatus(`${url}/readyz`)).to.equal(200);
    again.child.kill('SIGTERM');
    expect(await again.exited).to.equal(0);
    expect(again.output()).to.not.include(password);
    expect(redisServersUsing(dataDir)).to.deep.equal([]);
  });

  it('takes the data folder over from a killed gateway, stopping the redis-server it left behind', async () => {
    const killed = startGateway(dataDir, await findFreePort());
    await waitForBanner(killed);
    const leftoverPid = Number(readFileSync(join(dataDir, 'redis', 'gateway-redis.pid'), 'utf8'));
    killed.child.kill('SIGKILL');
    await killed.exited;
    expect(JSON.parse(readFileSync(join(dataDir, 'gateway.pid'), 'utf8')).pid).to.equal(killed.child.pid);
    expect(isRedisServer(leftoverPid)).to.equal(true);

    const next = startGateway(dataDir, await findFreePort());
    const url = await waitForBanner(next);
    expect(isRedisServer(leftoverPid)).to.equal(false);
    expect(Number(readFileSync(join(dataDir, 'redis', 'gateway-redis.pid'), 'utf8'))).to.not.equal(leftoverPid);
    expect(await httpStatus(`${url}/readyz`)).to.equal(200);
    next.child.kill('SIGTERM');
    expect(await next.exited).to.equal(0);
    expect(redisServersUsing(dataDir)).to.deep.equal([]);
  });
});

/** SIGTERM, then SIGKILL when it has not exited after 25 s (the gateway's own grace is 20 s). */
async function stopGateway(gateway: Gateway): Promise<void> {
  if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) return;
  const timer = setTimeout(() => gateway.child.kill('SIGKILL'), 25_000);
  gateway.child.kill('SIGTERM');
  await gateway.exited;
  clearTimeout(timer);
}

async function stopPid(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  await waitFor(async () => (isRedisServer(pid) ? undefined : true), 10_000, `redis-server ${pid} to exit`).catch(() => process.kill(pid, 'SIGKILL'));
}

function isRedisServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('redis-server');
  } catch {
    return false;
  }
}

/** Pids of redis-server processes holding a file under `dir` open (the AOF of its data folder). */
function redisServersUsing(dir: string): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => {
    if (!isRedisServer(pid)) return false;
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${dir}/`);
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

/** Sends raw RESP to 127.0.0.1:`port` and resolves with the text of the first `replies` lines. */
function redisExchange(port: number, request: string, replies: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => finish(new Error(`no reply from Redis: ${JSON.stringify(text)}`)), 5000);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(text);
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.split('\r\n').length > replies) finish();
    });
    socket.on('error', finish);
    socket.write(request);
  });
}

/** The status code of a GET on a fresh connection that is closed afterwards. */
function httpStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}

/** POSTs JSON with the admin token on a fresh connection that is closed afterwards. */
async function postJson(url: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

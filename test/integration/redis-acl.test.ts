// Every role on its own Redis ACL user (lib/redis-acl.ts) against a real redis-server: the whole
// pipeline publishes with each role logged in as itself, and each user is refused (NOPERM) every
// write it does not own, both on a real connection and by ACL DRYRUN.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createLogger } from '../../lib/logger.ts';
import { createMetrics } from '../../lib/metrics.ts';
import { openAdmin, openProcess, startRole, type AdminAccess, type ProcessContext } from '../../lib/process.ts';
import { closeRedis, createRedis, type RedisCredentials } from '../../lib/redis.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import { createNodeRecord, createNodeRegistration } from '../../lib/roles/node-record.ts';
import { systemClock } from '../../lib/runtime/common.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes } from '../support/builders.ts';
import { ADMIN_TOKEN, testConfig, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { createRoleUsers, type RoleUsers } from '../support/redis-acl.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import { createQueueSet, queuePrefix } from '../../lib/queues.ts';
import { ACL_ROLES, createAclUsers, type AclRole } from '../../lib/redis-acl.ts';
import { startEmbeddedRedis } from '../../lib/embedded-redis.ts';

const CODE = 'export default (input) => ({ doubled: input * 2 });';
/** A key of BullMQ queue `queue` (lib/queues.ts `queuePrefix`). */
const queueKeyOf = (prefix: string, queue: string, type: string) => `${queuePrefix(prefix, queue)}:${queue}:${type}`;

describe('Redis ACL users', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let admin: Redis;

  before(async () => {
    redis = await startTestRedis();
    admin = createRedis(redis.url, 'test-admin');
  });
  after(async () => {
    await closeRedis(admin);
    await redis.stop();
  });

  describe('the pipeline with every role on its own user', () => {
    let handles: RoleHandle[];
    let contexts: ProcessContext[];
    let closers: AdminAccess[];
    let sandbox: SandboxRunner;

    beforeEach(async () => {
      handles = [];
      contexts = [];
      closers = [];
      sandbox = createSandboxRunner();
      await admin.call('ACL', 'LOG', 'RESET');
    });
    afterEach(async () => {
      for (const handle of handles.reverse()) await handle.stop();
      for (const ctx of contexts.reverse()) await ctx.close();
      for (const closer of closers) await closer.close();
      await sandbox.close();
    });

    /** Every role started on its own context and user (executors on their node's user, or the shared executor user), the webserver with an admin connection. */
    async function startGateway(options: { sharedExecutorUser?: boolean } = {}) {
      const config = testConfig({ GATEWAY_ROUND_MS: '200', GATEWAY_SWEEP_MS: '200', GATEWAY_ASSIGN_WAIT_MS: '600' });
      const logger = createLogger('test', config.logLevel);
      const nodes = buildNodes(3);
      const users = await createRoleUsers(redis.url, config.keyPrefix, options.sharedExecutorUser ? [] : nodes.map((n) => n.nodeId));
      const metrics = createMetrics();
      const open = async (name: string, credentials: RedisCredentials, extra: { admin?: AdminAccess; gauges?: boolean } = {}) => {
        const ctx = await openProcess(name, config, redis.url, logger, { credentials, metrics, queueGauges: extra.gauges ? { kind: 'all' } : null, ...(extra.admin ? { admin: extra.admin } : {}) });
        contexts.push(ctx);
        return ctx;
      };
      const privileged = openAdmin(config, redis.url, logger);
      closers.push(privileged);
      for (const node of nodes) await privileged.repository.putNode(createNodeRecord(node.keys, node.nodeId, Date.now()));

      for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, await open(role, users.credentials(role))));
      for (const node of nodes) {
        const ctx = await open(node.nodeId, options.sharedExecutorUser ? users.credentials('executor') : users.nodeCredentials(node.nodeId));
        handles.push(await startExecutor({ ...ctx, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
      }
      const web = (await startRole('webserver', await open('webserver', users.credentials('webserver'), { admin: privileged, gauges: true }))) as RoleHandle & { url: string };
      handles.push(web);
      const call = createClient(web.url);
      const createProject = async (committee = { size: 3, quorum: 2 }) => {
        const reply = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'acl', code: CODE, committee } });
        expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
        return reply.body as { id: string; apiKey: string };
      };
      const final = (project: { apiKey: string }, id: string) => waitFor(async () => {
        const reply = await call('GET', `/v1/requests/${id}`, { token: project.apiKey });
        return reply.body.status === 'published' || reply.body.status === 'failed' ? reply.body : undefined;
      }, 30_000, 'a final state');
      const send = async (project: { id: string; apiKey: string }, input: unknown, headers: Record<string, string> = {}) => {
        const reply = await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input }, headers });
        expect(reply.status, JSON.stringify(reply.body)).to.be.oneOf([200, 202]);
        return reply.body.id as string;
      };
      return { url: web.url, call, createProject, final, send };
    }

    async function expectNoRefusals(): Promise<void> {
      const log = (await admin.call('ACL', 'LOG')) as unknown[];
      expect(log, JSON.stringify(log)).to.deep.equal([]);
    }

    it('publishes a request sent through the API, and Redis logs no refused command', async () => {
      const gateway = await startGateway();
      const project = await gateway.createProject();
      const published = await gateway.final(project, await gateway.send(project, 21));
      expect(published.status, JSON.stringify(published)).to.equal('published');
      expect(published).to.deep.include({ ok: true, result: { doubled: 42 } });
      // A job completes when its handler returns, just after the transition the reader saw: wait for the queue to say so.
      const isCompleted = (text: string) => /gateway_queue_jobs\{queue="publish",state="completed"\} 1/.test(text) && /gateway_queue_jobs\{queue="exec\.node_[0-9a-f]{20}",state="completed"\} 1/.test(text);
      await waitFor(async () => (isCompleted(await (await fetch(`${gateway.url}/metrics`)).text()) ? true : undefined), 15_000, 'the jobs completed').catch(() => undefined);
      const metricsText = await (await fetch(`${gateway.url}/metrics`)).text();
      expect(metricsText).to.match(/gateway_queue_jobs\{queue="publish",state="completed"\} 1/);
      expect(metricsText).to.match(/gateway_queue_jobs\{queue="exec\.node_[0-9a-f]{20}",state="completed"\} 1/);
      await expectNoRefusals();
    });

    it('publishes with executors on the shared executor user', async () => {
      const gateway = await startGateway({ sharedExecutorUser: true });
      const project = await gateway.createProject();
      expect((await gateway.final(project, await gateway.send(project, 4))).status).to.equal('published');
      await expectNoRefusals();
    });

    it('serves the rest of the API, fires schedules and fails requests as each role\'s user', async () => {
      const { call, createProject, final, send } = await startGateway();
      const project = await createProject();
      const token = project.apiKey;
      expect((await call('PUT', `/v1/projects/${project.id}/secrets`, { token, body: { API_TOKEN: 'a-secret-value' } })).status).to.be.oneOf([200, 204]);
      const first = await send(project, 1, { 'idempotency-key': 'once' });
      expect(await send(project, 1, { 'idempotency-key': 'once' })).to.equal(first);
      expect((await final(project, first)).status).to.equal('published');
      expect((await call('PUT', `/v1/projects/${project.id}/code`, { token, body: { code: 'export default (input) => input + 1;' } })).status).to.be.oneOf([200, 201]);
      expect((await call('DELETE', `/v1/projects/${project.id}/versions/1`, { token })).status).to.equal(204);
      expect((await call('PUT', `/v1/projects/${project.id}/chain`, { token: ADMIN_TOKEN, body: { chainProjectId: 7 } })).status).to.be.oneOf([200, 204]);

      const schedule = await call('POST', `/v1/projects/${project.id}/schedules`, { token, body: { cron: '* * * * * *', input: 41 } });
      expect(schedule.status, JSON.stringify(schedule.body)).to.equal(201);
      const fired = await waitFor(async () => {
        const list = await call('GET', `/v1/projects/${project.id}/requests`, { token });
        return (list.body.items as { source: string; status: string; id: string }[]).find((r) => r.source === 'schedule' && r.status === 'published');
      }, 20_000, 'a published scheduled request');
      expect((await call('GET', `/v1/requests/${fired.id}?wait=1000`, { token })).body.result).to.equal(42);
      expect((await call('DELETE', `/v1/schedules/${schedule.body.id}`, { token })).status).to.equal(204);

      // Too few nodes for a committee of 5: the receiver fails it with no_nodes.
      const big = await createProject({ size: 5, quorum: 3 });
      expect((await final(big, await send(big, 1))).failure.code).to.equal('no_nodes');

      for (const path of ['/v1/status', '/v1/nodes', '/v1/rounds/latest', '/v1/ledger', '/v1/ledger/verify']) {
        expect((await call('GET', path)).status, path).to.equal(200);
      }
      expect((await call('GET', '/v1/ledger/verify?full=true', { token: ADMIN_TOKEN })).body.ok).to.equal(true);
      const receipt = await waitFor(async () => {
        const reply = await call('GET', `/v1/requests/${first}/receipt`, { token });
        return reply.status === 200 ? reply : undefined;
      }, 10_000, 'an anchored receipt');
      expect(receipt.status).to.equal(200);
      const board = await call('GET', '/admin/queues/api/queues', { token: ADMIN_TOKEN });
      expect(board.status, JSON.stringify(board.body).slice(0, 300)).to.equal(200);
      await expectNoRefusals();
    });
  });

  describe('each role is refused the writes it does not own', () => {
    const [a, b] = buildNodes(2);
    const prefix = testConfig().keyPrefix;
    const keys = createKeys(prefix);
    const queueKey = (queue: string, type: string) => queueKeyOf(prefix, queue, type);
    let users: RoleUsers;
    const connections: Redis[] = [];

    before(async () => {
      users = await createRoleUsers(redis.url, prefix, [a.nodeId, b.nodeId]);
    });
    afterEach(async () => {
      for (const connection of connections.splice(0)) await closeRedis(connection);
    });

    type Command = [string, ...string[]];
    const connect = (credentials: RedisCredentials) => {
      const connection = createRedis(redis.url, 'test-role', credentials);
      connections.push(connection);
      return connection;
    };
    const dryRun = async (username: string, command: Command) => String(await admin.call('ACL', 'DRYRUN', username, ...command));

    /** Each write is refused by ACL DRYRUN and, sent on a connection as the user, with NOPERM; each allowed one passes DRYRUN. */
    async function expectRefused(role: Exclude<AclRole, 'executor'> | 'executor', refused: Record<string, Command>, allowed: Record<string, Command>) {
      const credentials = role === 'executor' ? users.nodeCredentials(a.nodeId) : users.credentials(role);
      const connection = connect(credentials);
      for (const [what, command] of Object.entries(refused)) {
        expect(await dryRun(credentials.username, command), `${role}: ${what}`).to.match(/^This user has no permissions to (access|run)/);
        const error = await connection.call(...command).then(() => null, (e: Error) => e);
        expect(error?.message, `${role}: ${what}`).to.match(/^NOPERM /);
      }
      for (const [what, command] of Object.entries(allowed)) expect(await dryRun(credentials.username, command), `${role}: ${what}`).to.equal('OK');
    }

    const sharedRefusals = (): Record<string, Command> => ({
      'flush everything': ['FLUSHALL'],
      'list every key': ['KEYS', '*'],
      'change the configuration': ['CONFIG', 'SET', 'appendonly', 'no'],
      'create a user': ['ACL', 'SETUSER', 'intruder', 'on', '>intruder-password', '~*', '+@all'],
      'flush the script cache': ['SCRIPT', 'FLUSH'],
      'load a function': ['FUNCTION', 'FLUSH'],
    });

    it('refuses an executor node its writes outside its own queues', async () => {
      await expectRefused('executor', {
        ...sharedRefusals(),
        "write another node's vote queue": ['HSET', queueKey(`votes.${b.nodeId}`, 'vote.x'), 'data', '{}'],
        "write another node's ticket queue": ['LPUSH', queueKey(`tickets.${b.nodeId}`, 'wait'), '1'],
        "take another node's run jobs": ['LMOVE', queueKey(`exec.${b.nodeId}`, 'wait'), queueKey(`exec.${b.nodeId}`, 'active'), 'RIGHT', 'LEFT'],
        "take another node's ticket requests": ['LMOVE', queueKey(`exec.${b.nodeId}.tickets`, 'wait'), queueKey(`exec.${b.nodeId}.tickets`, 'active'), 'RIGHT', 'LEFT'],
        'add a publish job': ['LPUSH', queueKey('publish', 'wait'), 'publish.x'],
        'mint an API key': ['SET', keys.apiKey('f'.repeat(64)), 'prj_x'],
        'change the node registry': ['HSET', keys.nodes, b.nodeId, '{}'],
        'write a round': ['HSET', keys.round(7), 'seed', '00'],
        "add to a round's ticket set": ['HSET', keys.roundTickets(7), a.nodeId, '{}'],
        'append to the ledger': ['RPUSH', keys.ledger, '{}'],
        'move a deadline': ['ZADD', keys.due(3), '0', 'deadline.req_x'],
        'mark a request agreed': ['HSET', keys.request('req_x'), 'status', 'agreed'],
        'swap stored code': ['SET', keys.code('bafkx'), 'export default () => 1'],
        'announce a final request': ['PUBLISH', keys.finalChannel, 'req_x'],
      }, {
        'write its own vote queue': ['HSET', queueKey(`votes.${a.nodeId}`, 'vote.x'), 'data', '{}'],
        'take its own run jobs': ['LMOVE', queueKey(`exec.${a.nodeId}`, 'wait'), queueKey(`exec.${a.nodeId}`, 'active'), 'RIGHT', 'LEFT'],
        'take its own ticket requests': ['LMOVE', queueKey(`exec.${a.nodeId}.tickets`, 'wait'), queueKey(`exec.${a.nodeId}.tickets`, 'active'), 'RIGHT', 'LEFT'],
        'read a request': ['HGETALL', keys.request('req_x')],
        "read a project's sealed secrets": ['HGETALL', keys.projectSecrets('prj_x')],
      });
    });

    it('refuses an executor node BullMQ jobs in queues it does not own, and a script reaching past its keys', async () => {
      const connection = connect(users.nodeCredentials(a.nodeId));
      const queues = createQueueSet(connection, prefix);
      try {
        const vote = { kind: 'ticket' as const, nodeId: a.nodeId, round: 1, beta: '00', proof: '00' };
        await queues.add('tickets', 'own.1', vote, { nodeId: a.nodeId });
        expect(await queues.getJobState('tickets', 'own.1', a.nodeId)).to.equal('waiting');
        const squat = await queues.add('tickets', 'squat.1', { ...vote, nodeId: b.nodeId }, { nodeId: b.nodeId }).then(() => null, (e: Error) => e);
        expect(squat?.message).to.match(/^NOPERM /);
        const publish = await queues.add('publish', 'publish.req_x', { kind: 'publish', requestId: 'req_x' }).then(() => null, (e: Error) => e);
        expect(publish?.message).to.match(/^NOPERM /);
      } finally {
        await queues.close();
      }
      // A key the script was not given is checked too; the write before the refused one stays applied.
      const script = "redis.call('HSET', ARGV[1], 'data', '{}'); return redis.call('RPUSH', ARGV[2], '{}')";
      const error = await connection.eval(script, 0, queueKey(`votes.${a.nodeId}`, 'probe'), keys.ledger).then(() => null, (e: Error) => e);
      expect(error?.message).to.match(/can't access at least one of the keys/);
      expect(await admin.exists(queueKey(`votes.${a.nodeId}`, 'probe'))).to.equal(1);
      expect(await admin.exists(keys.ledger)).to.equal(0);
    });

    it('refuses the webserver the ledger, rounds, deadlines and node queues', async () => {
      await expectRefused('webserver', {
        ...sharedRefusals(),
        'append to the ledger': ['RPUSH', keys.ledger, '{}'],
        'move the ledger head': ['SET', keys.ledgerHead, '1 00'],
        'write a round': ['HSET', keys.round(1), 'seed', '00'],
        'start a round': ['SET', keys.roundLatest, '9'],
        'move a deadline': ['ZADD', keys.due(3), '0', 'deadline.req_x'],
        "write a node's vote queue": ['HSET', queueKey(`votes.${a.nodeId}`, 'vote.x'), 'data', '{}'],
        'add a publish job': ['LPUSH', queueKey('publish', 'wait'), 'publish.x'],
        'take a lease': ['SET', keys.lease('scheduler'), 'me'],
      }, {
        'store an API key': ['SET', keys.apiKey('f'.repeat(64)), 'prj_x'],
        'register a node': ['HSET', keys.nodes, a.nodeId, '{}'],
        'add an incoming job': ['LPUSH', queueKey('incoming', 'wait'), 'req_x'],
        'list queue workers (dashboard)': ['CLIENT', 'LIST'],
      });
    });

    it('refuses consensus the ledger, API keys, the node registry and rounds', async () => {
      await expectRefused('consensus', {
        ...sharedRefusals(),
        'append to the ledger': ['RPUSH', keys.ledger, '{}'],
        'mint an API key': ['SET', keys.apiKey('f'.repeat(64)), 'prj_x'],
        'change the node registry': ['HSET', keys.nodes, a.nodeId, '{}'],
        'write a round': ['HSET', keys.round(1), 'seed', '00'],
        'add a run job': ['LPUSH', queueKey(`exec.${a.nodeId}`, 'wait'), 'req_x'],
      }, {
        'move a deadline': ['ZADD', keys.due(3), '0', 'deadline.req_x'],
        "take a node's votes": ['LMOVE', queueKey(`votes.${a.nodeId}`, 'wait'), queueKey(`votes.${a.nodeId}`, 'active'), 'RIGHT', 'LEFT'],
        'add a publish job': ['LPUSH', queueKey('publish', 'wait'), 'publish.x'],
      });
    });

    it('refuses the sender rounds, the node registry, API keys and deadlines', async () => {
      await expectRefused('sender', {
        ...sharedRefusals(),
        'write a round': ['HSET', keys.round(1), 'seed', '00'],
        'change the node registry': ['HSET', keys.nodes, a.nodeId, '{}'],
        'mint an API key': ['SET', keys.apiKey('f'.repeat(64)), 'prj_x'],
        'move a deadline': ['ZADD', keys.due(3), '0', 'deadline.req_x'],
        "write a node's vote queue": ['HSET', queueKey(`votes.${a.nodeId}`, 'vote.x'), 'data', '{}'],
        "take the scheduler's lease": ['SET', keys.lease('scheduler'), 'me'],
      }, {
        'append to the ledger': ['RPUSH', keys.ledger, '{}'],
        'take the chain lease': ['SET', keys.lease('chain-publisher'), 'me'],
      });
    });

    it('refuses the receiver the ledger, rounds, the node registry and vote queues', async () => {
      await expectRefused('receiver', {
        ...sharedRefusals(),
        'append to the ledger': ['RPUSH', keys.ledger, '{}'],
        'write a round': ['HSET', keys.round(1), 'seed', '00'],
        'change the node registry': ['HSET', keys.nodes, a.nodeId, '{}'],
        'mint an API key': ['SET', keys.apiKey('f'.repeat(64)), 'prj_x'],
        "write a node's vote queue": ['HSET', queueKey(`votes.${a.nodeId}`, 'vote.x'), 'data', '{}'],
        'add a publish job': ['LPUSH', queueKey('publish', 'wait'), 'publish.x'],
      }, {
        'add a run job': ['LPUSH', queueKey(`exec.${a.nodeId}`, 'wait'), 'req_x'],
        "set a request's deadline": ['ZADD', keys.due(3), '0', 'deadline.req_x'],
      });
    });

    it('refuses the scheduler API keys, node records, code and run jobs', async () => {
      await expectRefused('scheduler', {
        ...sharedRefusals(),
        'mint an API key': ['SET', keys.apiKey('f'.repeat(64)), 'prj_x'],
        'change a node record': ['HSET', keys.nodes, a.nodeId, '{}'],
        'swap stored code': ['SET', keys.code('bafkx'), 'export default () => 1'],
        'add a run job': ['LPUSH', queueKey(`exec.${a.nodeId}`, 'wait'), 'req_x'],
        "write a node's vote queue": ['HSET', queueKey(`votes.${a.nodeId}`, 'vote.x'), 'data', '{}'],
      }, {
        'write a round': ['HSET', keys.round(1), 'seed', '00'],
        "record a node's last ticket": ['HSET', keys.nodeLastTicket, a.nodeId, '1'],
        'ask a node for its ticket': ['LPUSH', queueKey(`exec.${a.nodeId}.tickets`, 'wait'), 'ticket.1'],
        'requeue a stranded request': ['LPUSH', queueKey('incoming', 'wait'), 'req_x'],
        // Retention: the exported front of the ledger, tombstones of removed requests.
        'remove the ledger front': ['LTRIM', keys.ledger, '0', '-1'],
        'leave a tombstone': ['HSET', keys.gone(3, 1), 'req_x', 'prj_x 0'],
      });
    });
  });
  describe('node onboarding and `gateway redis-acl`', () => {
    const contexts: ProcessContext[] = [];
    const handles: RoleHandle[] = [];
    const dirs: string[] = [];
    afterEach(async () => {
      for (const handle of handles.splice(0).reverse()) await handle.stop();
      for (const ctx of contexts.splice(0)) await ctx.close();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    it('creates a registered node\'s own Redis user, shows its password once, and deletes it with the node', async () => {
      const config = testConfig();
      const logger = createLogger('test', config.logLevel);
      const users = await createRoleUsers(redis.url, config.keyPrefix);
      const ctx = await openProcess('webserver', config, redis.url, logger, { credentials: users.credentials('webserver'), admin: openAdmin(config, redis.url, logger) });
      contexts.push(ctx);
      const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
      handles.push(web);
      const call = createClient(web.url);
      const [node, other] = buildNodes(2);

      const created = await call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body: createNodeRegistration(node.keys, 'onboarded') });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      expect(created.body.redisUsername).to.equal(`gateway-${node.nodeId}`);
      expect(created.body.redisPassword).to.match(/^[0-9a-f]{64}$/);
      const again = await call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body: createNodeRegistration(node.keys, 'onboarded') });
      expect(again.status).to.equal(200);
      expect(again.body).to.not.have.property('redisPassword');

      const keys = createKeys(config.keyPrefix);
      const nodeConnection = createRedis(redis.url, 'test-node', { username: created.body.redisUsername, password: created.body.redisPassword });
      nodeConnection.on('error', () => undefined);
      try {
        expect(await nodeConnection.hset(queueKeyOf(config.keyPrefix, `votes.${node.nodeId}`, 'probe'), 'data', '{}')).to.equal(1);
        const squat = await nodeConnection.hset(queueKeyOf(config.keyPrefix, `votes.${other.nodeId}`, 'probe'), 'data', '{}').then(() => null, (e: Error) => e);
        expect(squat?.message).to.match(/^NOPERM /);
        expect(await nodeConnection.hget(keys.nodes, node.nodeId)).to.be.a('string');

        expect((await call('DELETE', `/v1/nodes/${node.nodeId}`, { token: ADMIN_TOKEN })).status).to.equal(204);
        expect(await admin.call('ACL', 'GETUSER', created.body.redisUsername)).to.equal(null);
        // Its connection was closed with the user.
        await waitFor(async () => (nodeConnection.status === 'ready' ? undefined : true), 5000, 'the node connection to drop');
      } finally {
        nodeConnection.disconnect();
      }
      const readmitted = await call('POST', `/v1/nodes/${node.nodeId}/readmit`, { token: ADMIN_TOKEN });
      expect(readmitted.status, JSON.stringify(readmitted.body)).to.equal(200);
      expect(readmitted.body.redisPassword).to.match(/^[0-9a-f]{64}$/).and.not.equal(created.body.redisPassword);
      expect(String(await admin.call('ACL', 'DRYRUN', readmitted.body.redisUsername, 'HSET', queueKeyOf(config.keyPrefix, `votes.${node.nodeId}`, 'probe'), 'data', '{}'))).to.equal('OK');
    });

    it('prints every role\'s rules, and applies them with --apply, writing each password to a file', async () => {
      const prefix = testConfig().keyPrefix;
      const printed = await runCli(['redis-acl', '--prefix', prefix, '--node', 'node_0123456789abcdef0123', '--json']);
      expect(printed.code, printed.stderr).to.equal(0);
      expect(JSON.parse(printed.stdout)).to.deep.equal(createAclUsers({ prefix, nodeIds: ['node_0123456789abcdef0123'] }).map((u) => ({ role: u.role, ...(u.nodeId ? { nodeId: u.nodeId } : {}), username: u.username, rules: u.rules })));

      const dir = mkdtempSync(join(tmpdir(), 'gw-acl-'));
      dirs.push(dir);
      const url = new URL(redis.url);
      writeFileSync(join(dir, 'admin-password'), decodeURIComponent(url.password), { mode: 0o600 });
      url.password = '';
      const applied = await runCli(['redis-acl', '--apply', '--url', url.toString(), '--password-file', join(dir, 'admin-password'), '--prefix', prefix, '--username-prefix', 'clitest-', '--role', 'receiver', '--role', 'sender', '--out', join(dir, 'out')]);
      expect(applied.code, applied.stderr).to.equal(0);
      expect(applied.stdout).to.not.match(/[0-9a-f]{64}/);
      const passwordFile = join(dir, 'out', 'clitest-receiver');
      expect(statSync(passwordFile).mode & 0o777).to.equal(0o600);
      const receiver = createRedis(redis.url, 'test-cli-user', { username: 'clitest-receiver', password: readFileSync(passwordFile, 'utf8').trim() });
      try {
        expect(await receiver.zadd(createKeys(prefix).due(0), 0, 'deadline.req_x')).to.equal(1);
        expect((await receiver.rpush(createKeys(prefix).ledger, '{}').then(() => null, (e: Error) => e))?.message).to.match(/^NOPERM /);
      } finally {
        await closeRedis(receiver);
      }
      expect(await admin.call('ACL', 'GETUSER', 'clitest-webserver')).to.equal(null);
    });

    it('writes an ACL file from a folder of passwords that a redis-server starts with (the chart\'s Redis)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gw-aclfile-'));
      dirs.push(dir);
      const passwords = join(dir, 'passwords');
      mkdirSync(passwords);
      for (const name of ['default', ...ACL_ROLES.map((role) => `gateway-${role}`)]) writeFileSync(join(passwords, name), `${name}-password-0123456789\n`);
      const written = await runCli(['redis-acl', '--acl-file', join(dir, 'users.acl'), '--password-dir', passwords, '--prefix', 'gw']);
      expect(written.code, written.stderr).to.equal(0);
      expect(statSync(join(dir, 'users.acl')).mode & 0o777).to.equal(0o600);
      const server = await startEmbeddedRedis({ dir, aclFile: join(dir, 'users.acl'), password: 'default-password-0123456789' });
      const executor = createRedis(server.url, 'test-chart-executor', { username: 'gateway-executor', password: 'gateway-executor-password-0123456789' });
      try {
        expect(await executor.hset(queueKeyOf('gw', 'votes.node_0123456789abcdef0123', 'probe'), 'data', '{}')).to.equal(1);
        expect((await executor.set('gw:{ctl}:apikey:x', 'prj').then(() => null, (e: Error) => e))?.message).to.match(/^NOPERM /);
      } finally {
        await closeRedis(executor);
        await server.stop();
      }
    });
  });
});

/** Runs `gateway …` (cli/main.ts) as a child process on the pinned Node. */
function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cli/main.ts', ...args], { cwd: join(import.meta.dirname, '../..'), env: { ...process.env, REDIS_URL: '', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

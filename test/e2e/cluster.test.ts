// End to end on a real Redis Cluster: three redis-server masters in cluster mode on loopback, the
// roles as separate processes, each logged in as its role's ACL user (executors as the users node
// onboarding puts on every master), request state in 12 buckets. Queues and request state land on
// every master, every request is published once, and no role sent a command its user may not.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { deriveNodeKeys } from '../../lib/crypto/keys.ts';
import { findFreePort } from '../../lib/embedded-redis.ts';
import { loadOrCreateNodeSeed } from '../../lib/node-key-file.ts';
import { ACL_ROLES, createAclUser, renderAclFileLine, renderDefaultUserLine } from '../../lib/redis-acl.ts';
import { closeRedis, createRedis } from '../../lib/redis.ts';
import { generateRedisPassword } from '../../lib/redis-users.ts';
import { createNodeRegistration } from '../../lib/roles/node-record.ts';
import { ADMIN_TOKEN, testEnv } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.ts';
import { createRoleProcesses, waitForTicketedNodes, waitForWebserver } from '../support/role-processes.ts';
const REQUESTS = 60;
const BUCKETS = 12;

describe('gateway on a three-master Redis Cluster', function () {
  this.timeout(180_000);
  let cluster: TestRedisCluster;
  let dir: string;
  const processes = createRoleProcesses();
  const adminPassword = randomBytes(16).toString('hex');

  const base = testEnv({ GATEWAY_ROUND_MS: '250', GATEWAY_LOG_LEVEL: 'warn', GATEWAY_REQUEST_DEADLINE_MS: '30000', GATEWAY_REQUEST_BUCKETS: String(BUCKETS), REDIS_CLUSTER: 'true' });
  const prefix = base.GATEWAY_KEY_PREFIX;
  const users = ACL_ROLES.map((role) => ({ user: createAclUser({ prefix, role }), password: generateRedisPassword() }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-e2e-cluster-'));
    cluster = await startRedisCluster({
      password: adminPassword,
      aclFileText: [renderDefaultUserLine(adminPassword), ...users.map(({ user, password }) => renderAclFileLine(user, password)), ''].join('\n'),
    });
  });

  afterEach(function () {
    // What each process said, when the test failed: the one place a role's error shows.
    if (this.currentTest?.state === 'failed') process.stderr.write(`${processes.describe()}\n`);
  });

  after(async () => {
    await processes.stopAll();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`publishes ${REQUESTS} requests with queues and request state spread over the masters, every role as its own ACL user`, async () => {
    const port = await findFreePort();
    const env = { ...base, REDIS_URL: cluster.seedUrl, GATEWAY_PORT: String(port), HEALTH_PORT: '0' };
    const login = (name: string, username: string, password: string) => {
      writeFileSync(join(dir, `${name}.password`), password, { mode: 0o600 });
      return { REDIS_USERNAME: username, REDIS_PASSWORD_FILE: join(dir, `${name}.password`) };
    };
    writeFileSync(join(dir, 'admin.password'), adminPassword, { mode: 0o600 });
    for (const role of ['webserver', 'receiver', 'consensus', 'sender', 'scheduler'] as const) {
      const { user, password } = users.find((u) => u.user.role === role)!;
      processes.start(role, role, { ...env, ...login(role, user.username, password), ...(role === 'webserver' ? { REDIS_ADMIN_PASSWORD_FILE: join(dir, 'admin.password') } : {}) });
    }
    const call = createClient(`http://127.0.0.1:${port}`);
    await waitForWebserver(call, 60_000);
    // Onboarding puts each node's user on every master (Redis Cluster does not share users).
    for (let i = 0; i < 3; i++) {
      const keyFile = join(dir, `node-${i}.key`);
      const registered = await call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body: createNodeRegistration(deriveNodeKeys(loadOrCreateNodeSeed(keyFile)), `cluster-${i}`) });
      expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
      processes.start(`executor-${i}`, 'executor', { ...env, ...login(`node-${i}`, registered.body.redisUsername, registered.body.redisPassword), NODE_KEY_FILE: keyFile, GATEWAY_NODE_NAME: `cluster-${i}` });
    }
    await waitForTicketedNodes(call, 3, 60_000);

    const created = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'cluster', code: 'export default async (input) => ({ square: input.n * input.n })' } });
    expect(created.status).to.equal(201);
    const { id: projectId, apiKey } = created.body;
    const sent = await Promise.all(Array.from({ length: REQUESTS }, (_, n) => call('POST', `/v1/projects/${projectId}/requests`, { token: apiKey, body: { input: { n } } })));
    expect(sent.map((r) => r.status)).to.deep.equal(Array(REQUESTS).fill(202));
    const finished = await Promise.all(sent.map((r) => call('GET', `/v1/requests/${r.body.id}?wait=30000`, { token: apiKey })));
    for (const [n, reply] of finished.entries()) {
      expect(reply.body.status, `${JSON.stringify(reply.body).slice(0, 500)} ${processes.describe()}`).to.equal('published');
      expect(reply.body.result).to.deep.equal({ square: n * n });
      expect(reply.body.committee).to.have.length(3);
    }
    const seqs = finished.map((r) => r.body.ledger.seq as number).sort((a, b) => a - b);
    expect(seqs).to.deep.equal(Array.from({ length: REQUESTS }, (_, i) => i + 1));
    expect((await call('GET', '/v1/ledger/verify')).body).to.deep.include({ ok: true, length: REQUESTS });
    const listed = await call('GET', `/v1/projects/${projectId}/requests?limit=100`, { token: apiKey });
    expect(listed.body.items).to.have.length(REQUESTS);

    // Where the keys are: every master holds request state (the 12 bucket tags fall 3, 6 and 3 on the
    // three slot ranges) and queue keys spread (each queue's tag has a slot of its own); no refusal anywhere.
    const mastersWithQueues: number[] = [];
    for (const node of cluster.nodes) {
      const direct = createRedis(`redis://default:${adminPassword}@${node.host}:${node.port}`, 'cluster-e2e-inspect');
      try {
        const requestKeys = await direct.keys(`${prefix}:{r*}:req:*`);
        const queueKeys = await direct.keys(`${prefix}:{*}:*:meta`);
        expect(requestKeys.length, `request keys on ${node.port}`).to.be.greaterThan(0);
        if (queueKeys.length > 0) mastersWithQueues.push(node.port);
        expect(await direct.call('ACL', 'LOG'), `ACL LOG of ${node.port}`).to.deep.equal([]);
      } finally {
        await closeRedis(direct);
      }
    }
    expect(mastersWithQueues.length, 'masters holding queues').to.be.at.least(2);

    await processes.expectCleanStop();
  });
});

// End to end: the six role entrypoints as separate processes plus two more executors, over HTTP, each
// process logged in to Redis as its role's ACL user; the executors' users come from node onboarding.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fromHex } from '../../lib/crypto/bytes.ts';
import { verifySignature } from '../../lib/crypto/keys.ts';
import { computeVoteBinding, encodeVoteMessage } from '../../lib/protocol/vote.ts';
import { deriveNodeKeys } from '../../lib/crypto/keys.ts';
import { findFreePort } from '../../lib/embedded-redis.ts';
import { loadOrCreateNodeSeed } from '../../lib/node-key-file.ts';
import { closeRedis, createRedis, withoutCredentials } from '../../lib/redis.ts';
import { createNodeRegistration } from '../../lib/roles/node-record.ts';
import { ADMIN_TOKEN, testEnv } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { createRoleUsers } from '../support/redis-acl.ts';
import { createRoleProcesses, waitForTicketedNodes, waitForWebserver } from '../support/role-processes.ts';

describe('gateway as separate processes', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let dir: string;
  const processes = createRoleProcesses();

  before(async () => {
    redis = await startTestRedis();
    dir = mkdtempSync(join(tmpdir(), 'gw-e2e-'));
  });

  after(async () => {
    await processes.stopAll();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('agrees on 50 requests with committees of 3, signed votes and a verifiable ledger, and stops cleanly', async () => {
    const port = await findFreePort();
    const base = testEnv({ GATEWAY_ROUND_MS: '250', GATEWAY_LOG_LEVEL: 'warn', GATEWAY_REQUEST_DEADLINE_MS: '20000' });
    // No password in any URL: each process logs in with REDIS_USERNAME and a password file.
    const env = { ...base, REDIS_URL: withoutCredentials(redis.url), GATEWAY_PORT: String(port), HEALTH_PORT: '0' };
    const users = await createRoleUsers(redis.url, base.GATEWAY_KEY_PREFIX);
    const login = (name: string, username: string, password: string) => {
      writeFileSync(join(dir, `${name}.password`), password, { mode: 0o600 });
      return { REDIS_USERNAME: username, REDIS_PASSWORD_FILE: join(dir, `${name}.password`) };
    };
    // The webserver may create node users (the operator's default user, as under npm start).
    writeFileSync(join(dir, 'admin.password'), decodeURIComponent(new URL(redis.url).password), { mode: 0o600 });
    for (const role of ['webserver', 'receiver', 'consensus', 'sender', 'scheduler'] as const) {
      const { username, password } = users.credentials(role);
      processes.start(role, role, { ...env, ...login(role, username, password), ...(role === 'webserver' ? { REDIS_ADMIN_PASSWORD_FILE: join(dir, 'admin.password') } : {}) });
    }
    const call = createClient(`http://127.0.0.1:${port}`);
    await waitForWebserver(call, 30_000);
    // Onboarding: each node's registration (what `gateway node init` prints) registered by the admin,
    // who passes the Redis password it returns to the node.
    for (let i = 0; i < 3; i++) {
      const keyFile = join(dir, `node-${i}.key`);
      const registered = await call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body: createNodeRegistration(deriveNodeKeys(loadOrCreateNodeSeed(keyFile)), `e2e-${i}`) });
      expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
      processes.start(`executor-${i}`, 'executor', { ...env, ...login(`node-${i}`, registered.body.redisUsername, registered.body.redisPassword), NODE_KEY_FILE: keyFile, GATEWAY_NODE_NAME: `e2e-${i}` });
    }
    // Committees of 3 need three tickets in a frozen round.
    await waitForTicketedNodes(call, 3, 30_000);

    const created = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'e2e', code: 'export default async (input, ctx) => ({ square: input.n * input.n, round: ctx.round })' } });
    expect(created.status).to.equal(201);
    const { id: projectId, apiKey } = created.body;
    const sent = await Promise.all(Array.from({ length: 50 }, (_, n) => call('POST', `/v1/projects/${projectId}/requests`, { token: apiKey, body: { input: { n } } })));
    expect(sent.map((r) => r.status)).to.deep.equal(Array(50).fill(202));

    const nodes = (await call('GET', '/v1/nodes')).body.items as { id: string; signPublicKey: string }[];
    expect(nodes).to.have.length(3);
    const keyOf = new Map(nodes.map((n) => [n.id, fromHex(n.signPublicKey)]));
    const finished = await Promise.all(sent.map((r) => call('GET', `/v1/requests/${r.body.id}?wait=30000`, { token: apiKey })));
    for (const [n, reply] of finished.entries()) {
      const request = reply.body;
      expect(request.status, JSON.stringify(request.failure)).to.equal('published');
      expect(request.result).to.deep.equal({ square: n * n, round: request.round });
      expect(request.committee).to.have.length(3);
      expect(request.ledger.seq).to.be.a('number');
      const matching = request.votes.filter((v: { ok: boolean; resultHash: string }) => v.ok && v.resultHash === request.resultHash);
      expect(matching.length).to.be.at.least(2);
      for (const vote of matching) {
        const binding = computeVoteBinding(request, { committee: request.committee, quorum: request.quorum, aggregation: 'exact' });
        const message = encodeVoteMessage({ ...binding, requestId: request.id, round: request.round, ok: true, resultHash: fromHex(vote.resultHash) });
        expect(verifySignature(keyOf.get(vote.nodeId)!, message, fromHex(vote.signature))).to.equal(true);
        expect(request.committee).to.include(vote.nodeId);
      }
    }
    const verify = await call('GET', '/v1/ledger/verify');
    expect(verify.body).to.deep.include({ ok: true, length: 50 });
    // No role sent a command its user may not: Redis logged no refusal.
    const admin = createRedis(redis.url, 'test-admin');
    try {
      expect(await admin.call('ACL', 'LOG')).to.deep.equal([]);
    } finally {
      await closeRedis(admin);
    }

    await processes.expectCleanStop();
  });
});

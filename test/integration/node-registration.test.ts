// Signed node registration on a real redis-server and the real Koa app: POST /v1/nodes takes only a
// registration that verifies, a removed node is a tombstone that only the admin re-admits, and a
// node record a store writer changed (another VRF key, a re-signed record under the id) is unknown
// to the scheduler's tickets, the vote checks, the committees and the publication check.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fromHex, toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { deriveNodeKeys } from '../../lib/crypto/keys.ts';
import { createLogger } from '../../lib/logger.ts';
import { startExecutorNode, startRole, type ProcessContext } from '../../lib/process.ts';
import { createTicket } from '../../lib/protocol/tickets.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { NodeRecord, Project } from '../../lib/repository/types.ts';
import { createCommitteeCache } from '../../lib/roles/committee-cache.ts';
import { createNodeRecord, createNodeRegistration } from '../../lib/roles/node-record.ts';
import { createPublicationCheck } from '../../lib/roles/sender/publication-check.ts';
import { createSignKeyCache } from '../../lib/roles/sign-keys.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { createSandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNode, buildNodes } from '../support/builders.ts';
import { ADMIN_TOKEN, TEST_LIMITS, jobResult, openTestProcess, seedAgreedRequest, seedFrozenRound, startTestWebserver, type TestWebserver } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

const run = promisify(execFile);
const GATEWAY_BIN = new URL('../../bin/gateway.mjs', import.meta.url).pathname;

/** A store writer's HSET of a node record, past the API and the repository's scripts. */
async function overwriteNode(ctx: ProcessContext, hashField: string, record: NodeRecord): Promise<void> {
  await ctx.connection.hset(createKeys(ctx.config.keyPrefix).nodes, hashField, JSON.stringify(record));
}

/** A logger whose lines the test reads. */
function captureLogs(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: createLogger('test', 'error', { write: (line: string) => void lines.push(JSON.parse(line)) }) };
}

describe('node registration', function () {
  this.timeout(30_000);
  let redis: TestRedis;

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });

  describe('POST /v1/nodes and re-admission', () => {
    let web: TestWebserver;
    let call: TestWebserver['call'];
    beforeEach(async () => {
      web = await startTestWebserver(redis.url);
      ({ call } = web);
    });
    afterEach(() => web.stop());

    const register = (body: unknown) => call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body });

    it('registers a node from its signed registration, idempotently, and lists it with the registration', async () => {
      const body = createNodeRegistration(buildNode(1).keys, 'eu-1');
      const first = await register(body);
      expect(first.status, JSON.stringify(first.body)).to.equal(201);
      expect(first.body).to.deep.include({ ...body, status: 'active', lastTicketRound: null });
      expect((await register(body)).status).to.equal(200);
      // Without the optional id, and with an absent name (signed as "").
      const { id: _id, name: _name, ...unnamed } = createNodeRegistration(buildNode(2).keys, '');
      expect((await register(unnamed)).status).to.equal(201);
      const list = await call('GET', '/v1/nodes');
      expect(list.body.items.map((n: NodeRecord) => [n.id, n.name, n.registration])).to.deep.equal(
        [[body.id, 'eu-1', body.registration], [buildNode(2).nodeId, '', unnamed.registration]].sort((a, b) => a[0]!.localeCompare(b[0]!)),
      );
    });

    it('refuses a registration that does not verify, or an id that is not the signing key\'s, with 400 invalid_body', async () => {
      const body = createNodeRegistration(buildNode(3).keys, 'eu-3');
      const cases: Array<[unknown, string]> = [
        [{ ...body, name: 'eu-4' }, 'registration'],
        [{ ...body, vrfPublicKey: toHex(buildNode(4).keys.vrfPublicKey) }, 'registration'],
        [{ ...createNodeRegistration(buildNode(4).keys, 'eu-3'), signPublicKey: body.signPublicKey, id: body.id }, 'registration'],
        [{ ...body, id: buildNode(4).nodeId }, 'id'],
        [{ ...body, registration: undefined }, 'registration'],
        [{ ...body, registration: 'ab'.repeat(63) }, 'registration'],
      ];
      for (const [bad, field] of cases) {
        const reply = await register(bad);
        expect(reply.status, JSON.stringify(bad)).to.equal(400);
        expect(reply.body.error.code).to.equal('invalid_body');
        expect(reply.body.error.details[0]).to.match(new RegExp(`^${field}: `));
      }
      expect((await call('GET', '/v1/nodes')).body.items).to.deep.equal([]);
      expect((await call('POST', '/v1/nodes', { body })).status).to.equal(401);
    });

    it('keeps a node\'s keys: another VRF key is 409 conflict, a new name needs and takes its new registration', async () => {
      const node = buildNode(5);
      expect((await register(createNodeRegistration(node.keys, 'eu-5'))).status).to.equal(201);
      // The same signing key signed another VRF key: a valid registration, but not this node's keys.
      const otherVrf = createNodeRegistration({ ...node.keys, vrfPublicKey: buildNode(6).keys.vrfPublicKey }, 'eu-5');
      const conflict = await register(otherVrf);
      expect(conflict.status).to.equal(409);
      expect(conflict.body.error.code).to.equal('conflict');
      const renamed = createNodeRegistration(node.keys, 'eu-5b');
      const reply = await register(renamed);
      expect(reply.status).to.equal(200);
      expect(await web.ctx.repository.getNode(node.nodeId)).to.deep.include({ name: 'eu-5b', registration: renamed.registration, vrfPublicKey: renamed.vrfPublicKey });
    });

    it('keeps a removed node removed whatever registers it, until the admin re-admits it', async () => {
      const node = buildNode(7);
      const body = createNodeRegistration(node.keys, 'eu-7');
      await register(body);
      expect((await call('DELETE', `/v1/nodes/${node.nodeId}`, { token: ADMIN_TOKEN })).status).to.equal(204);
      const again = await register(body);
      expect(again.status).to.equal(409);
      expect(again.body.error.code).to.equal('conflict');
      expect((await web.ctx.repository.getNode(node.nodeId))?.status).to.equal('removed');

      expect((await call('POST', `/v1/nodes/${node.nodeId}/readmit`)).status).to.equal(401);
      const unknown = await call('POST', `/v1/nodes/${buildNode(8).nodeId}/readmit`, { token: ADMIN_TOKEN });
      expect([unknown.status, unknown.body.error.code]).to.deep.equal([404, 'not_found']);
      expect((await call('POST', '/v1/nodes/nonsense/readmit', { token: ADMIN_TOKEN })).status).to.equal(404);
      const readmitted = await call('POST', `/v1/nodes/${node.nodeId}/readmit`, { token: ADMIN_TOKEN });
      expect(readmitted.status).to.equal(200);
      expect(readmitted.body).to.deep.include({ ...body, status: 'active' });
      // Idempotent: an active node answers 200 as it is.
      expect((await call('POST', `/v1/nodes/${node.nodeId}/readmit`, { token: ADMIN_TOKEN })).body.status).to.equal('active');
    });

    it('re-admits no record a store writer changed', async () => {
      const node = buildNode(9);
      await register(createNodeRegistration(node.keys, 'eu-9'));
      await call('DELETE', `/v1/nodes/${node.nodeId}`, { token: ADMIN_TOKEN });
      const stored = (await web.ctx.repository.getNode(node.nodeId))!;
      await overwriteNode(web.ctx, node.nodeId, { ...stored, vrfPublicKey: toHex(buildNode(10).keys.vrfPublicKey) });
      const reply = await call('POST', `/v1/nodes/${node.nodeId}/readmit`, { token: ADMIN_TOKEN });
      expect([reply.status, reply.body.error.code]).to.deep.equal([409, 'conflict']);
      expect((await web.ctx.repository.getNode(node.nodeId))?.status).to.equal('removed');
    });

    it('describes the registration in the OpenAPI document', async () => {
      const { body } = await call('GET', '/openapi.json');
      expect(body.components.schemas.Node.required).to.include('registration');
      expect(body.components.schemas.NodeRegistration.required).to.deep.equal(['signPublicKey', 'vrfPublicKey', 'registration']);
      expect(body.paths['/v1/nodes'].post.requestBody.content['application/json'].schema.$ref).to.equal('#/components/schemas/NodeRegistration');
      expect(body.paths['/v1/nodes/{id}/readmit'].post.responses).to.have.property('200');
    });
  });

  describe('auto-registration', () => {
    it('signs the record of a local node, and never revives it once removed', async () => {
      const ctx = await openTestProcess(redis.url);
      const sandbox = createSandboxRunner();
      const dir = mkdtempSync(join(tmpdir(), 'gw-node-'));
      const handles: RoleHandle[] = [];
      try {
        const keyFile = join(dir, 'node.key');
        handles.push(await startExecutorNode(ctx, keyFile, { sandbox, name: 'local-0' }));
        const [node] = await ctx.repository.listNodes();
        expect(node).to.deep.include({ name: 'local-0', status: 'active' });
        expect(node!.registration).to.equal(createNodeRegistration(deriveNodeKeys(fromHex(readFileSync(keyFile, 'utf8').trim(), 32)), 'local-0').registration);
        await handles.pop()!.stop();
        expect(await ctx.repository.removeNode(node!.id)).to.equal(true);
        handles.push(await startExecutorNode(ctx, keyFile, { sandbox, name: 'local-0' }));
        expect((await ctx.repository.getNode(node!.id))?.status).to.equal('removed');
      } finally {
        for (const handle of handles) await handle.stop();
        await sandbox.close();
        await ctx.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a node record a store writer changed', () => {
    let ctx: ProcessContext;
    const nodes = buildNodes(3);
    const [victim] = nodes as [typeof nodes[0]];
    const attacker = buildNode(20);
    beforeEach(async () => {
      ctx = await openTestProcess(redis.url);
      await seedFrozenRound(ctx, nodes);
    });
    afterEach(() => ctx.close());

    /** The victim's record with the attacker's VRF key; the registration no longer verifies. */
    const swappedVrfKey = async (): Promise<NodeRecord> => ({ ...(await ctx.repository.getNode(victim.nodeId))!, vrfPublicKey: toHex(attacker.keys.vrfPublicKey) });
    /** The attacker's own, validly signed record stored under the victim's id: the id does not derive from its key. */
    const resigned = (): NodeRecord => ({ ...createNodeRecord(attacker.keys, 'victim', Date.now()), id: victim.nodeId });

    it('refuses the node\'s tickets at the scheduler', async () => {
      const scheduler = await startRole('scheduler', ctx);
      try {
        const seed = fromHex((await ctx.repository.getRound(1))!.seed);
        let n = 0;
        const send = async (vrfSecretKey: Uint8Array) => {
          const ticket = createTicket(victim.nodeId, vrfSecretKey, 1, seed);
          const jobId = `store-writer-${n++}`;
          await ctx.queues.add('tickets', jobId, { kind: 'ticket', nodeId: victim.nodeId, round: 1, beta: toHex(ticket.beta), proof: toHex(ticket.proof) }, { nodeId: victim.nodeId });
          return jobResult(ctx, 'tickets', jobId, victim.nodeId);
        };
        // Round 1 is frozen: an honest ticket passes the node and proof checks, then is late.
        expect(await send(victim.keys.vrfSecretKey)).to.equal('refused: late');
        await overwriteNode(ctx, victim.nodeId, await swappedVrfKey());
        // The attacker's proof verifies under the swapped key, but the record does not.
        expect(await send(attacker.keys.vrfSecretKey)).to.equal('refused: unknown node');
        await overwriteNode(ctx, victim.nodeId, resigned());
        expect(await send(attacker.keys.vrfSecretKey)).to.equal('refused: unknown node');
      } finally {
        await scheduler.stop();
      }
    });

    for (const [what, tamper, problem] of [['another VRF key', swappedVrfKey, 'bad_registration'], ['a re-signed record under its id', resigned, 'id_mismatch']] as const) {
      it(`treats a node with ${what} as unknown to vote checks and committees, with an error log`, async () => {
        const { logger, lines } = captureLogs();
        expect(await createSignKeyCache(ctx.repository, logger)(victim.nodeId)).to.deep.equal(victim.keys.signPublicKey);
        expect((await createCommitteeCache(ctx.repository, logger).get(1))?.eligible).to.equal(3);
        expect(lines).to.deep.equal([]);
        await overwriteNode(ctx, victim.nodeId, await tamper());
        expect(await createSignKeyCache(ctx.repository, logger)(victim.nodeId)).to.equal(undefined);
        const selector = (await createCommitteeCache(ctx.repository, logger).get(1))!;
        expect(selector.eligible).to.equal(2);
        expect(selector.select('req_00000000000000000000000000', 3)).to.not.include(victim.nodeId);
        expect(lines.map((l) => [l.level, l.msg, l.nodeId, l.problem])).to.deep.equal([
          [50, 'node record does not verify; treated as unknown', victim.nodeId, problem],
          [50, 'node record does not verify; treated as unknown', victim.nodeId, problem],
        ]);
      });
    }

    it('makes the sender\'s publication check refuse a result the node voted for', async () => {
      const code = 'export default () => 1';
      const project: Project = {
        id: 'prj_0000000000noderegistration', name: 'n', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
        limits: TEST_LIMITS, version: 1, codeCid: computeContentId(utf8(code)), createdAt: new Date().toISOString(),
      };
      await ctx.repository.putProject(project, code, 'hash-node-registration', Date.now());
      const agreed = await seedAgreedRequest(ctx, nodes, {
        id: 'req_0000000000000000000000node', projectId: project.id, version: 1, codeCid: project.codeCid, source: 'api', input: null, value: 1, committeeSize: 3, quorum: 2,
      });
      const { logger } = captureLogs();
      expect(await createPublicationCheck(ctx.repository, logger)(agreed)).to.equal(null);
      await overwriteNode(ctx, victim.nodeId, await swappedVrfKey());
      // The node's ticket no longer counts, so the committee drawn again is not the stored one.
      expect(await createPublicationCheck(ctx.repository, logger)(agreed)).to.equal('the stored committee is not the one drawn from the committed tickets');
    });
  });

  describe('gateway node init', () => {
    let web: TestWebserver;
    let dir: string;
    beforeEach(async () => {
      web = await startTestWebserver(redis.url);
      dir = mkdtempSync(join(tmpdir(), 'gw-node-init-'));
    });
    afterEach(async () => {
      await web.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const init = (...args: string[]) => run(process.execPath, [GATEWAY_BIN, 'node', 'init', ...args], { cwd: dir });

    it('prints the JSON body that POST /v1/nodes takes, and reads the seed file it made afterwards', async () => {
      const keyFile = join(dir, 'keys', 'node.key');
      const { stdout } = await init('--key-file', keyFile, '--name', 'nœud ✓', '--json');
      const body = JSON.parse(stdout);
      expect(Object.keys(body)).to.deep.equal(['id', 'name', 'signPublicKey', 'vrfPublicKey', 'registration']);
      expect(statSync(keyFile).mode & 0o777).to.equal(0o600);
      const seed = readFileSync(keyFile, 'utf8');
      expect(seed).to.match(/^[0-9a-f]{64}\n$/);

      const reply = await web.call('POST', '/v1/nodes', { token: ADMIN_TOKEN, body });
      expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
      expect(await web.ctx.repository.getNode(body.id)).to.deep.include({ ...body, status: 'active' });

      // Run again: the same seed, the same registration; the file is never rewritten.
      expect(JSON.parse((await init('--key-file', keyFile, '--name', 'nœud ✓', '--json')).stdout)).to.deep.equal(body);
      expect(readFileSync(keyFile, 'utf8')).to.equal(seed);
      const human = await init('--key-file', keyFile, '--name', 'nœud ✓');
      expect(human.stdout).to.include(`node id        ${body.id}`).and.include(JSON.stringify(body));
    });

    it('defaults to ./node.key, and refuses a key file that holds no seed with exit status 3', async () => {
      const { stdout } = await init('--json');
      expect(JSON.parse(stdout).name).to.equal('');
      expect(statSync(join(dir, 'node.key')).isFile()).to.equal(true);
      writeFileSync(join(dir, 'bad.key'), 'not a seed\n', { mode: 0o600 });
      const failure = await init('--key-file', join(dir, 'bad.key')).then(() => null, (error: { code: number; stderr: string }) => error);
      expect(failure?.code).to.equal(3);
      expect(failure?.stderr).to.match(/^gateway: .*bad\.key does not hold 32 bytes of hex\n$/);
    });
  });
});


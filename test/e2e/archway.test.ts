// Archway end to end against the loopback CometBFT stand-in: pending requests become gateway
// requests, agreed results are saved by SaveResultMsg in batches; sequence mismatch, a restart
// between signing and confirmation, and rejected transactions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DirectSecp256k1HdWallet } from '@cosmjs/proto-signing';
import { chainSettingsOf, connectChainReader, connectChainWriter } from '../../lib/chain/archway-client.ts';
import { startChainInputter } from '../../lib/roles/scheduler/chain-inputter.ts';
import { startChainPublisher } from '../../lib/roles/sender/chain-publisher.ts';
import { createSandbox, startExecutorNode, startRole, type ProcessContext } from '../../lib/process.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import type { SandboxRunner } from '../../lib/sandbox/runner.ts';
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeResultHash } from '../../lib/crypto/canonical-json.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import { parseChainInput } from '../../lib/roles/scheduler/chain-inputter.ts';
import { decidePublication } from '../../lib/roles/sender/decide-publication.ts';
import { buildNodes } from '../support/builders.ts';
import { ADMIN_TOKEN, TEST_LIMITS, openTestProcess, seedAgreedRequest, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { startChainStandin, type ChainStandin } from '../support/chain-standin/standin.ts';

const MNEMONIC = 'essay east sight notable token suit chimney shadow inspire gap raven file home oxygen filter mirror dawn distance dwarf layer grocery father property lonely';
const USER = 'archway1qqqsyqcyq5rqwzqfpg9scrgwpugpzysn3a7d8n';
const NODES = buildNodes(4);
const CHAIN_CODE = 'export default (input) => input';
const CHAIN_PROJECT = {
  id: 'prj_0000000000000000000000chain', name: 'chain', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact' as const,
  limits: TEST_LIMITS, version: 1, codeCid: computeContentId(utf8(CHAIN_CODE)),
};

describe('Archway', function () {
  this.timeout(90_000);
  let redis: TestRedis;
  let chain: ChainStandin;
  let ctx: ProcessContext;
  let gatewayAddress: string;

  before(async () => {
    redis = await startTestRedis();
    [{ address: gatewayAddress }] = await (await DirectSecp256k1HdWallet.fromMnemonic(MNEMONIC, { prefix: 'archway' })).getAccounts();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    chain = await startChainStandin();
    ctx = await openTestProcess(redis.url, {
      GATEWAY_CHAIN_RPC_URL: chain.url, GATEWAY_CHAIN_ID: chain.chainId, GATEWAY_CHAIN_CONTRACT: chain.contractAddress,
      GATEWAY_CHAIN_MNEMONIC: MNEMONIC, GATEWAY_CHAIN_GAS_PRICE: '0.001aarch', GATEWAY_CHAIN_POLL_MS: '150', GATEWAY_ROUND_MS: '150',
      GATEWAY_SANDBOX_PROCESSES: '0', GATEWAY_CHAIN_MAX_ATTEMPTS: '3',
    });
  });
  afterEach(async () => {
    fleet = undefined;
    await ctx.close();
    await chain.close();
  });

  let fleet: Promise<string> | undefined;

  /**
   * A request as the sender leaves it: agreed by three nodes' signed v2 votes for `value` (committee
   * drawn from frozen tickets), appended to the ledger, published, and waiting in the chain outbox.
   */
  async function publishedChainRequest(chainProjectId: number, reqId: number, input: string, value: unknown): Promise<string> {
    const id = `req_0000000000${String(chainProjectId).padStart(4, '0')}${String(reqId).padStart(12, '0')}`;
    const now = Date.now();
    fleet ??= seedFrozenRound(ctx, NODES);
    await fleet;
    // Requests run a stored code version: the project they belong to exists.
    await ctx.repository.putProject({ ...CHAIN_PROJECT, createdAt: new Date(now).toISOString() }, CHAIN_CODE, 'hash-chain', now);
    const agreed = await seedAgreedRequest(ctx, NODES, {
      id, projectId: CHAIN_PROJECT.id, version: 1, codeCid: CHAIN_PROJECT.codeCid, source: 'chain', input: parseChainInput(input, ctx.config.maxInputBytes),
      origin: { chainProjectId, reqId, user: USER, input }, value, committeeSize: 3, quorum: 2,
    });
    const decision = decidePublication(agreed);
    if (decision.kind !== 'publish') throw new Error(`not publishable: ${decision.kind}`);
    const entry = await ctx.repository.appendLedger(decision.entry);
    await ctx.repository.publishRequest(id, { seq: entry.seq, hash: entry.hash }, now);
    await ctx.repository.putChainOutbox(id, now);
    return id;
  }

  function publisher(overrides: { batchSize?: number; maxAttempts?: number; nowOffsetMs?: number; putChainPublication?: typeof ctx.repository.putChainPublication } = {}) {
    const settings = chainSettingsOf(ctx.config)!;
    return startChainPublisher({
      repository: { ...ctx.repository, ...(overrides.putChainPublication ? { putChainPublication: overrides.putChainPublication } : {}) },
      clock: overrides.nowOffsetMs ? { now: () => Date.now() + overrides.nowOffsetMs! } : systemClock, logger: ctx.logger, metrics: ctx.metrics,
      connect: () => connectChainWriter(settings, MNEMONIC), isLeader: async () => true,
      pollMs: 3_600_000, batchSize: overrides.batchSize ?? 10, maxAttempts: overrides.maxAttempts ?? 3,
    });
  }

  /** A pending request on the contract, answered by a published gateway request. */
  async function pendingAndPublished(chainProjectId: number, input: string, value: unknown): Promise<string> {
    return publishedChainRequest(chainProjectId, chain.model.requestResult(chainProjectId, USER, input), input, value);
  }

  const saveTxs = () => chain.txs.filter((tx) => tx.msgs.some((m) => 'SaveResultMsg' in (m.msg as object)));

  it('answers a pending contract request with the agreed result, from the gateway signer to the contract', async () => {
    const handles: RoleHandle[] = [];
    let sandbox: SandboxRunner | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'gw-chain-'));
    try {
      sandbox = createSandbox(ctx);
      for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
      for (let i = 0; i < 3; i++) handles.push(await startExecutorNode(ctx, join(dir, `n${i}.key`), { sandbox }));
      const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
      handles.push(web);
      const call = createClient(web.url);
      const project = (await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'chain', code: 'export default (input) => ({ doubled: input.n * 2 })' } })).body;
      const chainProjectId = chain.model.createProject(USER, 'github.com/dapp', 'a dApp');
      expect((await call('PUT', `/v1/projects/${project.id}/chain`, { token: ADMIN_TOKEN, body: { chainProjectId } })).body).to.deep.equal({ projectId: project.id, chainProjectId });
      const reqId = chain.model.requestResult(chainProjectId, USER, '{"n":21}');
      const saved = await waitFor(async () => chain.model.project(chainProjectId)!.result.find((r) => r.req_id === reqId), 30_000, 'the result on chain');
      expect(saved).to.deep.equal({ req_id: reqId, user: USER, request: '{"n":21}', result: '{"doubled":42}' });
      expect(chain.model.project(chainProjectId)!.request).to.deep.equal([]);
      const [tx] = saveTxs();
      expect(tx).to.deep.include({ code: 0, signer: gatewayAddress });
      expect(tx.msgs).to.deep.equal([{ sender: gatewayAddress, contract: chain.contractAddress, msg: { SaveResultMsg: { project_id: chainProjectId, user: USER, request: '{"n":21}', req_id: reqId, result: '{"doubled":42}' } } }]);
      const list = (await call('GET', `/v1/projects/${project.id}/requests`, { token: ADMIN_TOKEN })).body.items;
      expect(list).to.have.length(1);
      const request = await waitFor(async () => {
        const r = (await call('GET', `/v1/requests/${list[0].id}`, { token: ADMIN_TOKEN })).body;
        return r.chain?.status === 'committed' ? r : undefined;
      }, 10_000, 'chain status committed');
      expect(request).to.deep.include({ source: 'chain', status: 'published', origin: { chainProjectId, reqId, user: USER, input: '{"n":21}' } });
      expect(request.chain).to.deep.include({ txHash: tx.hash, height: tx.height });
      // More polls change nothing: no second gateway request, no second transaction.
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect((await call('GET', `/v1/projects/${project.id}/requests`, { token: ADMIN_TOKEN })).body.items).to.have.length(1);
      expect(saveTxs()).to.have.length(1);
    } finally {
      for (const handle of handles.reverse()) await handle.stop();
      await sandbox?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('marks a deep or oversized chain input failed with a reason and keeps taking the requests after it', async () => {
    const chainProjectId = chain.model.createProject(USER, 'g', 'd');
    const project = { id: 'prj_0000000000000000000000input', name: 'p', description: '', committee: { size: 1, quorum: 1 }, aggregation: 'exact' as const, limits: { timeoutMs: 1000, cpuMs: 500, memoryMb: 32, fetchCalls: 0, outputBytes: 1024, logLines: 1, logBytes: 64 }, version: 1, codeCid: 'bafkreiinput', createdAt: new Date().toISOString() };
    await ctx.repository.putProject(project, 'export default (i) => i', 'hash-input', Date.now());
    await ctx.repository.putChainBinding(chainProjectId, project.id);
    const deep = chain.model.requestResult(chainProjectId, USER, `${'['.repeat(300)}${']'.repeat(300)}`);
    const huge = chain.model.requestResult(chainProjectId, USER, `"${'x'.repeat(200_000)}"`);
    const fine = chain.model.requestResult(chainProjectId, USER, '{"n":1}');
    const inputter = startChainInputter({
      repository: ctx.repository, queues: ctx.queues, clock: systemClock, logger: ctx.logger, metrics: ctx.metrics, config: ctx.config,
      connect: () => connectChainReader(chainSettingsOf(ctx.config)!), isLeader: () => true, pollMs: 3_600_000,
    });
    try {
      // The inputter polls once at start; runOnce waits for that poll and then polls again.
      // Polled again, nothing is taken twice: the refused inputs are held by their idempotency keys too.
      expect(await inputter.pollOnce()).to.equal(0);
    } finally {
      await inputter.stop();
    }
    const requests = (await ctx.repository.listProjectRequests(project.id, 10)).items;
    expect(requests).to.have.length(3);
    const byReq = new Map(requests.map((r) => [r.origin!.reqId, r]));
    expect(byReq.get(deep)).to.deep.include({ status: 'failed', input: null, failure: { code: 'rejected', message: `input: ${'[0]'.repeat(257)}: nested deeper than 256 levels` } });
    expect(byReq.get(huge)).to.deep.include({ status: 'failed', input: null, failure: { code: 'rejected', message: `input: 200006 bytes, at most ${ctx.config.maxInputBytes}` } });
    expect(byReq.get(huge)!.origin!.input).to.have.length(1024);
    expect(byReq.get(fine)).to.deep.include({ status: 'queued', input: { n: 1 } });
  });

  it('saves several waiting results in one transaction with simulated gas times the margin', async () => {
    const chainProjectId = chain.model.createProject(USER, 'g', 'd');
    const ids = [];
    for (let n = 1; n <= 3; n++) ids.push(await pendingAndPublished(chainProjectId, `in-${n}`, { n }));
    const p = publisher();
    await p.publishOnce();
    await p.stop();
    expect(saveTxs()).to.have.length(1);
    expect(saveTxs()[0].msgs.map((m) => (m.msg as { SaveResultMsg: { result: string } }).SaveResultMsg.result)).to.deep.equal(['{"n":1}', '{"n":2}', '{"n":3}']);
    for (const id of ids) expect((await ctx.repository.getRequest(id))?.chain).to.deep.include({ status: 'committed', txHash: saveTxs()[0].hash });
  });

  it('never sends a result the store changed after the ledger append, and still sends the honest one beside it', async () => {
    const chainProjectId = chain.model.createProject(USER, 'g', 'd');
    const published = async (price: number) => {
      const id = await pendingAndPublished(chainProjectId, JSON.stringify({ price }), { price });
      return { id, reqId: (await ctx.repository.getRequest(id))!.origin!.reqId, entry: (await ctx.repository.getLedgerEntryOf(id))! };
    };
    const honest = await published(7);
    const forged = await published(8);
    const rehashed = await published(9);
    const trimmed = await published(10);
    const redirected = await published(11);
    const elsewhere = chain.model.requestResult(chainProjectId, USER, '{"price":12}');
    const keys = createKeys(ctx.config.keyPrefix);
    const stored = async (id: string) => (await ctx.repository.getRequest(id))!;
    // A store writer, after the sender appended and published them: a value no vote signed, with its own hash...
    await ctx.connection.hset(keys.request(forged.id), 'outcome', JSON.stringify({ ...(await stored(forged.id)).outcome, value: { price: 1000 }, resultHash: toHex(computeResultHash({ price: 1000 })) }));
    // ...a value swapped under the signed hash...
    await ctx.connection.hset(keys.request(rehashed.id), 'outcome', JSON.stringify({ ...(await stored(rehashed.id)).outcome, value: { price: 1000 } }));
    // ...one vote dropped (the other two still reach the quorum: only the ledger's votes digest tells)...
    await ctx.connection.hdel(keys.requestVotes(trimmed.id), (await stored(trimmed.id)).votes[0].nodeId);
    // ...and a result pointed at another pending contract request, one with another input.
    const { status: _status, votes: _votes, assignment: _a, outcome: _o, ledger: _l, chain: _c, finishedAt: _f, ...base } = await stored(redirected.id);
    await ctx.connection.hset(keys.request(redirected.id), 'base', JSON.stringify({ ...base, origin: { ...base.origin!, reqId: elsewhere } }));

    const p = publisher();
    await p.publishOnce();
    await p.publishOnce();
    await p.stop();

    // The contract received the honest result only, in one transaction.
    expect(saveTxs().map((tx) => tx.msgs.map((m) => m.msg))).to.deep.equal([[{ SaveResultMsg: { project_id: chainProjectId, user: USER, request: '{"price":7}', req_id: honest.reqId, result: '{"price":7}' } }]]);
    const onChain = chain.model.project(chainProjectId)!;
    expect(onChain.result).to.deep.equal([{ req_id: honest.reqId, user: USER, request: '{"price":7}', result: '{"price":7}' }]);
    expect(onChain.request.map((r) => r.req_id)).to.deep.equal([forged.reqId, rehashed.reqId, trimmed.reqId, redirected.reqId, elsewhere]);
    expect((await stored(honest.id)).chain).to.deep.include({ status: 'committed', txHash: saveTxs()[0].hash });
    const refused = (reason: string) => ({ status: 'failed', attempts: 0, error: `the result does not verify: ${reason}` });
    expect((await stored(forged.id)).chain).to.deep.equal(refused('the stored result is not the one the votes agree on'));
    expect((await stored(rehashed.id)).chain).to.deep.equal(refused('the stored value does not match its result hash'));
    expect((await stored(trimmed.id)).chain).to.deep.equal(refused(`its votesDigest is not the one in ledger entry ${trimmed.entry.seq}`));
    expect((await stored(redirected.id)).chain).to.deep.equal(refused(`the contract's pending request ${elsewhere} has another input than the one that ran`));
    // The ledger still holds what was agreed; the dropped results left the outbox.
    for (const r of [forged, rehashed, trimmed, redirected]) expect(await ctx.repository.getLedgerEntryOf(r.id)).to.deep.equal(r.entry);
    expect(await ctx.repository.listChainOutbox(Date.now() + 3_600_000, 10)).to.deep.equal([]);
    const counted = (await ctx.metrics.chainTxs.get()).values;
    expect(counted.find((v) => v.labels.outcome === 'unverified')?.value).to.equal(4);
    expect(counted.find((v) => v.labels.outcome === 'committed')?.value).to.equal(1);
  });

  it('signs again after an account sequence mismatch', async () => {
    const chainProjectId = chain.model.createProject(USER, 'g', 'd');
    const id = await pendingAndPublished(chainProjectId, 'x', 'v');
    let bumped = false;
    // Another transaction of the same account lands between signing and broadcasting.
    const p = publisher({
      putChainPublication: async (requestId, publication, retryAtMs) => {
        if (publication.status === 'broadcast' && !bumped) {
          bumped = true;
          chain.bumpSequence(gatewayAddress);
        }
        return ctx.repository.putChainPublication(requestId, publication, retryAtMs);
      },
    });
    await p.publishOnce();
    await p.stop();
    expect(chain.rejected.map((r) => r.code)).to.deep.equal([32]);
    expect(saveTxs()).to.have.length(1);
    expect((await ctx.repository.getRequest(id))?.chain?.status).to.equal('committed');
    expect((await ctx.metrics.chainTxs.get()).values.find((v) => v.labels.outcome === 'sequence_mismatch')?.value).to.equal(1);
  });

  it('after a restart, checks a signed transaction by hash and sends nothing twice', async () => {
    const chainProjectId = chain.model.createProject(USER, 'g', 'd');
    const landed = await pendingAndPublished(chainProjectId, 'a', 'A');
    const lost = await pendingAndPublished(chainProjectId, 'b', 'B');
    // The first run signs and broadcasts `landed`, then dies before recording that it landed:
    // from then on it writes nothing.
    let dead = false;
    const crashing = publisher({
      batchSize: 1,
      putChainPublication: async (requestId, publication, retryAtMs) => {
        if (dead) return;
        if (publication.status === 'committed') {
          dead = true;
          throw new Error('the process died');
        }
        await ctx.repository.putChainPublication(requestId, publication, retryAtMs);
      },
    });
    await crashing.publishOnce().catch(() => undefined);
    await crashing.stop();
    const signed = (await ctx.repository.getRequest(landed))?.chain;
    expect(signed).to.deep.include({ status: 'broadcast', txHash: saveTxs()[0]?.hash });
    expect(saveTxs()).to.have.length(1);
    // `lost` was signed in a transaction that never reached the chain.
    await ctx.repository.putChainPublication(lost, { status: 'broadcast', txHash: 'F'.repeat(64), attempts: 1 }, 0);
    const broadcastsBefore = chain.calls('broadcast_tx_sync');
    // A signed transaction is looked at again once it had time to land (90 s): the restart comes later.
    const restarted = publisher({ nowOffsetMs: 120_000 });
    await restarted.publishOnce();
    await restarted.stop();
    expect((await ctx.repository.getRequest(landed))?.chain?.status).to.equal('committed');
    expect((await ctx.repository.getRequest(lost))?.chain?.status).to.equal('committed');
    expect(chain.calls('broadcast_tx_sync') - broadcastsBefore).to.equal(1);
    expect(chain.model.project(chainProjectId)!.result.map((r) => r.result).sort()).to.deep.equal(['"A"', '"B"']);
  });

  it('splits a rejected batch, and marks a result failed for good after its attempts', async () => {
    const chainProjectId = chain.model.createProject(USER, 'g', 'd');
    const a = await pendingAndPublished(chainProjectId, 'a', 1);
    const b = await pendingAndPublished(chainProjectId, 'b', 2);
    chain.failNextDeliver(11, 'out of gas in location: wasm contract');
    const p = publisher();
    await p.publishOnce();
    expect(saveTxs().map((tx) => [tx.code, tx.msgs.length])).to.deep.equal([[11, 2], [0, 1], [0, 1]]);
    expect((await ctx.repository.getRequest(a))?.chain?.status).to.equal('committed');
    expect((await ctx.repository.getRequest(b))?.chain?.status).to.equal('committed');

    const gone = await publishedChainRequest(chainProjectId, 999, 'never pending', 3);
    const doomed = await pendingAndPublished(chainProjectId, 'c', 4);
    chain.failNextDeliver(11, 'out of gas');
    await p.publishOnce();
    await p.stop();
    const stopped = publisher({ maxAttempts: 1 });
    chain.failNextDeliver(11, 'out of gas again');
    await ctx.repository.putChainPublication(doomed, { status: 'pending', attempts: 0 }, 0);
    await stopped.publishOnce();
    await stopped.stop();
    expect((await ctx.repository.getRequest(gone))?.chain).to.deep.include({ status: 'failed', error: `the contract has no pending request 999 in project ${chainProjectId}` });
    const failed = (await ctx.repository.getRequest(doomed))?.chain;
    expect(failed?.status).to.equal('failed');
    expect(failed?.error).to.match(/failed with code 11: .*out of gas again/);
    expect(await ctx.repository.listChainOutbox(Date.now() + 3_600_000, 10)).to.deep.equal([]);
    expect((await ctx.metrics.chainTxs.get()).values.find((v) => v.labels.outcome === 'failed')?.value).to.equal(2);
  });
});

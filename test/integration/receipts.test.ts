// Receipts end to end on a real redis-server: the real roles publish a request, the API refuses its
// receipt until a round anchors the ledger entry, then serves it; the real `gateway verify` command
// checks it from a file and by request id, fails a tampered copy, and replays the code.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { publicKey } from '../../lib/crypto/ecvrf.ts';
import { startRole, type ProcessContext } from '../../lib/process.ts';
import { RECEIPT_CHECKS, verifyReceipt } from '../../lib/protocol/verify-receipt.ts';
import type { Receipt } from '../../lib/protocol/receipt.ts';
import { startExecutor } from '../../lib/roles/executor/executor.ts';
import { systemClock, type RoleHandle } from '../../lib/runtime/common.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { buildNodes } from '../support/builders.ts';
import { ADMIN_TOKEN, COUNTER_KEY, openTestProcess, seedFrozenRound, waitFor } from '../support/gateway.ts';
import { createClient, type Reply } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const ROOT = join(import.meta.dirname, '../..');
// Uses the request seed, the accepted-at time and the seeded Math.random: a replay must reproduce all three.
const CODE = 'export default (input, ctx) => ({ price: input.price * 2, seed: ctx.seed, at: Date.now(), draw: Math.random() });';
const FETCH_CODE = "export default async (input, ctx) => { try { await ctx.fetch('http://127.0.0.1:9/'); return 'fetched'; } catch (error) { return { refused: error.message }; } };";
const COUNTER_PUBLIC_KEY = toHex(publicKey(COUNTER_KEY));

/** Runs `gateway verify …` as a child process on the pinned Node, with its own config folder. */
function runVerify(args: readonly string[], configHome: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cli/main.ts', 'verify', ...args], {
      cwd: ROOT,
      env: { ...process.env, XDG_CONFIG_HOME: configHome, GATEWAY_URL: '', GATEWAY_TOKEN: '', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('receipts', function () {
  this.timeout(60_000);
  allowSharedFixtures(this);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  let call: ReturnType<typeof createClient>;
  let url: string;
  let dir: string;
  const handles: RoleHandle[] = [];
  const nodes = buildNodes(3);
  let project: { id: string; apiKey: string };
  let requestId: string;
  let receiptFile: string;

  before(async () => {
    redis = await startTestRedis();
    ctx = await openTestProcess(redis.url);
    sandbox = createSandboxRunner();
    dir = mkdtempSync(join(tmpdir(), 'gateway-receipts-'));
    await seedFrozenRound(ctx, nodes);
    const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
    handles.push(web);
    ({ url } = web);
    call = createClient(url);
    for (const role of ['receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    for (const node of nodes) handles.push(await startExecutor({ ...ctx, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
    project = await createProject(CODE);
  });
  after(async () => {
    for (const handle of handles.reverse()) await handle.stop();
    await sandbox.close();
    await ctx.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function createProject(code: string, committee = { size: 3, quorum: 2 }): Promise<{ id: string; apiKey: string }> {
    const reply = await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'receipts', code, committee } });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
    return reply.body;
  }

  async function publish(key: string, projectId: string, input: unknown): Promise<string> {
    const accepted = await call('POST', `/v1/projects/${projectId}/requests`, { token: key, body: { input } });
    expect(accepted.status).to.equal(202);
    const id = accepted.body.id as string;
    const done = await waitFor(async () => {
      const reply = await call('GET', `/v1/requests/${id}?wait=1000`, { token: key });
      return reply.body.status === 'published' || reply.body.status === 'failed' ? reply.body : undefined;
    }, 20_000, 'a final state');
    expect(done.status, JSON.stringify(done.failure)).to.equal('published');
    return id;
  }

  const receiptOf = (id: string, token = project.apiKey) => call('GET', `/v1/requests/${id}/receipt`, { token });
  const anchored = (id: string, token?: string) => waitFor(async () => {
    const reply = await receiptOf(id, token);
    return reply.status === 200 ? reply : undefined;
  }, 20_000, 'the anchoring round');

  it('publishes the counter public key on /v1/rounds/latest and /v1/status', async () => {
    expect((await call('GET', '/v1/rounds/latest')).body.counterPublicKey).to.equal(COUNTER_PUBLIC_KEY);
    expect((await call('GET', '/v1/status')).body.counterPublicKey).to.equal(COUNTER_PUBLIC_KEY);
  });

  it('answers 404 for an unknown request and 401 without a token', async () => {
    expect((await receiptOf('req_00000000000000000000000000')).body.error.code).to.equal('not_found');
    const id = await publish(project.apiKey, project.id, { price: 1 });
    const anonymous = await call('GET', `/v1/requests/${id}/receipt`);
    expect([anonymous.status, anonymous.body.error.code]).to.deep.equal([401, 'unauthorized']);
  });

  it('answers 409 not_published while a request waits for a committee', async () => {
    // Four members are asked for and only three nodes hold tickets: the request cannot be assigned.
    const waiting = await createProject(CODE, { size: 4, quorum: 3 });
    const accepted = await call('POST', `/v1/projects/${waiting.id}/requests`, { token: waiting.apiKey, body: { input: { price: 1 } } });
    const reply = await receiptOf(accepted.body.id, waiting.apiKey);
    expect([reply.status, reply.body.error.code]).to.deep.equal([409, 'not_published']);
    expect(reply.body.error.message).to.match(/is (queued|failed)/);
  });

  it('answers 409 not_anchored with Retry-After until a round anchors the entry, then serves the receipt', async () => {
    requestId = await publish(project.apiKey, project.id, { price: 21 });
    // No scheduler runs yet: round 2 is the latest round, started before the entry was appended.
    const early: Reply = await receiptOf(requestId);
    expect([early.status, early.body.error.code, early.headers.get('retry-after')]).to.deep.equal([409, 'not_anchored', '1']);
    handles.push(await startRole('scheduler', ctx));
    const reply = await anchored(requestId);
    const receipt = reply.body as Receipt;
    const entry = receipt.ledger.entry;
    expect(receipt).to.deep.include({ version: 2, previousSeed: '0'.repeat(64), counterPublicKey: COUNTER_PUBLIC_KEY });
    expect(receipt.request).to.deep.equal({ id: requestId, projectId: project.id, codeCid: computeContentId(utf8(CODE)), input: { price: 21 }, createdAt: receipt.request.createdAt });
    expect(receipt.assignment).to.deep.include({ round: 2, k: 3, q: 2, aggregation: 'exact' });
    expect(receipt.result.value).to.deep.include({ price: 42 });
    expect(receipt.rounds.map((r) => r.round).slice(0, 2)).to.deep.equal([1, 2]);
    const anchor = receipt.rounds[receipt.rounds.length - 1];
    expect(anchor.ledgerLength).to.be.at.least(entry.seq);
    expect(receipt.rounds.slice(0, -1).every((r) => r.ledgerLength < entry.seq)).to.equal(true);
    expect(receipt.ledger.chain.map((e) => e.seq)).to.deep.equal(Array.from({ length: anchor.ledgerLength - entry.seq }, (_, i) => entry.seq + 1 + i));
    expect(receipt.tickets.map((t) => t.nodeId)).to.deep.equal(nodes.map((n) => n.nodeId).sort());
    expect(receipt.nodes.map((n) => n.registration)).to.have.length(3).and.to.satisfy((all: string[]) => all.every((r) => /^[0-9a-f]{128}$/.test(r)));
    expect(receipt.votes.length).to.be.within(2, 3);
    expect(verifyReceipt(receipt, COUNTER_PUBLIC_KEY).filter((c) => !c.ok)).to.deep.equal([]);
    receiptFile = join(dir, 'receipt.json');
    writeFileSync(receiptFile, JSON.stringify(receipt));
    // A 3-node committee's receipt: a few kilobytes (docs/protocol.md quotes the typical size).
    expect(Buffer.byteLength(JSON.stringify(receipt))).to.be.within(4000, 12000);
  });

  it('gateway verify checks the saved receipt against a pinned key, and by request id trusting the first key', async () => {
    const fromFile = await runVerify([receiptFile, '--counter-key', COUNTER_PUBLIC_KEY], join(dir, 'config-a'));
    expect(fromFile.code, fromFile.stderr).to.equal(0);
    expect(fromFile.stdout).to.include(`counter key ${COUNTER_PUBLIC_KEY} (from --counter-key)`);
    for (const name of RECEIPT_CHECKS) expect(fromFile.stdout).to.match(new RegExp(`^  ok {4}${name} `, 'm'));
    expect(fromFile.stdout).to.include(`all ${RECEIPT_CHECKS.length} checks passed`);

    const config = join(dir, 'config-b');
    const byId = await runVerify([requestId, '--url', url, '--token', project.apiKey], config);
    expect(byId.code, byId.stderr).to.equal(0);
    expect(byId.stdout).to.include(`counter key ${COUNTER_PUBLIC_KEY}: trusted on first use for ${new URL(url).origin}, kept in ${join(config, 'gateway', 'known-counters.json')}`);
    const known = JSON.parse(readFileSync(join(config, 'gateway', 'known-counters.json'), 'utf8'));
    expect(known[new URL(url).origin].counterPublicKey).to.equal(COUNTER_PUBLIC_KEY);

    const again = await runVerify([requestId, '--url', url, '--token', project.apiKey, '--json'], config);
    expect(again.code).to.equal(0);
    const report = JSON.parse(again.stdout);
    expect(report).to.deep.include({ ok: true });
    expect(report.counterKey).to.deep.include({ key: COUNTER_PUBLIC_KEY, source: 'known', scope: new URL(url).origin });
    expect(report.receipts[0].checks.map((c: { name: string }) => c.name)).to.deep.equal([...RECEIPT_CHECKS]);
  });

  it('gateway verify exits 1 on a tampered receipt and on a counter key other than the kept one', async () => {
    const tampered = JSON.parse(readFileSync(receiptFile, 'utf8'));
    tampered.result.value.price = 4200;
    const file = join(dir, 'tampered.json');
    writeFileSync(file, JSON.stringify(tampered));
    const result = await runVerify([file, '--counter-key', COUNTER_PUBLIC_KEY], join(dir, 'config-c'));
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/^ {2}FAIL {2}result-hash +H\(JCS\(value\)\) is not the result hash$/m);

    const config = join(dir, 'config-d');
    const otherKey = 'ab'.repeat(32);
    // A key kept from an earlier run that is not the one the receipt names.
    mkdirSync(join(config, 'gateway'), { recursive: true });
    const known = join(config, 'gateway', 'known-counters.json');
    writeFileSync(known, JSON.stringify({ file: { counterPublicKey: otherKey, firstSeenAt: '2026-01-01T00:00:00.000Z' } }));
    const swapped = await runVerify([receiptFile], config);
    expect(swapped.code).to.equal(1);
    expect(swapped.stdout).to.include(`FAIL  counter-key      the receipt names counter key ${COUNTER_PUBLIC_KEY}, not the pinned ${otherKey}`);
  });

  it('gateway verify exits 2 for a request id without --url and 3 for a gateway it cannot reach', async () => {
    const usage = await runVerify([requestId], join(dir, 'config-g'));
    expect([usage.code, usage.stderr]).to.deep.equal([2, 'gateway: a request id needs --url (or GATEWAY_URL) to fetch its receipt from\n']);
    // A port that was just free: nothing listens there.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const unreachable = await runVerify([requestId, '--url', `http://127.0.0.1:${port}`], join(dir, 'config-g'));
    expect([unreachable.code, unreachable.stderr]).to.deep.equal([3, `gateway: http://127.0.0.1:${port} is unreachable (ECONNREFUSED)\n`]);
  });

  it('gateway verify --replay runs the code again with the recorded input, seed and time', async () => {
    const result = await runVerify([receiptFile, '--counter-key', COUNTER_PUBLIC_KEY, '--replay', '--url', url, '--token', project.apiKey], join(dir, 'config-e'));
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    const { resultHash } = JSON.parse(readFileSync(receiptFile, 'utf8')).result;
    expect(result.stdout).to.include(`ok    replay           run again here, the code returns the result hash ${resultHash}`);

    const wrongCode = join(dir, 'other.js');
    writeFileSync(wrongCode, 'export default () => 1;');
    const refused = await runVerify([receiptFile, '--counter-key', COUNTER_PUBLIC_KEY, '--replay', '--code', wrongCode], join(dir, 'config-e'));
    expect(refused.code).to.equal(1);
    expect(refused.stdout).to.include(`FAIL  replay           ${wrongCode} is not the code the receipt ran`);
  });

  it('gateway verify --replay says when the result depends on the web', async () => {
    const fetching = await createProject(FETCH_CODE);
    const id = await publish(fetching.apiKey, fetching.id, null);
    await anchored(id, fetching.apiKey);
    const codeFile = join(dir, 'fetch.js');
    writeFileSync(codeFile, FETCH_CODE);
    const result = await runVerify([id, '--url', url, '--token', fetching.apiKey, '--counter-key', COUNTER_PUBLIC_KEY, '--replay', '--code', codeFile], join(dir, 'config-f'));
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^ {2}warn {2}replay +run again here, the code returns the result hash [0-9a-f]{64} \(the code called fetch 1 time, so its result depends on the web\)$/m);
  });
});

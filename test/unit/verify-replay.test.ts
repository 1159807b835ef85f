// `gateway verify` without a gateway: --replay in the in-process sandbox (input, seed, time and
// secrets as recorded), secrets files, JSON Lines input, and the counter keys kept on first use.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, toHex } from '../../lib/crypto/bytes.ts';
import { computeRequestSeed } from '../../lib/protocol/rounds.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { CliError } from '../../cli/exit-codes.ts';
import { createCounterPins } from '../../cli/verify/known-counters.ts';
import { readReceiptFile, readSecretsFile } from '../../cli/verify/receipt-sources.ts';
import { replayReceipt } from '../../cli/verify/replay.ts';
import { RECEIPT_CODE, buildReceipt } from '../support/receipt-builder.ts';

describe('gateway verify, offline parts', function () {
  this.timeout(20_000);
  let runner: SandboxRunner;
  let dir: string;
  before(() => {
    runner = createSandboxRunner();
    dir = mkdtempSync(join(tmpdir(), 'gateway-verify-'));
  });
  after(async () => {
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays the code and matches the result hash', async () => {
    const { receipt } = buildReceipt();
    const check = await replayReceipt(runner, receipt, RECEIPT_CODE, {});
    expect(check).to.deep.equal({ name: 'replay', ok: true, reason: `run again here, the code returns the result hash ${receipt.result.resultHash}`, isWebDependent: false, fetchCalls: 0, resultHash: receipt.result.resultHash });
  });

  it('gives the code the recorded seed, time and round, and the secrets it is handed', async () => {
    const code = 'export default (input, ctx) => ({ seed: ctx.seed, at: Date.now(), round: ctx.round, key: ctx.secrets.KEY ?? null })';
    const probe = buildReceipt({ code });
    const seed = toHex(computeRequestSeed(fromHex(probe.receipt.rounds[1].seed, 32), probe.receipt.request.id));
    const { receipt } = buildReceipt({ code, value: { seed, at: Date.parse(probe.receipt.request.createdAt), round: 3, key: 's3' } });
    expect((await replayReceipt(runner, receipt, code, { KEY: 's3' })).ok).to.equal(true);
    const without = await replayReceipt(runner, receipt, code, {});
    expect(without.ok).to.equal(false);
    expect(without.reason).to.match(/^the replay returned \{"seed":"[0-9a-f]{64}","at":\d+,"round":3,"key":null\} \(hash [0-9a-f]{64}\), not the receipt's [0-9a-f]{64}$/);
  });

  it('reads secrets from .env lines or a JSON object', () => {
    writeFileSync(join(dir, 'a.env'), '# comment\nAPI_KEY=abc=def\nexport QUOTED="two words"\n\nEMPTY=\n');
    writeFileSync(join(dir, 'b.json'), '{"API_KEY": "abc"}');
    writeFileSync(join(dir, 'c.env'), 'not a line\n');
    expect(readSecretsFile(join(dir, 'a.env'))).to.deep.equal({ API_KEY: 'abc=def', QUOTED: 'two words', EMPTY: '' });
    expect(readSecretsFile(join(dir, 'b.json'))).to.deep.equal({ API_KEY: 'abc' });
    expect(() => readSecretsFile(join(dir, 'c.env'))).to.throw(CliError, 'c.env:1: not NAME=value');
  });

  it('reads one receipt per JSON line, and a ledger entry (an export\'s ledger file) as a ledger entry', () => {
    const { receipt } = buildReceipt();
    const file = join(dir, 'export.jsonl');
    writeFileSync(file, `${JSON.stringify(receipt)}\n${JSON.stringify(receipt.ledger.entry)}\n{"receipt":${JSON.stringify(receipt)}}\n{oops\n`);
    const items = readReceiptFile(file);
    expect(items.map((item) => Object.keys(item)[1])).to.deep.equal(['receipt', 'ledgerEntry', 'receipt', 'error']);
    expect(items[1]).to.deep.equal({ label: `${file}:2`, ledgerEntry: receipt.ledger.entry });
    expect(items[3]).to.deep.equal({ label: `${file}:4`, error: 'not JSON' });
  });

  it('keeps the first counter key per scope and pins it on later runs', () => {
    const file = join(dir, 'config', 'gateway', 'known-counters.json');
    const now = () => new Date('2026-01-01T00:00:00.000Z');
    const first = createCounterPins({ scope: 'http://gw.example:8080', file, now });
    expect(first.pinFor('aa'.repeat(32))).to.deep.equal({ key: 'aa'.repeat(32), source: 'first-use', scope: 'http://gw.example:8080', file, since: '2026-01-01T00:00:00.000Z' });
    expect(first.pinFor('bb'.repeat(32))?.key).to.equal('aa'.repeat(32));
    expect(createCounterPins({ scope: 'http://gw.example:8080', file, now }).pinFor('bb'.repeat(32))).to.deep.include({ key: 'aa'.repeat(32), source: 'known' });
    expect(createCounterPins({ scope: 'file', file, now }).pinFor('bb'.repeat(32))).to.deep.include({ key: 'bb'.repeat(32), source: 'first-use' });
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')))).to.deep.equal(['http://gw.example:8080', 'file']);
    expect(createCounterPins({ flag: 'CC'.repeat(32), scope: 'file', file, now }).pinFor('bb'.repeat(32))).to.deep.include({ key: 'cc'.repeat(32), source: 'flag' });
  });
});

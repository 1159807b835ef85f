import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGatewayError } from '../../lib/errors.ts';
import { compileUserSource, loadFetchFixtures, simulate, type FetchFixture } from '../../lib/simulate/simulate.ts';

const PRICE_URL = 'https://api.example.com/price';
const FIXTURES: FetchFixture[] = [{ url: PRICE_URL, body: { price: 100 } }];
const PRICE_CODE = `export default async (input, ctx) => {
  const response = await ctx.fetch('${PRICE_URL}');
  ctx.log('status', response.status);
  return response.json().price;
}`;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('simulate', () => {
  it('agrees on the value of a committee of three honest nodes, the third vote arriving after finality', async () => {
    const result = await simulate({ code: PRICE_CODE, nodes: 3, fetchFixtures: FIXTURES });
    expect(result.quorum).to.equal(2);
    expect(result.outcome).to.include({ status: 'agreed', ok: true, value: 100 });
    expect(result.outcome.supporters).to.deep.equal([result.nodes[0].nodeId, result.nodes[1].nodeId]);
    expect(result.nodes.map((n) => [n.name, n.behaviour, n.value, n.counted, n.agreed])).to.deep.equal([
      ['node-1', 'honest', 100, true, true],
      ['node-2', 'honest', 100, true, true],
      ['node-3', 'honest', 100, false, true],
    ]);
    expect(result.nodes[0].logs).to.deep.equal(['status 200']);
    expect(result.nodes.every((n) => n.resultHash === result.outcome.resultHash)).to.equal(true);
  });

  it('gives every node the same ctx and its own fixed node id', async () => {
    const code = `export default (input, ctx) => ({ id: ctx.requestId, seed: ctx.seed, round: ctx.round, key: ctx.secrets.KEY, r: Math.random(), now: Date.now(), input })`;
    const options = { code, nodes: 2, secrets: { KEY: 'k1' }, input: { a: 1 }, nowMs: 1_700_000_000_000, requestId: 'req_0000000000000000000000000a' };
    const first = await simulate(options);
    const second = await simulate(options);
    expect(first.outcome.status).to.equal('agreed');
    expect(first.outcome.value).to.deep.include({ id: 'req_0000000000000000000000000a', round: 1, key: 'k1', now: 1_700_000_000_000, input: { a: 1 } });
    expect((first.outcome.value as { seed: string }).seed).to.equal(first.request.seed).and.match(/^[0-9a-f]{64}$/);
    expect(second.outcome.resultHash).to.equal(first.outcome.resultHash);
    expect(second.nodes.map((n) => n.nodeId)).to.deep.equal(first.nodes.map((n) => n.nodeId));
  });

  it('agrees on the honest value with one byzantine node of three, shown disagreeing', async () => {
    const result = await simulate({ code: PRICE_CODE, nodes: 3, byzantine: 1, fetchFixtures: FIXTURES });
    expect(result.outcome).to.include({ status: 'agreed', ok: true, value: 100 });
    const byzantine = result.nodes[2];
    expect(byzantine).to.include({ name: 'node-3', behaviour: 'byzantine', ok: true, value: 1001, counted: true, agreed: false });
    expect(result.outcome.supporters).to.deep.equal([result.nodes[0].nodeId, result.nodes[1].nodeId]);
  });

  it('has no quorum with two byzantine nodes of three', async () => {
    const result = await simulate({ code: `export default () => 'fine'`, nodes: 3, byzantine: 2 });
    expect(result.outcome).to.deep.equal({ status: 'no_quorum', supporters: [], reason: '3 of 3 votes counted and no value can reach the quorum of 2' });
    expect(result.nodes.map((n) => n.value)).to.deep.equal(['fine', 'byzantine-1', 'byzantine-2']);
    expect(result.nodes.map((n) => n.agreed)).to.deep.equal([false, false, false]);
  });

  it('lets a byzantine node win under a quorum of one, since it votes first', async () => {
    const result = await simulate({ code: `export default () => 'fine'`, nodes: 3, quorum: 1, byzantine: 1 });
    expect(result.outcome).to.include({ status: 'agreed', value: 'byzantine-1' });
  });

  it('records a slow node as late and never counts it', async () => {
    const result = await simulate({ code: PRICE_CODE, nodes: 3, slow: 1, fetchFixtures: FIXTURES });
    expect(result.nodes[2]).to.include({ behaviour: 'slow', value: 100, counted: false });
    expect(result.outcome).to.include({ status: 'agreed', value: 100 });
    expect(result.outcome.supporters).to.have.length(2);
  });

  it('fails at the deadline when the slow vote was the one the quorum needed', async () => {
    const result = await simulate({ code: `export default () => 1`, nodes: 3, byzantine: 1, slow: 1 });
    expect(result.outcome).to.deep.equal({ status: 'no_quorum', supporters: [], reason: 'the deadline passed with 2 of 3 votes counted and no value at the quorum of 2' });
  });

  it('takes the median over diverging fetch responses, where exact finds no quorum', async () => {
    const median = await simulate({ code: PRICE_CODE, nodes: 3, aggregation: 'median', divergeFetch: true, fetchFixtures: FIXTURES });
    expect(median.nodes.map((n) => n.value)).to.deep.equal([99.9, 100, 100.1]);
    expect(median.outcome).to.include({ status: 'agreed', ok: true, value: 100 });
    expect(median.outcome.supporters).to.have.length(3);
    const exact = await simulate({ code: PRICE_CODE, nodes: 3, divergeFetch: true, fetchFixtures: FIXTURES });
    expect(exact.outcome.status).to.equal('no_quorum');
  });

  it('keeps a thrown error\'s message, logs where it was thrown, and agrees on it as an error', async () => {
    const result = await simulate({ code: `export default (input) => { console.log('before'); throw new Error('bad input: ' + input.n); }`, nodes: 3, input: { n: 7 } });
    expect(result.nodes[0]).to.include({ ok: false, error: 'bad input: 7' });
    expect(result.nodes[0].logs).to.deep.equal(['before', 'at default (user.js:1:58)']);
    // What each run used, as its isolate counts it.
    for (const node of result.nodes) {
      expect(node.cpuMs).to.be.a('number').and.to.be.greaterThan(0);
      expect(node.heapBytes).to.be.a('number').and.to.be.greaterThan(100_000);
    }
    expect(result.outcome).to.deep.include({ status: 'agreed', ok: false, value: { error: 'bad input: 7' } });
  });

  it('answers fetch from fixtures offline and refuses an unmatched URL as a blocked fetch', async () => {
    const code = `export default async (input, ctx) => {
      const a = await ctx.fetch('${PRICE_URL}', { method: 'get' });
      try { await ctx.fetch('https://other.example/x'); } catch (e) { return [a.status, a.headers['content-type'], e.message]; }
    }`;
    const result = await simulate({ code, fetchFixtures: [...FIXTURES, { url: 'https://other.example/x', method: 'POST', status: 201, body: 'made' }] });
    expect(result.outcome.value).to.deep.equal([200, 'application/json', 'fetch refused: no fixture for GET https://other.example/x']);
  });

  it('applies the production limits, or generous ones', async () => {
    const code = `export default async (input, ctx) => { for (let i = 0; i < 11; i++) await ctx.fetch('${PRICE_URL}'); return 'done'; }`;
    const production = await simulate({ code, fetchFixtures: FIXTURES });
    expect(production.nodes[0].error).to.equal('fetch call limit of 10 reached');
    expect(production.limits).to.include({ timeoutMs: 5000, cpuMs: 2000, memoryMb: 64, fetchCalls: 10 });
    const none = await simulate({ code, fetchFixtures: FIXTURES, limits: 'none' });
    expect(none.outcome.value).to.equal('done');
    const own = await simulate({ code, fetchFixtures: FIXTURES, projectLimits: { fetchCalls: 20 } });
    expect(own.outcome.value).to.equal('done');
  });

  it('refuses inconsistent options and code the gateway would refuse at upload', async () => {
    const tooMany = await rejection(simulate({ code: `export default () => 1`, nodes: 2, byzantine: 2, slow: 1 }));
    expect(isGatewayError(tooMany, 'invalid_value') && tooMany.message).to.equal('byzantine (2) and slow (1) nodes exceed the committee of 2');
    const quorum = await rejection(simulate({ code: `export default () => 1`, nodes: 2, quorum: 3 }));
    expect(isGatewayError(quorum, 'invalid_value')).to.equal(true);
    const imports = await rejection(simulate({ code: `import fs from 'fs'; export default () => 1` }));
    expect(isGatewayError(imports, 'invalid_code') && imports.message).to.equal("imports are not available (import of 'fs')");
  });
});

describe('simulate files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'simulate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('strips TypeScript types and keeps line numbers', () => {
    const path = join(dir, 'index.ts');
    writeFileSync(path, `import type { Handler } from 'gateway/types';\nconst h: Handler<{ a: number }, number> = (input) => input.a;\nexport default h;\n`);
    const code = compileUserSource(path);
    expect(code.split('\n')).to.have.length(4);
    expect(code).to.not.include('Handler');
    expect(code.split('\n')[1]).to.match(/^const h\s+= \(input\)\s+=> input\.a;$/);
  });

  it('explains a fixtures file it cannot use', () => {
    const path = join(dir, 'fixtures.json');
    writeFileSync(path, JSON.stringify([{ url: PRICE_URL, body: 1 }, { url: 'ftp://x', body: 1 }]));
    expect(() => loadFetchFixtures(path)).to.throw(`${path}: fixture 1: "url" must be an http or https URL`);
    writeFileSync(path, JSON.stringify([{ url: PRICE_URL }]));
    expect(() => loadFetchFixtures(path)).to.throw(`${path}: fixture 0: "body" is missing`);
    writeFileSync(path, JSON.stringify({ fixtures: [{ url: PRICE_URL, method: 'post', body: 'x' }] }));
    expect(loadFetchFixtures(path)).to.deep.equal([{ url: PRICE_URL, method: 'POST', body: 'x' }]);
    expect(() => loadFetchFixtures(join(dir, 'missing.json'))).to.throw('missing.json cannot be read (ENOENT)');
  });
});

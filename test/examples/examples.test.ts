// The examples in examples/: each compiled as the CLI compiles it (types stripped) and run by the
// simulator on the committee its gateway.json names, offline, from its recorded fetch fixtures.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { canonicalJson } from '../../lib/crypto/canonical-json.ts';
import { computeNextRun, parseCronExpression } from '../../lib/cron-expression.ts';
import { parseChainInput } from '../../lib/roles/scheduler/chain-inputter.ts';
import { createSandboxRunner, type SandboxFetch, type SandboxOutcome } from '../../lib/sandbox/runner.ts';
import { createFixtureFetch } from '../../lib/simulate/fixtures.ts';
import { compileUserSource, loadFetchFixtures, simulate, type FetchFixture, type SimulateOptions, type SimulationResult } from '../../lib/simulate/simulate.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples', import.meta.url));

interface GatewayJson {
  name: string;
  committee: { size: number; quorum: number };
  aggregation: 'exact' | 'median';
  limits: Record<string, number>;
  schedules: { cron: string; input: unknown }[];
}

interface Example {
  code: string;
  gateway: GatewayJson;
  input: unknown;
  fixtures: FetchFixture[];
}

function loadExample(name: string): Example {
  const path = (file: string) => fileURLToPath(new URL(`../../examples/${name}/${file}`, import.meta.url));
  const readJson = (file: string): unknown => JSON.parse(readFileSync(path(file), 'utf8'));
  return {
    code: compileUserSource(path('index.ts')),
    gateway: readJson('gateway.json') as GatewayJson,
    input: readJson('input.json'),
    fixtures: loadFetchFixtures(path('fixtures.json')),
  };
}

/** Simulates `example` on its own committee, aggregation and limits (the production defaults for the rest). */
function simulateExample(example: Example, overrides: Partial<SimulateOptions> = {}): Promise<SimulationResult> {
  return simulate({
    code: example.code,
    input: example.input,
    nodes: example.gateway.committee.size,
    quorum: example.gateway.committee.quorum,
    aggregation: example.gateway.aggregation,
    fetchFixtures: example.fixtures,
    limits: 'production',
    projectLimits: example.gateway.limits,
    ...overrides,
  });
}

// Each member's answer, for the assertion message.
function membersOf(result: SimulationResult): string {
  return result.nodes.map((n) => `${n.name} (${n.behaviour}): ${n.ok ? JSON.stringify(n.value) : `error ${n.error}`}`).join('; ');
}

function agreedValue(result: SimulationResult): unknown {
  expect(result.outcome, membersOf(result)).to.include({ status: 'agreed', ok: true });
  expect(result.outcome.supporters.length, membersOf(result)).to.be.at.least(result.quorum);
  return result.outcome.value;
}

function agreedError(result: SimulationResult): string {
  expect(result.outcome, membersOf(result)).to.include({ status: 'agreed', ok: false });
  const errors = new Set(result.nodes.filter((n) => result.outcome.supporters.includes(n.nodeId)).map((n) => n.error));
  expect(errors.size, membersOf(result)).to.equal(1);
  return [...errors][0]!;
}

describe('examples', function () {
  describe('price-oracle', function () {
    const example = loadExample('price-oracle');

    it('is a committee of 3 with quorum 2 that agrees on a median', function () {
      expect(example.gateway).to.deep.include({ name: 'price-oracle', committee: { size: 3, quorum: 2 }, aggregation: 'median' });
      expect(example.fixtures.map((f) => new URL(f.url).host)).to.deep.equal(['api.coinbase.com', 'api.kraken.com', 'api.coingecko.com']);
    });

    it('agrees on the median of the three sources', async function () {
      const result = await simulateExample(example);
      // coinbase 97012.55, kraken 97020.10, coingecko 97010: the middle one.
      expect(agreedValue(result)).to.equal(97012.55);
      expect(result.nodes.map((n) => n.value)).to.deep.equal([97012.55, 97012.55, 97012.55]);
    });

    it('agrees on the same median with one byzantine member', async function () {
      const result = await simulateExample(example, { byzantine: 1 });
      expect(agreedValue(result)).to.equal(97012.55);
      const byzantine = result.nodes.filter((n) => n.behaviour === 'byzantine');
      expect(byzantine, membersOf(result)).to.have.length(1);
      expect(byzantine[0]!.value).to.not.equal(97012.55);
    });

    it('agrees on a median when members see diverging prices', async function () {
      const result = await simulateExample(example, { divergeFetch: true });
      // Only CoinGecko answers numbers, so only its price moves (×0.999, ×1, ×1.001): the members
      // compute 97012.55, 97012.55 and 97020.1, and the committee takes the lower median.
      expect(result.nodes.map((n) => n.value), membersOf(result)).to.deep.equal([97012.55, 97012.55, 97020.1]);
      expect(agreedValue(result)).to.equal(97012.55);
    });

    it('reads the exchanges through a mirror: the tutorial\'s local copy of the recorded answers', async function () {
      const server = spawn(process.execPath, [join(EXAMPLES, 'price-oracle', 'serve-fixtures.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const port = await new Promise<number>((resolve, reject) => {
          server.stdout!.on('data', (chunk: Buffer) => {
            const match = /127\.0\.0\.1:(\d+)/.exec(chunk.toString());
            if (match) resolve(Number(match[1]));
          });
          server.once('exit', (code) => reject(new Error(`serve-fixtures exited ${code}`)));
        });
        const mirror = `http://127.0.0.1:${port}`;
        const fetched: string[] = [];
        const runner = createSandboxRunner();
        try {
          const outcome = await runner.run({
            codeKey: 'oracle', code: example.code, input: { asset: 'BTC', mirror },
            context: { requestId: 'req_mirror', projectId: 'prj_mirror', round: 1, seed: '00'.repeat(32), acceptedAtMs: 0, secrets: {} },
            limits: { timeoutMs: 5000, memoryMb: 64, outputBytes: 10_000, logLines: 100, logBytes: 10_000 },
            fetch: async (url) => {
              fetched.push(url);
              const res = await fetch(url);
              return { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? '' }, body: await res.text() };
            },
          });
          expect(outcome, JSON.stringify(outcome)).to.deep.include({ ok: true, value: 97012.55 });
          expect(fetched.map((u) => u.slice(mirror.length))).to.have.members(example.fixtures.map((f) => `/${new URL(f.url).host}${new URL(f.url).pathname}${new URL(f.url).search}`));
        } finally {
          await runner.close();
        }
      } finally {
        server.kill();
        await new Promise((resolve) => server.once('exit', resolve));
      }
    });

    it('agrees on an error rather than publish the price of a single source', async function () {
      const result = await simulateExample(example, { fetchFixtures: example.fixtures.filter((f) => f.url.includes('coinbase')) });
      expect(agreedError(result)).to.equal('only 1 of 3 sources answered');
    });
  });

  describe('webhook-notifier', function () {
    const example = loadExample('webhook-notifier');
    const token = 'whk_test_5f2c9a7e1b3d48c6';

    it('agrees on the status the webhook answered, and no member logs the token', async function () {
      const result = await simulateExample(example, { secrets: { WEBHOOK_TOKEN: token } });
      expect(agreedValue(result)).to.deep.equal({ status: 202, delivered: true });
      for (const node of result.nodes) {
        expect(node.logs).to.deep.equal(['POST https://hooks.example.com/v1/notify channel ops → 202']);
        expect(node.logs.join('\n')).to.not.include(token);
      }
    });

    it('only a POST reaches the webhook: its fixture answers no other method', async function () {
      const code = example.code.replace("method: 'POST'", "method: 'PUT'");
      expect(code).to.not.equal(example.code);
      const result = await simulateExample(example, { code, secrets: { WEBHOOK_TOKEN: token } });
      expect(agreedError(result)).to.equal('fetch refused: no fixture for PUT https://hooks.example.com/v1/notify');
    });

    it('sends the token as a bearer header and the request id as the idempotency key', async function () {
      // The simulator's fixtures match method and URL only; the header is checked on the call itself,
      // in the same sandbox, through a fetch that records what the code sent.
      const sent: Parameters<SandboxFetch>[1][] = [];
      const answer = createFixtureFetch(example.fixtures, 1);
      const runner = createSandboxRunner();
      let outcome: SandboxOutcome;
      try {
        outcome = await runner.run({
          codeKey: 'webhook-notifier',
          code: example.code,
          input: example.input,
          context: { requestId: 'req_example', projectId: 'prj_example', round: 1, seed: 'ab'.repeat(32), acceptedAtMs: 0, secrets: { WEBHOOK_TOKEN: token } },
          limits: { timeoutMs: 5000, cpuMs: 2000, memoryMb: 64, outputBytes: 262144, logLines: 100, logBytes: 16384 },
          fetch: (url, init, signal) => {
            sent.push(init);
            return answer(url, init, signal);
          },
        });
      } finally {
        await runner.close();
      }
      expect(outcome).to.deep.include({ ok: true, value: { status: 202, delivered: true } });
      expect(sent).to.have.length(1);
      expect(sent[0]).to.deep.include({ method: 'POST' });
      expect(sent[0]!.headers).to.deep.equal({ authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'req_example' });
      expect(JSON.parse(sent[0]!.body!)).to.deep.equal({ channel: 'ops', text: 'Deposit of 250 ARCH confirmed', requestId: 'req_example' });
    });

    it('agrees on an error naming the secret when it is not set', async function () {
      const result = await simulateExample(example);
      expect(agreedError(result)).to.equal('secret WEBHOOK_TOKEN is not set');
    });
  });

  describe('scheduled-report', function () {
    const example = loadExample('scheduled-report');

    it('is scheduled every five minutes with the example input', function () {
      expect(example.gateway.schedules).to.deep.equal([{ cron: '*/5 * * * *', input: example.input }]);
      const schedule = parseCronExpression(example.gateway.schedules[0]!.cron);
      expect(computeNextRun(schedule, Date.parse('2026-12-03T02:41:07Z'))).to.equal(Date.parse('2026-12-03T02:45:00Z'));
    });

    it('agrees on the summary of the watched components', async function () {
      const result = await simulateExample(example, { input: example.gateway.schedules[0]!.input, nowMs: Date.parse('2026-12-03T02:45:00.000Z') });
      const value = agreedValue(result) as Record<string, unknown>;
      expect(value).to.deep.include({
        page: 'GitHub',
        indicator: 'minor',
        description: 'Partially Degraded Service',
        watched: 4,
        degraded: [{ name: 'Actions', status: 'degraded_performance' }],
        incidents: [{ name: 'Disruption with some GitHub services', status: 'investigating', impact: 'minor', link: 'https://stspg.io/7y2v1kq0mw3c' }],
      });
      // The clock inside the sandbox stands at the request's accepted-at time, the same on every member.
      expect(value.checkedAt).to.equal('2026-12-03T02:45:00.000Z');
      expect(result.nodes[0]!.logs).to.deep.equal(['GitHub: minor, 1 of 4 watched components degraded']);
    });
  });

  describe('archway-request', function () {
    const example = loadExample('archway-request');
    const maxInputBytes = 65536;
    const funded = 'archway1yq9us7vs3tqttnt7meagrzpmwgteu70g27s7me';
    const empty = 'archway1j36nvzu48v0rww6alfwf6jmalr4a8s4q7nnu2r';

    it('answers a JSON request string with the balance check the contract stores', async function () {
      const request = `{"address":"${funded}","denom":"aarch","min":"1000000000000000000"}`;
      const input = parseChainInput(request, maxInputBytes);
      expect(input).to.deep.equal(example.input);
      const value = agreedValue(await simulateExample(example, { input }));
      expect(value).to.deep.equal({ address: funded, denom: 'aarch', amount: '2500000000000000000', sufficient: true });
      // SaveResultMsg.result: the canonical JSON of the agreed value.
      expect(canonicalJson(value)).to.equal(`{"address":"${funded}","amount":"2500000000000000000","denom":"aarch","sufficient":true}`);
    });

    it('takes a request string that is not JSON as the address itself', async function () {
      const input = parseChainInput(empty, maxInputBytes);
      expect(input).to.equal(empty);
      const value = agreedValue(await simulateExample(example, { input }));
      expect(value).to.deep.equal({ address: empty, denom: 'aarch', amount: '0', sufficient: false });
    });

    it('agrees on an error for an address with a wrong checksum, before any fetch', async function () {
      const typo = `${funded.slice(0, -1)}q`;
      const result = await simulateExample(example, { input: parseChainInput(`{"address":"${typo}"}`, maxInputBytes), fetchFixtures: [] });
      expect(agreedError(result)).to.equal('address is not a valid archway1… address');
    });

    it('agrees on an error for a request that is neither an address nor an object', async function () {
      const result = await simulateExample(example, { input: parseChainInput('[1,2]', maxInputBytes), fetchFixtures: [] });
      expect(agreedError(result)).to.equal('request must be an archway1… address or {"address", "denom", "min"}');
    });
  });
});

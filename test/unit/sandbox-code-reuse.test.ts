// Compiled code and code texts reused across runs, never state: code sent to a sandbox process once
// per content id, each text under its own id, a fresh context for every run.
import { expect } from 'chai';
import { createSandboxPool } from '../../lib/sandbox/pool.ts';
import { createSandboxRunner, type SandboxJob, type SandboxOutcome, type SandboxRunner } from '../../lib/sandbox/runner.ts';

const job = (codeKey: string, code: string, projectId = 'prj_a'): SandboxJob => ({
  codeKey,
  code,
  input: null,
  context: { requestId: 'req_reuse', projectId, round: 1, seed: '00'.repeat(32), acceptedAtMs: 0, secrets: {} },
  limits: { timeoutMs: 2000, memoryMb: 32, outputBytes: 4096, logLines: 10, logBytes: 1024 },
});

const valueOf = (outcome: SandboxOutcome): unknown => (outcome.ok ? outcome.value : `error: ${outcome.error}`);

async function runAll(runner: SandboxRunner, jobs: SandboxJob[]): Promise<unknown[]> {
  const values: unknown[] = [];
  for (const j of jobs) values.push(valueOf(await runner.run(j)));
  return values;
}

// Polls a condition (no fixed sleeps: the machine may be busy).
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

// Each reads what an earlier run might have left behind, then leaves something itself.
const LEAKY_MODULE = `let count = 0;
export default () => {
  const seen = [globalThis.x ?? null, Array.prototype.polluted ?? null, Math.leak ?? null];
  globalThis.x = 1; Array.prototype.polluted = 1; Math.leak = 1; count++;
  return { seen, count };
}`;
const LEAKY_SCRIPT = `var count = 0;
function mainFunction() {
  const seen = [globalThis.x ?? null, Array.prototype.polluted ?? null, Math.leak ?? null];
  globalThis.x = 1; Array.prototype.polluted = 1; Math.leak = 1; count++;
  return { seen, count };
}`;
const CLEAN = { seen: [null, null, null], count: 1 };

// Two texts of the same length: V8's code cache checks only the length, so mixing them up would run the wrong one.
const CODE_A = 'export default () => "a"';
const CODE_B = 'export default () => "b"';

describe('sandbox code reuse', function () {
  this.timeout(30_000);

  describe('pool', () => {
    it('sends a code text to a process once per content id', async () => {
      const pool = createSandboxPool({ size: 1 });
      try {
        const values = await runAll(pool, Array.from({ length: 5 }, () => job('cid_a', CODE_A)));
        expect(values).to.deep.equal(['a', 'a', 'a', 'a', 'a']);
        expect(pool.stats()).to.deep.include({ runs: 5, codeSends: 1 });
      } finally {
        await pool.close();
      }
    });

    it('sends a second project its own code once and runs each project its own', async () => {
      const pool = createSandboxPool({ size: 1 });
      try {
        const jobs = [job('cid_a', CODE_A, 'prj_a'), job('cid_c', 'export default () => "c"', 'prj_b'), job('cid_a', CODE_A, 'prj_a'), job('cid_c', 'export default () => "c"', 'prj_b')];
        expect(await runAll(pool, jobs)).to.deep.equal(['a', 'c', 'a', 'c']);
        expect(pool.stats().codeSends).to.equal(2);
      } finally {
        await pool.close();
      }
    });

    it('never runs one text under the content id of another', async () => {
      const pool = createSandboxPool({ size: 1 });
      try {
        const values = await runAll(pool, [job('cid_x', CODE_A), job('cid_x', CODE_B), job('cid_x', CODE_A), job('cid_x', CODE_B)]);
        expect(values).to.deep.equal(['a', 'b', 'a', 'b']);
        expect(pool.stats().codeSends).to.equal(4);
      } finally {
        await pool.close();
      }
    });

    it('gives every run a fresh context: what one run leaves is not seen by the next', async () => {
      const pool = createSandboxPool({ size: 1 });
      try {
        const sequential = await runAll(pool, [job('cid_m', LEAKY_MODULE), job('cid_m', LEAKY_MODULE), job('cid_s', LEAKY_SCRIPT), job('cid_s', LEAKY_SCRIPT)]);
        expect(sequential).to.deep.equal([CLEAN, CLEAN, CLEAN, CLEAN]);
        const concurrent = await Promise.all(Array.from({ length: 4 }, () => pool.run(job('cid_m', LEAKY_MODULE))));
        expect(concurrent.map(valueOf)).to.deep.equal([CLEAN, CLEAN, CLEAN, CLEAN]);
      } finally {
        await pool.close();
      }
    });

    it('sends the code again to the process that replaces a killed one', async () => {
      const pool = createSandboxPool({ size: 1 });
      try {
        expect(await runAll(pool, [job('cid_a', CODE_A), job('cid_a', CODE_A)])).to.deep.equal(['a', 'a']);
        expect(pool.stats().codeSends).to.equal(1);
        const [killed] = pool.processIds();
        process.kill(killed, 'SIGKILL');
        await waitFor(() => pool.stats().restarts === 1);
        expect(await runAll(pool, [job('cid_a', CODE_A), job('cid_a', CODE_A)])).to.deep.equal(['a', 'a']);
        expect(pool.processIds()).to.not.include(killed);
        expect(pool.stats().codeSends).to.equal(2);
      } finally {
        await pool.close();
      }
    });

    it('sends a code again when the process has dropped it to keep others', async () => {
      const pool = createSandboxPool({ size: 1, maxCodesPerProcess: 2 });
      try {
        const jobs = [job('cid_a', CODE_A), job('cid_b', CODE_B), job('cid_c', 'export default () => "c"'), job('cid_a', CODE_A), job('cid_a', CODE_A)];
        expect(await runAll(pool, jobs)).to.deep.equal(['a', 'b', 'c', 'a', 'a']);
        // a, b, c, then a again after the process asked for it (it kept only b and c)
        expect(pool.stats()).to.deep.include({ codeSends: 4, restarts: 0 });
      } finally {
        await pool.close();
      }
    });
  });

  describe('in-process runner', () => {
    let runner: SandboxRunner;
    beforeEach(() => {
      runner = createSandboxRunner();
    });
    afterEach(async () => {
      await runner.close();
    });

    it('never runs one text under the key of another, even of the same length', async () => {
      expect(await runAll(runner, [job('cid_x', CODE_A), job('cid_x', CODE_B), job('cid_x', CODE_A)])).to.deep.equal(['a', 'b', 'a']);
      expect(await runAll(runner, [job('cid_y', CODE_B.replace('export default', 'globalThis.mainFunction =')), job('cid_y', CODE_A.replace('export default', 'globalThis.mainFunction ='))])).to.deep.equal(['b', 'a']);
    });

    it('gives every run of the same code a fresh context', async () => {
      expect(await runAll(runner, [job('cid_m', LEAKY_MODULE), job('cid_m', LEAKY_MODULE), job('cid_s', LEAKY_SCRIPT), job('cid_s', LEAKY_SCRIPT)])).to.deep.equal([CLEAN, CLEAN, CLEAN, CLEAN]);
      expect(runner.stats()).to.deep.include({ isolates: 2, codes: 2 });
    });

    it('returns the isolate of a run that ended inside a fetch answer once the answer is delivered', async () => {
      const fetch: SandboxJob['fetch'] = async () => ({ status: 200, headers: {}, body: '' });
      // The result settles inside the fetch answer's task, with more work queued behind it.
      const code = `export default async (input, ctx) => {
        const r = await ctx.fetch('https://example.test/');
        let p = Promise.resolve();
        for (let i = 0; i < 20; i++) p = p.then(() => {});
        p.then(() => { let n = 0; while (n < 2e7) n++; });
        return r.status;
      }`;
      const values = await runAll(runner, Array.from({ length: 10 }, () => ({ ...job('cid_f', code), fetch })));
      expect(values).to.deep.equal(Array(10).fill(200));
      // Held back while its answer is delivered, then warm again: later runs take it instead of new ones.
      expect(runner.stats().isolates).to.be.below(10);
    });
  });
});

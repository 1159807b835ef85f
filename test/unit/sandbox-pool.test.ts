// The supervised sandbox pool with real child processes: results, a crashed process, a hung one.
import { expect } from 'chai';
import { createSandboxPool } from '../../lib/sandbox/pool.ts';
import { SandboxLostError, type SandboxJob } from '../../lib/sandbox/runner.ts';

const job = (code: string, input: unknown = null, timeoutMs = 2000): SandboxJob => ({
  codeKey: `k${code.length}`,
  code,
  input,
  context: { requestId: 'req_pool', projectId: 'prj_pool', round: 1, seed: '00'.repeat(32), acceptedAtMs: 0, secrets: {} },
  limits: { timeoutMs, memoryMb: 32, maxOutputBytes: 4096, maxLogLines: 10, maxLogBytes: 1024 },
});

const BUSY = 'export default (input) => { let x = 0; for (let i = 0; i < input.spins; i++) x += i; return input.tag; }';

describe('sandbox pool', function () {
  this.timeout(20_000);

  it('runs jobs in child processes and returns their outcomes', async () => {
    const pool = createSandboxPool({ size: 2 });
    try {
      const outcomes = await Promise.all([1, 2, 3, 4].map((n) => pool.run(job('export default (n) => n * 10', n))));
      expect(outcomes.map((o) => (o.ok ? o.value : o.error))).to.deep.equal([10, 20, 30, 40]);
      expect(pool.stats()).to.deep.include({ processes: 2, runs: 4, restarts: 0 });
    } finally {
      await pool.close();
    }
  });

  it('retries the runs of a crashed process alone on a fresh one', async () => {
    const pool = createSandboxPool({ size: 1 });
    try {
      await pool.run(job('export default () => 1'));
      const running = [pool.run(job(BUSY, { spins: 3e8, tag: 'a' })), pool.run(job(BUSY, { spins: 3e8, tag: 'b' }))];
      await new Promise((resolve) => setTimeout(resolve, 100));
      process.kill(pool.processIds()[0], 'SIGKILL');
      const outcomes = await Promise.all(running);
      expect(outcomes.map((o) => (o.ok ? o.value : o.error))).to.deep.equal(['a', 'b']);
      expect(pool.stats()).to.deep.include({ restarts: 1, processes: 1 });
    } finally {
      await pool.close();
    }
  });

  it('answers a run that kills its process even when alone with an error, and keeps serving', async () => {
    const pool = createSandboxPool({ size: 1 });
    try {
      await pool.run(job('export default () => 1'));
      const running = pool.run(job(BUSY, { spins: 3e8, tag: 'alone' }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      process.kill(pool.processIds()[0], 'SIGKILL');
      expect(await running).to.deep.include({ ok: false, error: 'the sandbox process crashed (signal SIGKILL)' });
      expect(await pool.run(job('export default () => "next"'))).to.deep.include({ ok: true, value: 'next' });
    } finally {
      await pool.close();
    }
  });

  it('kills and replaces a process that stops answering', async () => {
    const pool = createSandboxPool({ size: 1, graceMs: 200 });
    try {
      await pool.run(job('export default () => 1'));
      const pid = pool.processIds()[0];
      process.kill(pid, 'SIGSTOP');
      const outcome = await pool.run(job('export default () => 2', null, 300));
      expect(outcome).to.deep.include({ ok: false, error: 'timed out after 300 ms (the sandbox process stopped answering)' });
      expect(pool.processIds()).to.not.include(pid);
      expect(await pool.run(job('export default () => 3'))).to.deep.include({ ok: true, value: 3 });
      expect(pool.stats().restarts).to.equal(1);
    } finally {
      await pool.close();
    }
  });

  it('refuses work after close, idempotently', async () => {
    const pool = createSandboxPool({ size: 1 });
    await pool.close();
    await pool.close();
    try {
      await pool.run(job('export default () => 1'));
      expect.fail('expected a refusal');
    } catch (error) {
      expect((error as Error).message).to.equal('the sandbox pool is closed');
      expect(error).to.not.be.instanceOf(SandboxLostError);
    }
  });
});

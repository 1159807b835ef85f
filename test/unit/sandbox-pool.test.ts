// The supervised sandbox pool with real child processes: results, a crashed process, a hung one.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fork } from 'node:child_process';
import { createSandboxPool } from '../../lib/sandbox/pool.ts';
import { trySend } from '../../lib/sandbox/sandbox-process.ts';
import { SandboxLostError, type SandboxJob } from '../../lib/sandbox/runner.ts';

const job = (code: string, input: unknown = null, timeoutMs = 2000): SandboxJob => ({
  codeKey: `k${code.length}`,
  code,
  input,
  context: { requestId: 'req_pool', projectId: 'prj_pool', round: 1, seed: '00'.repeat(32), acceptedAtMs: 0, secrets: {} },
  limits: { timeoutMs, memoryMb: 32, outputBytes: 4096, logLines: 10, logBytes: 1024 },
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

  it('starts its processes with a scrubbed environment: no secrets, no Redis URL', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { GATEWAY_MASTER_KEY: 'ab'.repeat(32), GATEWAY_ADMIN_TOKEN: 'admin-token-secret', REDIS_URL: 'redis://:pw@127.0.0.1:1', GATEWAY_CHAIN_MNEMONIC: 'word word' });
    const pool = createSandboxPool({ size: 1 });
    try {
      await pool.run(job('export default () => 1'));
      // Node adds its own IPC channel variables; nothing else comes from us.
      const environ = readFileSync(`/proc/${pool.processIds()[0]}/environ`, 'utf8').split('\0').filter((v) => v && !v.startsWith('NODE_CHANNEL_'));
      expect(environ).to.deep.equal(['TZ=UTC']);
    } finally {
      process.env = saved;
      await pool.close();
    }
  });

  it('delivers ten results at the deepest allowed nesting without replacing a process', async () => {
    const pool = createSandboxPool({ size: 1 });
    try {
      const deep = 'export default (n) => { let v = n; for (let i = 0; i < 255; i++) v = [v]; return v; }';
      const outcomes = await Promise.all(Array.from({ length: 10 }, (_, n) => pool.run({ ...job(deep, n), limits: { ...job(deep).limits, outputBytes: 65536 } })));
      for (const [n, outcome] of outcomes.entries()) {
        let value = outcome.ok ? outcome.value : null;
        for (let i = 0; i < 255; i++) value = (value as unknown[])[0] as typeof value;
        expect(value).to.equal(n);
      }
      const tooDeep = await pool.run(job('export default () => { let v = 1; for (let i = 0; i < 300; i++) v = [v]; return v; }'));
      expect(tooDeep).to.deep.include({ ok: false, error: `result is not a JSON value: $${'[0]'.repeat(256)}: nested deeper than 256 levels` });
      expect(pool.stats()).to.deep.include({ restarts: 0, processes: 1 });
    } finally {
      await pool.close();
    }
  });

  it('reports a message that cannot be sent instead of throwing', async () => {
    const child = fork('-e', [], { execArgv: ['-e', 'process.on("disconnect", () => process.exit(0))'], serialization: 'advanced', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    try {
      const errors: Error[] = [];
      expect(trySend(child, { value: () => 1 } as never, (error) => errors.push(error))).to.equal(false);
      expect(errors.map((e) => e.message)).to.deep.equal(['() => 1 could not be cloned.']);
      expect(trySend(child, { value: [1, 'two'] })).to.equal(true);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
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

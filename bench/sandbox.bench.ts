// npm run bench:sandbox — cost of one sandboxed run of a trivial function: the in-process runner, the
// process pool (when lib/sandbox/pool.ts exists), a fresh Node process per run and a fresh node:vm context per run.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import vm from 'node:vm';
import { createSandboxRunner, type SandboxJob, type SandboxRunner } from '../lib/sandbox/runner.ts';

const CODE = 'export default (input) => input.n + 1';
const SCRIPT = 'globalThis.f = (input) => input.n + 1'; // the same function as a classic script, for node:vm
const INPUT = { n: 41 };
const TIMEOUT_MS = 1000;
const IN_FLIGHT = 8;

interface Result { name: string; runsPerSec: number; p50Ms: number; p99Ms: number }

const job: SandboxJob = {
  codeKey: 'bench-add-one',
  code: CODE,
  input: INPUT,
  context: { requestId: 'req_bench', projectId: 'prj_bench', round: 1, seed: 'ab'.repeat(32), acceptedAtMs: Date.now(), secrets: {} },
  limits: { timeoutMs: TIMEOUT_MS, memoryMb: 64, outputBytes: 65536, logLines: 100, logBytes: 65536 },
};

function check(value: unknown, name: string): void {
  if (value !== 42) throw new Error(`${name}: expected 42, got ${JSON.stringify(value)}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Runs `fn` `warmup` times, then `runs` times with at most `inFlight` at once; times each run and the whole batch. */
async function measure(name: string, warmup: number, runs: number, inFlight: number, fn: () => Promise<unknown>): Promise<Result> {
  for (let i = 0; i < warmup; i++) check(await fn(), name);
  const times: number[] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < runs) {
      started++;
      const t0 = process.hrtime.bigint();
      const value = await fn();
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      check(value, name);
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
  times.sort((a, b) => a - b);
  return { name, runsPerSec: (runs * 1000) / totalMs, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99) };
}

const viaRunner = (runner: SandboxRunner) => async (): Promise<unknown> => {
  const outcome = await runner.run(job);
  if (!outcome.ok) throw new Error(`sandbox run failed: ${outcome.error}`);
  return outcome.value;
};

// Baseline A: what a classic function runner does: one new Node process per run, code and input on argv.
const CHILD = `
import('data:text/javascript,' + encodeURIComponent(process.argv[1])).then(
  async (m) => process.stdout.write(JSON.stringify({ ok: true, value: await m.default(JSON.parse(process.argv[2])) })),
  (e) => process.stdout.write(JSON.stringify({ ok: false, error: String(e) })),
);`;

function freshProcess(): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD, CODE, JSON.stringify(INPUT)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS * 5);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      try {
        const result = JSON.parse(out) as { ok: boolean; value?: unknown; error?: string };
        if (!result.ok || code !== 0) throw new Error(`child failed (exit ${code}): ${result.error ?? out}`);
        resolve(result.value);
      } catch (error) {
        reject(error);
      }
    });
  });
}

// Baseline B: node:vm, a fresh context and a freshly compiled script per run, JSON in and out like the others.
async function freshVmContext(): Promise<unknown> {
  const ctx = vm.createContext({ inputJson: JSON.stringify(INPUT) });
  const json = new vm.Script(`${SCRIPT};\nJSON.stringify(f(JSON.parse(inputJson)))`).runInContext(ctx, { timeout: TIMEOUT_MS }) as string;
  return JSON.parse(json);
}

const results: Result[] = [];
const notes: string[] = [];

const runner = createSandboxRunner();
try {
  results.push(await measure('in-process runner, sequential', 200, 2000, 1, viaRunner(runner)));
  results.push(await measure(`in-process runner, ${IN_FLIGHT} in flight`, 100, 2000, IN_FLIGHT, viaRunner(runner)));
} finally {
  await runner.close();
}

const poolUrl = new URL('../lib/sandbox/pool.ts', import.meta.url);
if (existsSync(poolUrl)) {
  let pool: SandboxRunner | undefined;
  try {
    const mod = (await import(poolUrl.href)) as { createSandboxPool?: (options: { size: number }) => SandboxRunner };
    if (typeof mod.createSandboxPool !== 'function') throw new Error('lib/sandbox/pool.ts does not export createSandboxPool');
    const size = Math.max(2, availableParallelism());
    pool = mod.createSandboxPool({ size });
    results.push(await measure(`pool (${size} processes), sequential`, 200, 1000, 1, viaRunner(pool)));
    results.push(await measure(`pool (${size} processes), ${IN_FLIGHT} in flight`, 100, 1000, IN_FLIGHT, viaRunner(pool)));
  } catch (error) {
    notes.push(`pool: skipped after an error: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await pool?.close();
  }
} else {
  notes.push('pool: skipped (lib/sandbox/pool.ts does not exist)');
}

results.push(await measure('baseline A: fresh node process per run', 5, 40, 1, freshProcess));
results.push(await measure('baseline B: fresh node:vm context per run', 200, 2000, 1, freshVmContext));

const base = results[0];
const vmBase = results[results.length - 1];
const ratio = (r: Result): string => {
  const x = r.p50Ms / base.p50Ms;
  return x >= 1 ? `${x.toFixed(1)}x slower` : `${(1 / x).toFixed(1)}x faster`;
};

console.log(`node ${process.version}, ${new Date().toISOString()}`);
console.log(`${'run of (input) => input.n + 1'.padEnd(44)} ${'runs/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}   p50 vs in-process sequential`);
for (const r of results) {
  const vs = r === base ? '1.0x (reference)' : ratio(r);
  console.log(`${r.name.padEnd(44)} ${r.runsPerSec.toFixed(0).padStart(9)} ${r.p50Ms.toFixed(3).padStart(9)} ${r.p99Ms.toFixed(3).padStart(9)}   ${vs}`);
}
for (const note of notes) console.log(note);
console.log(`overhead per run over the vm baseline: ${(base.p50Ms - vmBase.p50Ms).toFixed(3)} ms at p50`);

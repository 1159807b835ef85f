// npm run bench:sandbox — CPU, throughput and latency of one sandboxed run of a trivial function: the
// process pool (what executors use; runs back to back, 8 in flight, and one every 20 ms, as an
// executor's sandbox processes see them at a gateway's usual rates), the in-process runner, and a fresh
// node:vm context per run (the floor's baseline), alternated in one invocation and printed side by
// side as ratios to node:vm.
// BENCH_BASELINE_SANDBOX=<dir> adds the pool of another copy of lib/sandbox (e.g. an older commit's);
// BENCH_CODE_KB=<n> puts about n KB of never-called helper functions in front of the function.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import vm from 'node:vm';
import { createSandboxPool } from '../lib/sandbox/pool.ts';
import { createSandboxRunner, type SandboxJob, type SandboxRunner } from '../lib/sandbox/runner.ts';

const PADDING = Array.from({ length: Math.ceil(((Number(process.env.BENCH_CODE_KB) || 0) * 1024) / 70) }, (_, i) => `function helper${i}(a) { return [a, ${i}].map((v) => v * 2).join(','); }\n`).join('');
const CODE = `${PADDING}export default (input) => input.n + 1`;
const SCRIPT = `${PADDING}globalThis.f = (input) => input.n + 1`; // the same function as a classic script, for node:vm
const INPUT = { n: 41 };
const TIMEOUT_MS = 1000;
const IN_FLIGHT = 8;
const RUNS = Number(process.env.BENCH_RUNS) || 2000;
const REPETITIONS = Number(process.env.BENCH_REPETITIONS) || 5;
const POOL_SIZE = 2;
/** Paced subjects: runs per repetition, and the time between one run's end and the next one's start (ms). */
const PACED_RUNS = Number(process.env.BENCH_PACED_RUNS) || 200;
const GAP_MS = 20;
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface Sample { runsPerSec: number; p50Ms: number; p99Ms: number; cpuMsPerRun: number; processCpuMsPerRun: number }
/** `gapMs`: one run at a time, each `gapMs` after the last one ended (PACED_RUNS of them): a process that was idle between runs. */
interface Subject { name: string; inFlight: number; gapMs?: number; run: () => Promise<unknown>; processIds: () => number[] }

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

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// CPU time (ms) of this process (every thread) and of the given child processes (utime + stime, every thread).
function cpuMs(processIds: number[]): { own: number; children: number } {
  const own = process.cpuUsage();
  let children = 0;
  for (const pid of processIds) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    children += (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  }
  return { own: (own.user + own.system) / 1000, children };
}

/** Runs `subject` RUNS times (PACED_RUNS when paced) with at most `inFlight` at once: throughput, latency and CPU per run (ours and its processes'). */
async function measure(subject: Subject): Promise<Sample> {
  const processIds = subject.processIds();
  const runs = subject.gapMs === undefined ? RUNS : PACED_RUNS;
  const times: number[] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < runs) {
      started++;
      if (subject.gapMs !== undefined) await new Promise((resolve) => setTimeout(resolve, subject.gapMs));
      const t0 = performance.now();
      const value = await subject.run();
      times.push(performance.now() - t0);
      check(value, subject.name);
    }
  };
  const cpu0 = cpuMs(processIds);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: subject.inFlight }, worker));
  const totalMs = performance.now() - t0;
  const cpu1 = cpuMs(processIds);
  const children = cpu1.children - cpu0.children;
  const cpu = cpu1.own - cpu0.own + children;
  if (subject.processIds().join() !== processIds.join()) throw new Error(`${subject.name}: a sandbox process was replaced during the measurement`);
  times.sort((a, b) => a - b);
  // A paced subject's rate is its gap's: none is given.
  const runsPerSec = subject.gapMs === undefined ? (runs * 1000) / totalMs : NaN;
  return { runsPerSec, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), cpuMsPerRun: cpu / runs, processCpuMsPerRun: children / runs };
}

const viaRunner = (runner: SandboxRunner) => async (): Promise<unknown> => {
  const outcome = await runner.run(job);
  if (!outcome.ok) throw new Error(`sandbox run failed: ${outcome.error}`);
  return outcome.value;
};

// The baseline: node:vm, a fresh context and a freshly compiled script per run, JSON in and out like the sandbox.
async function freshVmContext(): Promise<unknown> {
  const ctx = vm.createContext({ inputJson: JSON.stringify(INPUT) });
  const json = new vm.Script(`${SCRIPT};\nJSON.stringify(f(JSON.parse(inputJson)))`).runInContext(ctx, { timeout: TIMEOUT_MS }) as string;
  return JSON.parse(json);
}

type Pool = SandboxRunner & { processIds(): number[] };
const pool = createSandboxPool({ size: POOL_SIZE });
const runner = createSandboxRunner();
const none = (): number[] => [];
const poolSubjects = (name: string, p: Pool): Subject[] => [
  { name: `${name} (${POOL_SIZE} processes), sequential`, inFlight: 1, run: viaRunner(p), processIds: p.processIds },
  { name: `${name} (${POOL_SIZE} processes), ${IN_FLIGHT} in flight`, inFlight: IN_FLIGHT, run: viaRunner(p), processIds: p.processIds },
  { name: `${name} (${POOL_SIZE} processes), every ${GAP_MS} ms`, inFlight: 1, gapMs: GAP_MS, run: viaRunner(p), processIds: p.processIds },
];
const baselineDir = process.env.BENCH_BASELINE_SANDBOX;
const baseline = baselineDir ? ((await import(`${baselineDir}/pool.ts`)) as { createSandboxPool(o: { size: number }): Pool }).createSandboxPool({ size: POOL_SIZE }) : undefined;
const subjects: Subject[] = [
  { name: 'node:vm fresh context, sequential', inFlight: 1, run: freshVmContext, processIds: none },
  { name: `node:vm fresh context, every ${GAP_MS} ms`, inFlight: 1, gapMs: GAP_MS, run: freshVmContext, processIds: none },
  ...poolSubjects('pool', pool),
  ...(baseline ? poolSubjects('baseline pool', baseline) : []),
  { name: 'in-process runner, sequential', inFlight: 1, run: viaRunner(runner), processIds: none },
];
const samples = new Map<Subject, Sample[]>(subjects.map((s) => [s, []]));
try {
  for (const subject of subjects) for (let i = 0; i < 300; i++) check(await subject.run(), subject.name);
  for (let r = 0; r < REPETITIONS; r++) for (const subject of subjects) samples.get(subject)!.push(await measure(subject));
} finally {
  await Promise.all([pool.close(), runner.close(), baseline?.close()]);
}

// Each row's ratios are to node:vm run the same way: a paced row's to node:vm paced (subjects[1]), any other's to node:vm back to back.
const vmOf = (subject: Subject) => subjects[subject.gapMs === undefined ? 0 : 1];
const summary = subjects.map((subject) => {
  const all = samples.get(subject)!;
  const pick = (field: keyof Sample) => median(all.map((s) => s[field]));
  return { subject, cpuMsPerRun: pick('cpuMsPerRun'), processCpuMsPerRun: pick('processCpuMsPerRun'), runsPerSec: pick('runsPerSec'), p50Ms: pick('p50Ms'), p99Ms: pick('p99Ms'), cpuRatios: all.map((s, i) => s.cpuMsPerRun / samples.get(vmOf(subject))![i].cpuMsPerRun) };
});
console.log(`node ${process.version}, ${new Date().toISOString()}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`run of (input) => input.n + 1 (code of ${(CODE.length / 1024).toFixed(1)} KB); medians of ${REPETITIONS} alternating repetitions of ${RUNS} runs (${PACED_RUNS}, one at a time, for the rows "every ${GAP_MS} ms": a run ${GAP_MS} ms after the last one ended, their CPU the idle time's too, compared with node:vm paced the same way); CPU counts this process and the pool's processes (in pool: the processes' share, in clock ticks of ${TICK_MS} ms)`);
console.log(`${''.padEnd(44)} ${'CPU ms/run'.padStart(10)} ${'in pool'.padStart(7)} ${'vs vm'.padStart(6)} ${'runs/s'.padStart(7)} ${'vs vm'.padStart(6)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}   CPU vs vm per repetition`);
for (const s of summary) {
  const vmSummary = summary[subjects.indexOf(vmOf(s.subject))];
  const cpuRatio = (s.cpuMsPerRun / vmSummary.cpuMsPerRun).toFixed(2);
  const rateRatio = (s.runsPerSec / vmSummary.runsPerSec).toFixed(2);
  const perRepetition = s.cpuRatios.map((r) => r.toFixed(2)).join(' ');
  const rate = Number.isFinite(s.runsPerSec) ? [s.runsPerSec.toFixed(0), rateRatio] : ['-', '-'];
  console.log(`${s.subject.name.padEnd(44)} ${s.cpuMsPerRun.toFixed(3).padStart(10)} ${s.processCpuMsPerRun.toFixed(3).padStart(7)} ${cpuRatio.padStart(6)} ${rate[0].padStart(7)} ${rate[1].padStart(6)} ${s.p50Ms.toFixed(3).padStart(7)} ${s.p99Ms.toFixed(3).padStart(7)}   ${perRepetition}`);
}

// npm run bench:simulate — what `gateway simulate` costs over the bare sandbox runs it wraps, in one
// invocation, alternated: a simulated committee of k (fresh runner per call, as the CLI's one call
// per process has: cold isolates, the upload check, k signed votes, the tally) against k bare runs
// of the same code on a fresh runner (the cold runs alone). Wall-clock and CPU ms per call, ratios.
import { loadavg } from 'node:os';
import { createSandboxRunner } from '../lib/sandbox/runner.ts';
import { simulate } from '../lib/simulate/simulate.ts';

const CODE = 'export default (input) => ({ sum: input.a + input.b })';
const INPUT = { a: 40, b: 2 };
const CALLS = Number(process.env.BENCH_CALLS) || 40;
const REPETITIONS = Number(process.env.BENCH_REPETITIONS) || 3;
const CONTEXT = { requestId: 'req_bench', projectId: 'prj_bench', round: 1, seed: 'ab'.repeat(32), acceptedAtMs: 0, secrets: {} };
const LIMITS = { timeoutMs: 5000, memoryMb: 64, outputBytes: 65536, logLines: 100, logBytes: 65536 };

interface Sample { wallMs: number; cpuMs: number }

async function measure(call: () => Promise<void>): Promise<Sample> {
  await call(); // warm the module graph and the JIT, not the runners: each call makes its own
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) await call();
  const used = process.cpuUsage(cpu);
  return { wallMs: (performance.now() - started) / CALLS, cpuMs: (used.user + used.system) / 1000 / CALLS };
}

async function bareRuns(k: number): Promise<void> {
  const runner = createSandboxRunner();
  try {
    for (let i = 0; i < k; i++) {
      const outcome = await runner.run({ codeKey: 'bench', code: CODE, input: INPUT, context: CONTEXT, limits: LIMITS });
      if (!outcome.ok) throw new Error(outcome.error);
    }
  } finally {
    await runner.close();
  }
}

async function simulated(k: number): Promise<void> {
  const result = await simulate({ code: CODE, input: INPUT, nodes: k });
  if (result.outcome.status !== 'agreed') throw new Error('no agreement');
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

console.log(`bench:simulate — node ${process.version}, load average ${loadavg().map((n) => n.toFixed(2)).join(' ')}; ${REPETITIONS} repetitions of ${CALLS} calls each, alternated`);
for (const k of [1, 3]) {
  const ratios = { wall: [] as number[], cpu: [] as number[] };
  const rows: string[] = [];
  for (let r = 0; r < REPETITIONS; r++) {
    const first = r % 2 === 0;
    const a = first ? await measure(() => bareRuns(k)) : undefined;
    const s = await measure(() => simulated(k));
    const b = a ?? (await measure(() => bareRuns(k)));
    ratios.wall.push(s.wallMs / b.wallMs);
    ratios.cpu.push(s.cpuMs / b.cpuMs);
    rows.push(`  rep ${r + 1}: simulate ${s.wallMs.toFixed(2)} ms wall, ${s.cpuMs.toFixed(2)} ms CPU; bare ${b.wallMs.toFixed(2)} ms wall, ${b.cpuMs.toFixed(2)} ms CPU`);
  }
  console.log(`committee of ${k}:`);
  for (const row of rows) console.log(row);
  console.log(`  median ratio simulate / bare runs: wall ${median(ratios.wall).toFixed(2)} (${ratios.wall.map((x) => x.toFixed(2)).join(', ')}), CPU ${median(ratios.cpu).toFixed(2)} (${ratios.cpu.map((x) => x.toFixed(2)).join(', ')})`);
}
console.log(`load average at the end ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);

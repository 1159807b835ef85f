// A worker in a process of its own, started by recovery tests: a real `startWorker` (the tuned lock and
// stall settings) on one queue whose handler says "taken <jobId>" on stdout, then either never ends
// (WORKER_MODE=hang: the test kills the process mid-job) or keeps its event loop blocked in 1 s slices
// for WORKER_BUSY_MS before it returns `raced` (WORKER_MODE=busy: a live but slow worker on a busy machine).
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { openProcess } from '../../lib/process.ts';
import { startWorker, systemClock } from '../../lib/runtime/common.ts';

const env = process.env;
const config = loadConfig(env);
const ctx = await openProcess('worker-child', config, env.REDIS_URL!, createLogger('worker-child', 'silent'));
const base = { ...ctx, clock: systemClock };
const mode = env.WORKER_MODE ?? 'hang';
const busyMs = Number(env.WORKER_BUSY_MS ?? 6000);

async function take(jobId: string | undefined): Promise<'raced'> {
  process.stdout.write(`taken ${jobId}\n`);
  if (mode === 'hang') await new Promise(() => undefined);
  const until = Date.now() + busyMs;
  while (Date.now() < until) {
    const sliceEnd = Math.min(until, Date.now() + 1000);
    while (Date.now() < sliceEnd) { /* a blocked event loop: no timer, no lock renewal runs now */ }
    // Between slices the loop turns once, as on a loaded machine.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return 'raced';
}

if (env.WORKER_QUEUE === 'exec') {
  startWorker(base, 'exec', {
    run: async (_payload, job) => {
      await take(job.id);
      return 'not_assigned';
    },
  }, { nodeId: env.WORKER_NODE_ID!, concurrency: 1 });
} else {
  startWorker(base, 'incoming', { request: (_payload, job) => take(job.id) }, { concurrency: 1 });
}
process.stdout.write('ready\n');

// A sandbox process of the pool: runs jobs from its parent over IPC in its own sandbox runner,
// so a crashed V8 or an aborted allocation costs this process, never the executor.
import { createSandboxRunner, SandboxLostError, type SandboxJob } from './runner.ts';
import type { ChildMessage, ParentMessage } from './pool.ts';

// Local-time Date methods in user code must agree across committee members on any host.
process.env.TZ = 'UTC';

const runner = createSandboxRunner({
  maxRunsPerIsolate: Number(process.argv[2]) || undefined,
  heapRecycleRatio: Number(process.argv[3]) || undefined,
});

// The parent may be gone by the time an answer is ready: a failed send is not this process's problem.
const send = (message: ChildMessage) => {
  if (process.connected) process.send!(message, undefined, {}, () => undefined);
};

process.on('message', (message: ParentMessage) => {
  if (message.type !== 'run') return;
  const { id, job } = message;
  runner.run(job as SandboxJob).then(
    (outcome) => send({ type: 'result', id, outcome }),
    (error: unknown) => send({ type: error instanceof SandboxLostError ? 'lost' : 'error', id, message: (error as Error)?.message ?? String(error) }),
  );
});

// The parent went away: nothing left to serve.
process.on('disconnect', () => {
  void runner.close().finally(() => process.exit(0));
});

send({ type: 'ready' });

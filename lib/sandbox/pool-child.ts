// A sandbox process of the pool: runs jobs from its parent over IPC in its own sandbox runner,
// so a crashed V8 or an aborted allocation costs this process, never the executor.
import { failedOutcome } from './outcome.ts';
import { createSandboxRunner, SandboxLostError, type SandboxJob } from './runner.ts';
import type { ChildMessage, ParentMessage } from './pool.ts';
import { trySend } from './sandbox-process.ts';

const runner = createSandboxRunner({
  maxRunsPerIsolate: Number(process.argv[2]) || undefined,
  heapRecycleRatio: Number(process.argv[3]) || undefined,
});

// The parent may be gone by the time an answer is ready: a failed send is not this process's problem.
// An answer that cannot be serialized becomes an error result, so the run still gets a vote.
const answer = (message: ChildMessage) => {
  if (trySend(process, message)) return;
  if (message.type === 'result') trySend(process, { type: 'result', id: message.id, outcome: failedOutcome('the result could not be delivered to the executor', message.outcome.durationMs) });
};

process.on('message', (message: ParentMessage) => {
  if (message?.type !== 'run') return;
  const { id, job } = message;
  runner.run(job as SandboxJob).then(
    (outcome) => answer({ type: 'result', id, outcome }),
    (error: unknown) => answer({ type: error instanceof SandboxLostError ? 'lost' : 'error', id, message: (error as Error)?.message ?? String(error) }),
  );
});

// The parent went away: nothing left to serve.
process.on('disconnect', () => {
  void runner.close().finally(() => process.exit(0));
});

trySend(process, { type: 'ready' });

// A sandbox process of the pool: runs jobs from its parent over IPC in its own sandbox runner,
// so a crashed V8 or an aborted allocation costs this process, never the executor. It keeps the
// code texts it was sent by code id (bounded) and asks for a text it no longer has.
import { createLruMap } from './lru-map.ts';
import { failedOutcome } from './outcome.ts';
import { createSandboxRunner, SandboxLostError } from './runner.ts';
import type { ChildMessage, ParentMessage } from './pool.ts';
import { trySend } from './sandbox-process.ts';

const MAX_CODE_CHARS = 64 * 2 ** 20;

const runner = createSandboxRunner({
  maxRunsPerIsolate: Number(process.argv[2]) || undefined,
  heapRecycleRatio: Number(process.argv[3]) || undefined,
});
const codes = createLruMap<number, string>({ maxEntries: Number(process.argv[4]) || 128, maxBytes: MAX_CODE_CHARS, sizeOf: (code) => code.length });

// The parent may be gone by the time an answer is ready: a failed send is not this process's problem.
// An answer that cannot be serialized becomes an error result, so the run still gets a vote.
const answer = (message: ChildMessage) => {
  if (trySend(process, message)) return;
  if (message.type === 'result') trySend(process, { type: 'result', id: message.id, outcome: failedOutcome('the result could not be delivered to the executor', message.outcome.durationMs) });
};

process.on('message', (message: ParentMessage) => {
  if (message?.type !== 'run') return;
  const { id, codeId, job } = message;
  if (typeof message.code === 'string') codes.set(codeId, message.code);
  const code = codes.get(codeId);
  if (code === undefined) return answer({ type: 'unknown-code', id });
  // The code id names one exact text (the parent gives other text under the same key a new id).
  // The envelope goes on unparsed: the parent parses and checks it, once.
  runner.runRaw({ ...job, codeKey: String(codeId), code }).then(
    (raw) => answer('envelope' in raw ? { type: 'envelope', id, envelope: raw.envelope, durationMs: raw.durationMs } : { type: 'result', id, outcome: raw }),
    (error: unknown) => answer({ type: error instanceof SandboxLostError ? 'lost' : 'error', id, message: (error as Error)?.message ?? String(error) }),
  );
});

// The parent went away: nothing left to serve.
process.on('disconnect', () => {
  void runner.close().finally(() => process.exit(0));
});

trySend(process, { type: 'ready' });

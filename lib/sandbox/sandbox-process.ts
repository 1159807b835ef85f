// Starting a sandbox child process: a scrubbed environment, no inherited output, IPC that never throws.
import { fork, type ChildProcess, type Serializable } from 'node:child_process';

/**
 * Forks `script` for sandbox work. The child gets no environment of ours (no master key, admin
 * token, chain mnemonic or Redis URL: only TZ=UTC, so local-time Date methods agree on every host),
 * no stdin or stdout, and a stderr that is counted but never copied into operator logs, since what a
 * crashing V8 prints may quote user values. `onStderrBytes` hears how much it wrote.
 */
export function forkSandboxProcess(script: string, args: readonly string[], onStderrBytes?: (bytes: number) => void): ChildProcess {
  const child = fork(script, [...args], {
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    execArgv: [],
    env: { TZ: 'UTC' },
  });
  child.stderr?.on('data', (chunk: Buffer) => onStderrBytes?.(chunk.length));
  child.on('error', () => undefined);
  return child;
}

/**
 * Sends one message; false when it could not be sent (the channel is closed, or the value cannot be
 * serialized). Never throws: a failed send is the caller's decision, not a crash.
 */
export function trySend(target: { send?: ChildProcess['send']; connected?: boolean }, message: Serializable, onError: (error: Error) => void = () => undefined): boolean {
  if (!target.send || target.connected === false) return false;
  try {
    target.send(message, undefined, {}, (error) => {
      if (error) onError(error);
    });
    return true;
  } catch (error) {
    onError(error as Error);
    return false;
  }
}

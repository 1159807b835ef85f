// A fixed-size set of supervised sandbox child processes: spawn, ready handshake, kill, replace on
// exit, and close (disconnect or SIGKILL, then wait for every exit). What runs on them is the caller's.
import type { ChildProcess, Serializable } from 'node:child_process';
import { setPriority } from 'node:os';
import { forkSandboxProcess, trySend } from './sandbox-process.ts';

/** The reason a process is replaced when a message to it could not be sent. */
export const IPC_ERROR = 'ipc error';

// How long a process told to disconnect may take to exit before it is killed.
const DISCONNECT_GRACE_MS = 2000;

/** One supervised process: the caller's fields `S`, its child, and whether it said it is ready. */
export type Supervised<S> = S & { readonly child: ChildProcess; isReady: boolean };

export interface SupervisorOptions<S> {
  readonly script: string;
  readonly args?: readonly string[];
  /** Number of processes kept running. */
  readonly size: number;
  /** Niceness of each process, where the platform permits it. */
  readonly niceness?: number;
  /** How close() stops a process: `disconnect` lets it wind down (SIGKILL after 2 s), `kill` sends SIGKILL. */
  readonly closeBy: 'disconnect' | 'kill';
  /** The caller's fields of a new process. */
  readonly createState: () => S;
  /** The process sent `{type: 'ready'}`. */
  readonly onReady: (member: Supervised<S>) => void;
  /** Any other message, unchecked: the process may run user code. */
  readonly onMessage: (member: Supervised<S>, message: unknown) => void;
  /** The process exited or was killed (once per process); it is already out of the set, and is replaced after this returns unless closed. */
  readonly onExit: (member: Supervised<S>, reason: string) => void;
  /** Called with the reason whenever a process is replaced. */
  readonly onRestart?: (reason: string) => void;
  /** Called with the byte count whenever a process writes to stderr. */
  readonly onStderrBytes?: (bytes: number) => void;
}

export interface Supervisor<S> {
  /** The live processes, oldest first. */
  readonly processes: ReadonlySet<Supervised<S>>;
  readonly restarts: number;
  readonly isClosed: boolean;
  /** Sends a message; a process whose channel is broken is killed with reason `ipc error`. */
  send(member: Supervised<S>, message: Serializable): void;
  /** Kills the process (SIGKILL) and handles its exit now, with `reason`. Idempotent. */
  kill(member: Supervised<S>, reason: string): void;
  /** Stops replacing processes, stops every live one and resolves when all have exited. Idempotent. */
  close(): Promise<void>;
}

interface SupervisorState<S> {
  readonly options: SupervisorOptions<S>;
  readonly processes: Set<Supervised<S>>;
  restarts: number;
  isClosed: boolean;
}

/** Starts `size` processes of `script` and keeps that many running until close(). */
export function createSupervisor<S extends object>(options: SupervisorOptions<S>): Supervisor<S> {
  const state: SupervisorState<S> = { options, processes: new Set(), restarts: 0, isClosed: false };
  for (let i = 0; i < options.size; i++) spawn(state);
  return {
    processes: state.processes,
    get restarts() {
      return state.restarts;
    },
    get isClosed() {
      return state.isClosed;
    },
    send(member, message) {
      // A message that cannot be sent means a broken channel: the process is replaced.
      const broken = () => kill(state, member, IPC_ERROR);
      if (!trySend(member.child, message, broken)) broken();
    },
    kill: (member, reason) => kill(state, member, reason),
    close: () => close(state),
  };
}

function spawn<S>(state: SupervisorState<S>): void {
  const { options } = state;
  const child = forkSandboxProcess(options.script, options.args ?? [], options.onStderrBytes);
  if (options.niceness !== undefined) renice(child, options.niceness);
  const member: Supervised<S> = { ...options.createState(), child, isReady: false };
  child.on('message', (message: unknown) => {
    if (!isReadyMessage(message)) return options.onMessage(member, message);
    member.isReady = true;
    options.onReady(member);
  });
  child.once('exit', (code, signal) => exited(state, member, signal ? `signal ${signal}` : `exit code ${code}`));
  state.processes.add(member);
}

function isReadyMessage(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ready';
}

function renice(child: ChildProcess, niceness: number): void {
  try {
    if (child.pid !== undefined) setPriority(child.pid, niceness);
  } catch {
    // not permitted here: the caller's deadlines still bound the process
  }
}

function kill<S>(state: SupervisorState<S>, member: Supervised<S>, reason: string): void {
  member.child.kill('SIGKILL');
  exited(state, member, reason);
}

// Runs once per process: a kill handles the exit at once, and the 'exit' event that follows is ignored.
function exited<S>(state: SupervisorState<S>, member: Supervised<S>, reason: string): void {
  if (!state.processes.delete(member)) return;
  state.options.onExit(member, reason);
  if (state.isClosed) return;
  state.restarts++;
  state.options.onRestart?.(reason);
  spawn(state);
}

async function close<S>(state: SupervisorState<S>): Promise<void> {
  if (state.isClosed) return;
  state.isClosed = true;
  await Promise.all([...state.processes].map((member) => stop(member.child, state.options.closeBy)));
}

function stop(child: ChildProcess, closeBy: 'disconnect' | 'kill'): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = closeBy === 'disconnect' ? setTimeout(() => child.kill('SIGKILL'), DISCONNECT_GRACE_MS) : undefined;
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (closeBy === 'disconnect') child.disconnect();
    else child.kill('SIGKILL');
  });
}

// The gateway's roles as child processes for end-to-end tests: start them, wait until the API is up
// and enough nodes hold tickets, stop them (SIGTERM, then SIGKILL after a grace), and read what each said.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { waitFor } from './gateway.ts';
import type { Reply } from './http.ts';

const ROOT = join(import.meta.dirname, '../..');

/** One started process: its name, the child and everything it printed (stdout and stderr). */
export interface RoleProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly output: string[];
}

export interface RoleProcesses {
  readonly started: readonly RoleProcess[];
  /** Starts `entrypoints/<role>.ts`, or a script given by path, with `env` over this process's environment (or over only PATH with `cleanEnv`). */
  start(name: string, roleOrScript: string, env: Record<string, string>, options?: { cleanEnv?: boolean }): void;
  /** SIGTERM to every process still running, SIGKILL after `graceMs`; resolves once all exited. */
  stopAll(graceMs?: number): Promise<void>;
  /** Stops every process and expects each to have exited with code 0 (the output of one that did not, in the message). */
  expectCleanStop(): Promise<void>;
  /** The tail of each process's output, for a failure message. */
  describe(): string;
}

export function createRoleProcesses(): RoleProcesses {
  const started: RoleProcess[] = [];
  const stop = (child: ChildProcess, graceMs: number) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
  const stopAll = (graceMs = 10_000) => Promise.all(started.map(({ child }) => stop(child, graceMs))).then(() => undefined);
  return {
    started,
    start(name, roleOrScript, env, options = {}) {
      const script = roleOrScript.endsWith('.ts') ? roleOrScript : join(ROOT, 'entrypoints', `${roleOrScript}.ts`);
      const base = options.cleanEnv ? { PATH: process.env.PATH ?? '' } : process.env;
      const child = spawn(process.execPath, [script], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const output: string[] = [];
      child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
      child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
      started.push({ name, child, output });
    },
    stopAll,
    async expectCleanStop() {
      await stopAll();
      for (const { name, child, output } of started) expect(child.exitCode, `${name}: ${output.join('').slice(-2000)}`).to.equal(0);
    },
    describe: () => started.map(({ name, output }) => `--- ${name}\n${output.join('').slice(-3000)}`).join('\n'),
  };
}

type Call = (method: string, path: string) => Promise<Reply>;

/** Waits until the webserver answers `GET /readyz` with 200 (a refused connection is "not yet"). */
export async function waitForWebserver(call: Call, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    try {
      return (await call('GET', '/readyz')).status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  }, timeoutMs, 'the webserver');
}

/** Waits until the round before the latest froze with `count` tickets: committees of `count` can be drawn. */
export async function waitForTicketedNodes(call: Call, count: number, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    const latest = await call('GET', '/v1/rounds/latest');
    if (latest.status !== 200) return undefined;
    const previous = await call('GET', `/v1/rounds/${latest.body.round - 1}`);
    return previous.status === 200 && previous.body.tickets.length === count ? true : undefined;
  }, timeoutMs, `${count} ticketed nodes`);
}

// What the benchmarks share: the load client in a process of its own, gateway processes that log to
// files, medians, number cells and markdown tables, so that every bench prints its figures the same way.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadPlan, LoadReport } from './load-client.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The median (the mean of the middle two for an even count). */
export const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** A figure with `digits` decimals, or '-' when there is none (NaN, Infinity). */
export const format = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

/** Runs the load client in a process of its own (it never shares the measured event loop) and returns its report. */
export function runLoadClient(plan: LoadPlan): Promise<LoadReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'load-client.ts'), JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadReport) : reject(new Error(`load client exited with ${code}`))));
  });
}

/**
 * Starts `node <script>` with its output (stdout and stderr) appended to `logFile`, so that no process
 * of the bench reads its lines while it measures (a pipe read line by line costs the bench CPU on
 * the same cores).
 */
export function spawnLogged(script: string, env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const log = openSync(logFile, 'a', 0o600);
  try {
    return spawn(process.execPath, [script], { env, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
}

/** The last `count` lines of a log file (none when it is missing), for a post-mortem. */
export function lastLines(file: string, count: number): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(-count).join('\n') : '';
}

/** Prints a markdown table, every column as wide as its widest cell. */
export function printMarkdownTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c]!.length)));
  const line = (row: readonly string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

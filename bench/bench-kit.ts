// What the benchmarks share: the load client in a process of its own, medians, number cells and
// markdown tables, so that every bench prints its figures the same way.
import { spawn } from 'node:child_process';
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

/** Prints a markdown table, every column as wide as its widest cell. */
export function printMarkdownTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c]!.length)));
  const line = (row: readonly string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

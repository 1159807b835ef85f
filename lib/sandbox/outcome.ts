// What a run hands back, checked again on the host: the envelope the bootstrap builds, the caps every
// field must respect, and the deterministic cut of error messages that committee members hash.
import type { JsonValue } from '../crypto/canonical-json.ts';

/** Error messages are cut to this many UTF-8 bytes, at a character boundary, with `…` appended. */
export const MAX_ERROR_BYTES = 4096;

/** The file name user code is compiled under: stack frames in it are the user's own (bootstrap.ts logs them). */
export const USER_CODE_FILENAME = 'file:///user.js';

/** The line that ends a run's logs when a log limit cut them. */
export const LOG_TRUNCATED_MARKER = '… logs truncated';

/** Results nested deeper than this are refused (in the isolate and again on the host). */
export const MAX_RESULT_DEPTH = 256;

/**
 * The caps a run's outcome must respect, named as the project limits they come from (lib/limits.ts):
 * the result's UTF-8 bytes, and the log lines and their UTF-8 bytes in all. SandboxLimits and the
 * bootstrap's config carry them under these names.
 */
export interface OutcomeCaps {
  readonly outputBytes: number;
  readonly logLines: number;
  readonly logBytes: number;
}

export type SandboxOutcome =
  | { ok: true; value: JsonValue; logs: string[]; durationMs: number }
  | { ok: false; error: string; logs: string[]; durationMs: number };

/** UTF-8 length as Buffer.byteLength counts it (a lone surrogate is 3 bytes); the bootstrap counts the same way. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Cuts `text` to at most `maxBytes` UTF-8 bytes at a character boundary and appends `…`; shorter
 * text is returned as it is. The bootstrap applies the same rule inside the isolate, so a message
 * cut there is never cut again here.
 */
export function cutUtf8(text: string, maxBytes: number = MAX_ERROR_BYTES): string {
  if (text.length <= maxBytes / 3 || utf8Length(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  while (end < text.length) {
    const unit = text.charCodeAt(end);
    const isPair = unit >= 0xd800 && unit < 0xdc00 && end + 1 < text.length && (text.charCodeAt(end + 1) & 0xfc00) === 0xdc00;
    const size = isPair ? 4 : unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += isPair ? 2 : 1;
  }
  return `${text.slice(0, end)}…`;
}

/** An error outcome, its message cut to MAX_ERROR_BYTES. */
export function failedOutcome(error: string, durationMs: number, logs: string[] = []): SandboxOutcome {
  return { ok: false, error: cutUtf8(error), logs, durationMs };
}

/**
 * Re-checks an outcome that crossed a boundary (the isolate's envelope, a sandbox process's
 * message): every field's type and every cap. Anything out of shape becomes an error outcome
 * naming the broken rule; oversized logs and messages are cut, never stored as they came.
 */
export function checkOutcome(raw: unknown, caps: OutcomeCaps, durationMs: number): SandboxOutcome {
  const failed = (error: string, logs?: string[]): SandboxOutcome => failedOutcome(error, durationMs, logs);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return failed('the sandbox returned no outcome');
  const record = raw as Record<string, unknown>;
  const logs = capLogs(record.logs, caps);
  if (record.ok === false) return failed(typeof record.error === 'string' ? record.error : 'the sandbox returned an error without a message', logs);
  if (record.ok !== true || !('value' in record)) return failed('the sandbox returned no outcome', logs);
  const problem = findResultProblem(record.value, caps.outputBytes);
  if (problem) return failed(problem, logs);
  return { ok: true, value: record.value as JsonValue, logs, durationMs };
}

/** Parses the one string the bootstrap hands back (`{"logs": [...], "value": …}` or `{"logs": [...], "error": "…"}`). */
export function parseEnvelope(text: unknown, caps: OutcomeCaps, durationMs: number): SandboxOutcome {
  // The envelope can hold at most the result, the logs (each character escaped: 6 bytes) and a message.
  const bound = caps.outputBytes + 6 * (caps.logBytes + caps.logLines * 4 + 64) + 6 * MAX_ERROR_BYTES + 1024;
  if (typeof text !== 'string' || text.length > bound) return checkOutcome(null, caps, durationMs);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return checkOutcome(null, caps, durationMs);
  }
  if (typeof parsed !== 'object' || parsed === null) return checkOutcome(null, caps, durationMs);
  const envelope = parsed as Record<string, unknown>;
  return checkOutcome('error' in envelope ? { ok: false, error: envelope.error, logs: envelope.logs } : { ok: true, value: envelope.value, logs: envelope.logs }, caps, durationMs);
}

/** Keeps at most `logLines` strings of `logBytes` UTF-8 bytes in all, ending with the marker when cut. */
export function capLogs(logs: unknown, caps: Pick<OutcomeCaps, 'logLines' | 'logBytes'>): string[] {
  if (!Array.isArray(logs)) return [];
  const kept: string[] = [];
  let bytes = 0;
  let isCut = false;
  for (let i = 0; i < logs.length; i++) {
    const line = logs[i];
    if (i === logs.length - 1 && line === LOG_TRUNCATED_MARKER) {
      isCut = true;
      break;
    }
    const size = typeof line === 'string' ? utf8Length(line) : Infinity;
    if (kept.length >= caps.logLines || bytes + size > caps.logBytes) {
      isCut = true;
      break;
    }
    kept.push(line as string);
    bytes += size;
  }
  if (isCut) kept.push(LOG_TRUNCATED_MARKER);
  return kept;
}

// A JSON value within the depth and size caps, or the reason it is not (iterative: no host stack to exhaust).
function findResultProblem(value: unknown, outputBytes: number): string | null {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item === 'string' || typeof item === 'boolean') continue;
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) return 'result is not a JSON value';
      continue;
    }
    if (typeof item !== 'object') return 'result is not a JSON value';
    if (depth >= MAX_RESULT_DEPTH) return `result is not a JSON value: nested deeper than ${MAX_RESULT_DEPTH} levels`;
    const proto = Object.getPrototypeOf(item);
    if (!Array.isArray(item) && proto !== Object.prototype && proto !== null) return 'result is not a JSON value';
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return utf8Length(JSON.stringify(value)) > outputBytes ? `result exceeds ${outputBytes} bytes` : null;
}

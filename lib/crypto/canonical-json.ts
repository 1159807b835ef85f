// RFC 8785 canonical JSON (JCS) of strictly checked JSON values, and the result hash built on it.
import { createRequire } from 'node:module';
import { GatewayError } from '../errors.ts';
import { utf8 } from './bytes.ts';
import { sha256 } from './hash.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// canonicalize ships CommonJS with an ESM-style .d.ts; load it the way Node does.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

const MAX_DEPTH = 256;

/**
 * Returns why `value` is not a JSON value (a path and a reason), or null when it is one.
 * Accepts null, booleans, finite numbers, strings, arrays and plain objects, nothing else:
 * no undefined, functions, symbols, BigInt, NaN/Infinity, cycles, class instances or sparse arrays.
 */
export function findNonJson(value: unknown): string | null {
  const ancestors = new Set<object>();
  const visit = (node: unknown, path: string, depth: number): string | null => {
    if (node === null || typeof node === 'string' || typeof node === 'boolean') return null;
    if (typeof node === 'number') return Number.isFinite(node) ? null : `${path}: ${node} is not a JSON number`;
    if (typeof node !== 'object') return `${path}: a ${typeof node} is not a JSON value`;
    if (depth > MAX_DEPTH) return `${path}: nested deeper than ${MAX_DEPTH} levels`;
    if (ancestors.has(node)) return `${path}: cyclic reference`;
    const isArray = Array.isArray(node);
    const proto = Object.getPrototypeOf(node);
    if (!isArray && proto !== Object.prototype && proto !== null) return `${path}: a ${describe(node)} is not a plain object`;
    ancestors.add(node);
    try {
      if (isArray) {
        for (let i = 0; i < node.length; i++) {
          if (!(i in node)) return `${path}[${i}]: sparse array hole`;
          const reason = visit(node[i], `${path}[${i}]`, depth + 1);
          if (reason) return reason;
        }
      } else {
        for (const key of Object.keys(node)) {
          const reason = visit((node as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
          if (reason) return reason;
        }
      }
      return null;
    } finally {
      ancestors.delete(node);
    }
  };
  return visit(value, '$', 0);
}

function describe(node: object): string {
  const name = (node as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'non-plain object';
}

/** JCS of a JSON value. Throws GatewayError `invalid_value` naming the offending path otherwise. */
export function canonicalJson(value: unknown): string {
  const reason = findNonJson(value);
  if (reason) throw new GatewayError('invalid_value', `not a JSON value: ${reason}`);
  return canonicalize(value) as string;
}

/** `resultHash = H(JCS(value))` (docs/protocol.md, "Votes"). */
export function computeResultHash(value: unknown): Uint8Array {
  return sha256(utf8(canonicalJson(value)));
}

/** The value a thrown error is hashed as: `{"error": message}`. */
export function errorResult(message: string): { error: string } {
  return { error: message };
}

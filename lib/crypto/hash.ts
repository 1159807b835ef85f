// SHA-256, the hash every protocol structure uses unless docs/protocol.md names another.
import { hash } from 'node:crypto';
import { concatBytes } from './bytes.ts';

/** `H(parts[0] || parts[1] || …)`: 32-byte SHA-256. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const data = parts.length === 1 ? parts[0] : concatBytes(...parts);
  return new Uint8Array(hash('sha256', data, 'buffer'));
}

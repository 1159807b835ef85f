// Public ids (`prj_…`, `req_…`, `sch_…`): URL-safe, no ':', sortable by creation time.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export type IdKind = 'prj' | 'req' | 'sch';

/** `<kind>_` + 10 base32 characters of the time in ms + 16 of randomness (80 bits). */
export function createId(kind: IdKind, nowMs: number): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += ALPHABET[random[i] & 31];
  return `${kind}_${time}${tail}`;
}

const ID_PATTERN = /^(prj|req|sch)_[0-9a-z]{26}$/;
const NODE_ID_PATTERN = /^node_[0-9a-f]{20}$/;

/** True when `text` has the shape of an id of `kind` (cheap check before any lookup). */
export function isId(kind: IdKind | 'node', text: string): boolean {
  if (kind === 'node') return NODE_ID_PATTERN.test(text);
  const match = ID_PATTERN.exec(text);
  return match !== null && match[1] === kind;
}

/** The creation time in ms an id of `createId` carries (its first 10 characters after the kind); NaN for anything else. */
export function timeOfId(id: string): number {
  const match = ID_PATTERN.exec(id);
  if (!match) return NaN;
  let time = 0;
  for (const char of id.slice(4, 14)) time = time * 32 + ALPHABET.indexOf(char);
  return time;
}

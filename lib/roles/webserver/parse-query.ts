// Turns untrusted query strings into typed values: every parameter a route knows is checked and a bad
// one is refused with 400 `invalid_query` naming it; names a route does not know are ignored.
import { GatewayError } from '../../errors.ts';
import { isId } from '../../ids.ts';
import { assertConforms, ParsedQuery } from './api-schemas.ts';

/** `ctx.query`: a repeated name arrives as an array. */
export type QueryInput = Readonly<Record<string, unknown>>;

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
/** `?wait=` ceiling of `GET /v1/requests/:id`, in ms. */
const MAX_WAIT_MS = 30_000;
/** Largest ledger seq or round number a query may name: far past any real one, and `after + limit` stays exact. */
const MAX_SEQ = 10 ** 15;

const DECIMAL = /^[0-9]{1,16}$/;

/**
 * A decimal integer in `0..max` (ASCII digits only: no sign, exponent, hex, fraction or spaces), or
 * undefined for anything else. Also for path segments such as `/v1/rounds/:n`.
 */
export function parseDecimal(text: unknown, max = MAX_SEQ): number | undefined {
  if (typeof text !== 'string' || !DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) && value <= max ? value : undefined;
}

/** What a list cursor is per route: a request id, a ledger seq, or a project's creation time in ms. */
const CURSORS = {
  request: (text: string) => isId('req', text),
  seq: (text: string) => parseDecimal(text) !== undefined,
  timestamp: (text: string) => parseDecimal(text, 8.64e15) !== undefined,
} as const satisfies Record<string, (text: string) => boolean>;

export type CursorKind = keyof typeof CURSORS;

/** Reads one query; `done()` names every problem in `details` at once. */
function createReader(query: QueryInput) {
  const problems: string[] = [];
  /** The one value of `name`: undefined when absent; refused when repeated or empty. */
  function single(name: string): string | undefined {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') return void problems.push(`${name}: give it at most once`) as undefined;
    if (value === '') return void problems.push(`${name}: must not be empty`) as undefined;
    return value;
  }
  function integer(name: string, min: number, max: number): number | undefined {
    const raw = single(name);
    if (raw === undefined) return undefined;
    const value = parseDecimal(raw, max);
    if (value === undefined || value < min) return void problems.push(`${name}: must be an integer in ${min}..${max}`) as undefined;
    return value;
  }
  function done(): void {
    if (problems.length > 0) throw new GatewayError('invalid_query', `invalid query: ${problems.join('; ')}`, { details: problems });
  }
  return { single, integer, problem: (text: string) => void problems.push(text), done };
}

/**
 * `?limit=` (default 50, 1..500) and `?cursor=`, which must have the shape of the cursors this
 * route returns (`cursorKind`). Throws GatewayError `invalid_query`.
 */
export function parseListQuery(query: QueryInput, cursorKind: CursorKind): { limit: number; cursor?: string } {
  const reader = createReader(query);
  const limit = reader.integer('limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  const cursor = reader.single('cursor');
  if (cursor !== undefined && !CURSORS[cursorKind](cursor)) reader.problem('cursor: not a cursor this API returned');
  reader.done();
  const parsed = { limit, ...(cursor === undefined ? {} : { cursor }) };
  assertConforms(ParsedQuery.list, parsed, 'list query');
  return parsed;
}

/** `GET /v1/projects`: cursors are creation times in ms (`listProjects`). */
export function parseProjectListQuery(query: QueryInput): { limit: number; cursor?: string } {
  return parseListQuery(query, 'timestamp');
}

/** `GET /v1/ledger`: entries after `?after=` (or `?cursor=`, its `nextCursor`; not both), `?limit=` of them. */
export function parseLedgerQuery(query: QueryInput): { after: number; limit: number } {
  const reader = createReader(query);
  const limit = reader.integer('limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  const after = reader.integer('after', 0, MAX_SEQ);
  const cursor = reader.integer('cursor', 0, MAX_SEQ);
  if (query.after !== undefined && query.cursor !== undefined) reader.problem('after: give after or cursor, not both');
  reader.done();
  const parsed = { after: after ?? cursor ?? 0, limit };
  assertConforms(ParsedQuery.ledger, parsed, 'ledger query');
  return parsed;
}

/** `GET /v1/requests/:id`: `?wait=` in ms (0..30000, default 0: no long-poll). */
export function parseWaitQuery(query: QueryInput): number {
  const reader = createReader(query);
  const waitMs = reader.integer('wait', 0, MAX_WAIT_MS) ?? 0;
  reader.done();
  assertConforms(ParsedQuery.wait, waitMs, 'wait query');
  return waitMs;
}

/** `GET /v1/ledger/verify`: `?full=true|false` (default false). */
export function parseVerifyQuery(query: QueryInput): { full: boolean } {
  const reader = createReader(query);
  const full = reader.single('full');
  if (full !== undefined && full !== 'true' && full !== 'false') reader.problem('full: must be true or false');
  reader.done();
  const parsed = { full: full === 'true' };
  assertConforms(ParsedQuery.verify, parsed, 'verify query');
  return parsed;
}

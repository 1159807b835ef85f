// The simulator's fetches: recorded responses (fetch fixtures) instead of the network, and the
// per-node perturbation of `--diverge-fetch`, which makes members see slightly different numbers.
import { readFileSync } from 'node:fs';
import { GatewayError } from '../errors.ts';
import type { SandboxFetch } from '../sandbox/guarded-fetch.ts';

/**
 * One recorded response: `ctx.fetch(url, { method })` is answered with it. `method` defaults to GET,
 * `status` to 200; a `body` that is not a string is sent as its JSON text (with a JSON content-type
 * unless `headers` name one).
 */
export interface FetchFixture {
  url: string;
  method?: string;
  status?: number;
  headers?: Record<string, string>;
  body: unknown;
}

const FIXTURE_FIELDS = new Set(['url', 'method', 'status', 'headers', 'body']);

/**
 * Reads and checks a fixtures file: a JSON array of FetchFixture (or `{ "fixtures": [...] }`).
 * Throws GatewayError `not_found` when the file cannot be read, `invalid_value` naming the entry
 * and field when its content is wrong.
 */
export function loadFetchFixtures(path: string): FetchFixture[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new GatewayError('not_found', `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new GatewayError('invalid_value', `${path} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const list = !Array.isArray(parsed) && typeof parsed === 'object' && parsed !== null && 'fixtures' in parsed ? (parsed as { fixtures: unknown }).fixtures : parsed;
  if (!Array.isArray(list)) throw new GatewayError('invalid_value', `${path} must hold a JSON array of fixtures ({ "url", "method", "status", "headers", "body" })`);
  return list.map((entry, index) => parseFixture(entry, `${path}: fixture ${index}`));
}

/** Checks one fixture; `at` names it in error messages. Throws GatewayError `invalid_value`. */
export function parseFixture(entry: unknown, at: string): FetchFixture {
  const fail = (problem: string): never => {
    throw new GatewayError('invalid_value', `${at}: ${problem}`);
  };
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return fail('must be an object');
  const record = entry as Record<string, unknown>;
  for (const name of Object.keys(record)) if (!FIXTURE_FIELDS.has(name)) fail(`unknown field "${name}" (fields: ${[...FIXTURE_FIELDS].join(', ')})`);
  if (typeof record.url !== 'string') return fail('"url" must be a string');
  let url: URL;
  try {
    url = new URL(record.url);
  } catch {
    return fail(`"url" is not a URL: ${JSON.stringify(record.url.slice(0, 200))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('"url" must be an http or https URL');
  if (record.method !== undefined && (typeof record.method !== 'string' || !/^[A-Za-z]+$/.test(record.method))) fail('"method" must be an HTTP method such as "GET"');
  if (record.status !== undefined && (!Number.isInteger(record.status) || (record.status as number) < 100 || (record.status as number) > 599)) fail('"status" must be an integer from 100 to 599');
  if (record.headers !== undefined) {
    const headers = record.headers;
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers) || Object.values(headers).some((v) => typeof v !== 'string')) fail('"headers" must be an object of strings');
  }
  if (!('body' in record)) fail('"body" is missing (a JSON value, or a string sent as it is)');
  return {
    url: url.href,
    ...(record.method === undefined ? {} : { method: (record.method as string).toUpperCase() }),
    ...(record.status === undefined ? {} : { status: record.status as number }),
    ...(record.headers === undefined ? {} : { headers: record.headers as Record<string, string> }),
    body: record.body,
  };
}

/**
 * A host fetch answered from `fixtures` only: the first fixture with the same method and URL.
 * Like the gateway's guarded fetch, it refuses calls past `maxCalls` and URLs that are not http(s);
 * a call no fixture answers is refused too (`fetch refused: no fixture for GET https://…`).
 */
export function createFixtureFetch(fixtures: readonly FetchFixture[], maxCalls: number): SandboxFetch {
  let calls = 0;
  return async (url, init) => {
    if (calls >= maxCalls) throw new Error(`fetch call limit of ${maxCalls} reached`);
    calls++;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`invalid URL: ${JSON.stringify(url.length > 200 ? `${url.slice(0, 200)}…` : url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('only http and https URLs are allowed');
    const method = (init.method ?? 'GET').toUpperCase();
    const fixture = fixtures.find((f) => f.url === parsed.href && (f.method ?? 'GET') === method);
    if (!fixture) throw new Error(`fetch refused: no fixture for ${method} ${parsed.href}`);
    const isText = typeof fixture.body === 'string';
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(fixture.headers ?? {})) headers[name.toLowerCase()] = value;
    if (!isText && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
    return { status: fixture.status ?? 200, headers, body: isText ? (fixture.body as string) : JSON.stringify(fixture.body) };
  };
}

/**
 * The factor by which member `index` (0-based) of a committee of `size` sees the numbers of a
 * response under `--diverge-fetch`: 1 in the middle, ±0.1% per step away from it (0.999, 1, 1.001 for three).
 */
export function divergenceFactor(index: number, size: number): number {
  return 1 + 0.001 * (index - (size - 1) / 2);
}

/**
 * Wraps `fetch` so that every number in a JSON response body is multiplied by `factor` (rounded to
 * 12 significant digits, so 100 × 0.999 reads 99.9). Bodies that are not JSON pass unchanged.
 */
export function createDivergingFetch(fetch: SandboxFetch, factor: number): SandboxFetch {
  return async (url, init, signal) => {
    const response = await fetch(url, init, signal);
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      return response;
    }
    return { ...response, body: JSON.stringify(scaleNumbers(parsed, factor)) };
  };
}

function scaleNumbers(value: unknown, factor: number): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? Number((value * factor).toPrecision(12)) : value;
  if (Array.isArray(value)) return value.map((item) => scaleNumbers(item, factor));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, scaleNumbers(item, factor)]));
  }
  return value;
}

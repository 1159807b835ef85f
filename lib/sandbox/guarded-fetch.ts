// Host side of ctx.fetch: validates the request, vets every resolved address, connects to the vetted one, caps and times the exchange.
import { promises as dns } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { type AllowList, classifyAddress, isAllowListed, normalizeHost, parseAllowList } from './address-guard.ts';

/** Limits and the operator allow-list for one run's fetches. */
export interface FetchPolicy {
  /** Calls allowed per created fetch (redirects are not extra calls). */
  maxCalls: number;
  /** Per call, over the whole exchange: resolution, every redirect hop and the response body. */
  timeoutMs: number;
  /** Cap on the UTF-8 request body. */
  maxRequestBytes: number;
  /** Cap on each response body as received. */
  maxResponseBytes: number;
  /** Redirects followed per call; default 5. */
  maxRedirects?: number;
  /** GATEWAY_FETCH_ALLOW: host names, IPs or CIDRs that may be reached although in a refused range. */
  allow: readonly string[];
}

/** Resolves a host name to every address it has, in resolver order. */
export type HostLookup = (host: string) => Promise<{ address: string; family: 4 | 6 }[]>;

/** The host side of ctx.fetch; `signal` aborts when the run ends, so no exchange outlives its run. */
export type SandboxFetch = (
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
  signal?: AbortSignal,
) => Promise<{ status: number; headers: Record<string, string>; body: string }>;

/** A SandboxFetch that also reports how many calls it has admitted. */
export type GuardedFetch = SandboxFetch & { readonly calls: number };

type Reply = Awaited<ReturnType<SandboxFetch>>;

interface Request {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Deps {
  allowList: AllowList;
  lookup: HostLookup;
  maxResponseBytes: number;
  signal: AbortSignal;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
// Framing and routing headers belong to the host; a user value could smuggle requests or retarget them.
const HOST_HEADERS = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'expect']);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];
const CREDENTIAL_HEADERS = ['authorization', 'cookie'];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_HEADER_BYTES = 16_384;

/**
 * Creates the fetch one sandbox run uses. Every rejection is an Error whose message the user code
 * sees: a refused address ("fetch refused: 127.0.0.1 is a loopback address"), "fetch call limit of
 * N reached", "fetch timed out after N ms", "response exceeds N bytes", or a validation message.
 * Throws GatewayError('invalid_config') at once when `policy.allow` has a bad entry.
 */
export function createGuardedFetch(policy: FetchPolicy, options: { lookup?: HostLookup; signal?: AbortSignal } = {}): GuardedFetch {
  const allowList = parseAllowList(policy.allow);
  const lookup = options.lookup ?? lookupAll;
  const maxRedirects = policy.maxRedirects ?? 5;
  let calls = 0;
  const fetch: SandboxFetch = async (url, init) => {
    if (calls >= policy.maxCalls) throw new Error(`fetch call limit of ${policy.maxCalls} reached`);
    calls++;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`fetch timed out after ${policy.timeoutMs} ms`)), policy.timeoutMs);
    // The run's end aborts every exchange still open: nothing outlives the run that started it.
    const onRunEnd = () => controller.abort(new Error('the run ended'));
    if (options.signal?.aborted) onRunEnd();
    options.signal?.addEventListener('abort', onRunEnd, { once: true });
    try {
      const deps: Deps = { allowList, lookup, maxResponseBytes: policy.maxResponseBytes, signal: controller.signal };
      return await follow(parseRequest(url, init, policy.maxRequestBytes), maxRedirects, deps);
    } catch (error) {
      throw error instanceof Error ? error : new Error(`fetch failed: ${String(error)}`);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onRunEnd);
    }
  };
  return Object.defineProperty(fetch, 'calls', { get: () => calls, enumerable: true }) as GuardedFetch;
}

function lookupAll(host: string): ReturnType<HostLookup> {
  return dns.lookup(host, { all: true, verbatim: true }) as ReturnType<HostLookup>;
}

// Untrusted input from the isolate: check every shape, not just the declared types.
function parseRequest(url: unknown, init: unknown, maxRequestBytes: number): Request {
  if (typeof url !== 'string') throw new Error('fetch URL must be a string');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`invalid URL: ${JSON.stringify(url.length > 200 ? `${url.slice(0, 200)}…` : url)}`);
  }
  checkUrl(parsed, '');
  const { method = 'GET', headers = {}, body } = (init ?? {}) as Record<string, unknown>;
  if (typeof method !== 'string' || !METHODS.has(method.toUpperCase())) {
    throw new Error(`fetch method ${JSON.stringify(method)} is not allowed; use one of ${[...METHODS].join(', ')}`);
  }
  const upper = method.toUpperCase();
  if (body !== undefined && typeof body !== 'string') throw new Error('fetch body must be a string');
  if (body !== undefined && (upper === 'GET' || upper === 'HEAD')) throw new Error(`a ${upper} request cannot have a body`);
  const bytes = body === undefined ? undefined : Buffer.from(body, 'utf8');
  if (bytes && bytes.length > maxRequestBytes) throw new Error(`request body exceeds ${maxRequestBytes} bytes`);
  return { url: parsed, method: upper, headers: parseHeaders(headers), body: bytes };
}

function parseHeaders(headers: unknown): Record<string, string> {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw new Error('fetch headers must be an object of strings');
  const result: Record<string, string> = {};
  let size = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw new Error(`invalid header name ${JSON.stringify(name)}`);
    if (typeof value !== 'string' || !FIELD_VALUE.test(value)) throw new Error(`invalid value for header "${name}"`);
    const lower = name.toLowerCase();
    if (HOST_HEADERS.has(lower)) throw new Error(`header "${lower}" is set by the host and cannot be sent`);
    size += name.length + value.length + 4;
    Object.defineProperty(result, lower, { value: Object.hasOwn(result, lower) ? `${result[lower]}, ${value}` : value, enumerable: true, writable: true, configurable: true });
  }
  if (size > MAX_HEADER_BYTES) throw new Error(`request headers exceed ${MAX_HEADER_BYTES} bytes`);
  return result;
}

function checkUrl(url: URL, context: string): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${context}only http and https URLs are allowed`);
  if (url.username || url.password) throw new Error(`${context}URLs with credentials are not allowed`);
}

async function follow(first: Request, maxRedirects: number, deps: Deps): Promise<Reply> {
  let request = first;
  for (let hop = 0; ; hop++) {
    const context = hop === 0 ? '' : `redirect to ${request.url.href} refused: `;
    const address = await vet(request.url, context, deps);
    const outcome = await exchange(request, address, deps);
    if ('status' in outcome) return outcome;
    if (hop >= maxRedirects) throw new Error(`fetch exceeded the limit of ${maxRedirects} redirects`);
    let next: URL;
    try {
      next = new URL(outcome.location, request.url);
    } catch {
      throw new Error(`fetch failed: invalid redirect location ${JSON.stringify(outcome.location.slice(0, 200))}`);
    }
    checkUrl(next, `redirect to ${next.href} refused: `);
    request = redirected(request, next, outcome.redirectStatus);
  }
}

// Fetch-standard rewriting: 303 (and 301/302 after POST) become a bodiless GET; credentials stay on their origin.
function redirected(request: Request, url: URL, status: number): Request {
  const headers = { ...request.headers };
  const isBecomingGet = (status === 303 && request.method !== 'HEAD') || ((status === 301 || status === 302) && request.method === 'POST');
  if (isBecomingGet) for (const name of BODY_HEADERS) delete headers[name];
  if (url.origin !== request.url.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
  return isBecomingGet ? { url, method: 'GET', headers } : { ...request, url, headers };
}

// Resolves the host unless it is an IP literal and checks every address; returns the one to connect to.
async function vet(url: URL, context: string, deps: Deps): Promise<string> {
  const host = normalizeHost(url.hostname);
  const isLiteral = isIP(host) !== 0;
  const addresses = isLiteral ? [host] : await resolve(host, deps);
  for (const address of addresses) {
    const verdict = classifyAddress(address);
    if (verdict.allowed || isAllowListed(deps.allowList, host, address)) continue;
    const what = isLiteral ? `${address} is` : `${host} resolves to ${address}, which is`;
    throw new Error(`${context || 'fetch refused: '}${what} a ${verdict.reason} address`);
  }
  return addresses[0];
}

async function resolve(host: string, deps: Deps): Promise<string[]> {
  let results: { address: string }[];
  try {
    results = await whileActive(deps.lookup(host), deps.signal);
  } catch (error) {
    if (deps.signal.aborted) throw deps.signal.reason;
    const code = (error as { code?: unknown }).code;
    throw new Error(`fetch failed: could not resolve ${host}${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  if (results.length === 0) throw new Error(`fetch failed: ${host} did not resolve to any address`);
  return results.map((r) => r.address);
}

function whileActive<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

// One request to the vetted address: the Host header and TLS server name carry the name, so DNS is not asked again.
function exchange(request: Request, address: string, deps: Deps): Promise<Reply | { location: string; redirectStatus: number }> {
  const { url, method, body } = request;
  const isHttps = url.protocol === 'https:';
  const host = normalizeHost(url.hostname);
  const hasBody = body !== undefined || method === 'POST' || method === 'PUT' || method === 'PATCH';
  const headers = { ...request.headers, host: url.host, ...(hasBody ? { 'content-length': String(body?.length ?? 0) } : {}) };
  const options: https.RequestOptions = {
    host: address,
    port: url.port || (isHttps ? 443 : 80),
    path: `${url.pathname}${url.search}`,
    method,
    headers,
    agent: false,
    ...(isHttps && isIP(host) === 0 ? { servername: host } : {}),
  };
  return new Promise((resolve, reject) => {
    if (deps.signal.aborted) return reject(deps.signal.reason);
    let isSettled = false;
    const req = (isHttps ? https : http).request(options);
    const settle = (error: Error | undefined, value?: Reply | { location: string; redirectStatus: number }): void => {
      if (isSettled) return;
      isSettled = true;
      deps.signal.removeEventListener('abort', onAbort);
      req.destroy();
      if (error) reject(error);
      else resolve(value!);
    };
    const onAbort = (): void => settle(deps.signal.reason as Error);
    deps.signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error) => settle(new Error(`fetch failed: ${error.message}`, { cause: error })));
    req.on('response', (res) => {
      res.on('error', (error) => settle(new Error(`fetch failed: ${error.message}`, { cause: error })));
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECT_STATUSES.has(status) && location !== undefined) return settle(undefined, { location, redirectStatus: status });
      const max = deps.maxResponseBytes;
      if (method !== 'HEAD' && Number(res.headers['content-length']) > max) return settle(new Error(`response exceeds ${max} bytes`));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) return settle(new Error(`response exceeds ${max} bytes`));
        chunks.push(chunk);
      });
      res.on('end', () => settle(undefined, { status, headers: headersOf(res.rawHeaders), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('close', () => settle(new Error('fetch failed: the connection closed before the response ended')));
    });
    req.end(body);
  });
}

// Lowercase names, repeated headers joined with ", " (set-cookie too); fromEntries keeps "__proto__" an own key.
function headersOf(raw: readonly string[]): Record<string, string> {
  const joined = new Map<string, string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const previous = joined.get(name);
    joined.set(name, previous === undefined ? raw[i + 1] : `${previous}, ${raw[i + 1]}`);
  }
  return Object.fromEntries(joined);
}

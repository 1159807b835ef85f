// The trusted in-context bootstrap: seeded Math.random, a fixed clock, captured logs, the fetch shim and the result check.
import { LOG_TRUNCATED_MARKER, MAX_ERROR_BYTES, MAX_RESULT_DEPTH, USER_CODE_FILENAME, type OutcomeCaps } from './outcome.ts';

/**
 * What the host passes into a fresh context (as JSON, argument `$0` of the bootstrap closure).
 * `seedWords` are the 32 seed bytes as eight big-endian uint32s; the caps are the run's, by the same names.
 */
export interface BootstrapConfig extends OutcomeCaps {
  /** The run's input (a JSON value): the entry receives the copy this config's parse made. */
  input: unknown;
  requestId: string;
  projectId: string;
  round: number;
  seed: string;
  seedWords: number[];
  acceptedAtMs: number;
  secrets: Record<string, string>;
  noEntryMessage: string;
}

/**
 * What a run hands the host through its done Reference: one string, built by hand from captured
 * intrinsics so that nothing user code did to prototypes, getters or `then` can shape it:
 * `{"logs":[…],"value":<result JSON>}` or `{"logs":[…],"error":"<message>"}` (see outcome.ts).
 */
export type InvokeResult = string;

/**
 * The global through which the run's wrapper module (RUN_MODULE) starts the entry once the user's
 * module has evaluated: not writable, not configurable, not enumerable. User code can see it; calling
 * it first only starts its own run with an entry it chose, as its own default export could.
 */
export const START_GLOBAL = '__gatewayStart';

/** The specifier under which RUN_MODULE imports the user's module (no other import links). */
export const USER_MODULE_SPECIFIER = 'gateway:user';

/**
 * The module each run of an ES module evaluates: importing the user's module evaluates its top
 * level first (and waits for its top-level await), then the entry starts, all in one isolate task.
 */
export const RUN_MODULE = `import * as user from '${USER_MODULE_SPECIFIER}';\n${START_GLOBAL}(user);\n`;

// The body of `bootstrap` (see BOOTSTRAP_SCRIPT).
const BOOTSTRAP_SOURCE = String.raw`'use strict';
const G = globalThis, O = Object, parse = JSON.parse, stringify = JSON.stringify, isArray = Array.isArray;
const { keys, getPrototypeOf, freeze, defineProperty, hasOwn, create } = O;
const { apply, construct } = Reflect;
const uncurry = (f) => Function.prototype.call.bind(f);
const charCodeAt = uncurry(String.prototype.charCodeAt), sliceString = uncurry(String.prototype.slice), indexOfString = uncurry(String.prototype.indexOf);
const MAX_ERROR_BYTES = ${MAX_ERROR_BYTES}, MAX_DEPTH = ${MAX_RESULT_DEPTH}, LOG_TRUNCATED = ${JSON.stringify(LOG_TRUNCATED_MARKER)};
const symbolToString = uncurry(Symbol.prototype.toString);
const isFinite = Number.isFinite, Str = String, Err = Error, RealDate = Date;
const ObjectProto = O.prototype, ErrorProto = Err.prototype, dateToString = uncurry(RealDate.prototype.toString);
const cfg = parse($0), fetchRef = $1, logRef = $2, doneRef = $3, NOT_JSON = {}, Prom = Promise;
// Each captured line also goes to the host as it is logged, so a run the host ends (deadline, CPU
// time, memory) keeps the lines logged before its end; the envelope's copy is the one a finished run returns.
const logIgnored = logRef && logRef.applyIgnored, LOG_OPTIONS = freeze({ arguments: freeze({ copy: true }) });
const sendLine = (line) => { if (logIgnored) apply(logIgnored, logRef, [undefined, [line], LOG_OPTIONS]); };
const fetchIgnored = fetchRef && fetchRef.applyIgnored, FETCH_OPTIONS = freeze({ arguments: freeze({ copy: true }) });
const doneIgnored = doneRef.applyIgnored, DONE_OPTIONS = freeze({ arguments: freeze({ copy: true }) });
const pending = create(null);
let isFinished = false, fetchCalls = 0;

// Math.random: sfc32 (its counter rules out a stuck state) absorbing all 32 seed bytes; 53-bit doubles.
const w = cfg.seedWords;
let [a, b, c, d] = [w[0], w[1], w[2], w[3]];
const next = () => {
  const t = (((a + b) | 0) + d) | 0;
  d = (d + 1) | 0;
  a = b ^ (b >>> 9);
  b = (c + (c << 3)) | 0;
  c = (((c << 21) | (c >>> 11)) + t) | 0;
  return t >>> 0;
};
for (let i = 4; i < 8; i++) {
  a ^= w[i];
  for (let j = 0; j < 4; j++) next();
}
for (let j = 0; j < 12; j++) next();
Math.random = function random() { return ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992; };

// Date: the clock stands still at the request's accepted-at time.
const fixedMs = cfg.acceptedAtMs;
const FixedDate = function Date(...args) {
  if (new.target === undefined) return dateToString(new RealDate(fixedMs));
  return construct(RealDate, args.length === 0 ? [fixedMs] : args, new.target);
};
defineProperty(FixedDate, 'length', { value: 7 });
defineProperty(FixedDate, 'prototype', { value: RealDate.prototype, writable: false });
FixedDate.now = function now() { return fixedMs; };
FixedDate.parse = RealDate.parse;
FixedDate.UTC = RealDate.UTC;
defineProperty(RealDate.prototype, 'constructor', { value: FixedDate, writable: true, configurable: true });
defineProperty(G, 'Date', { value: FixedDate, writable: true, configurable: true });
const DTF = Intl.DateTimeFormat.prototype, formatGetter = O.getOwnPropertyDescriptor(DTF, 'format').get, formatToParts = DTF.formatToParts;
defineProperty(DTF, 'format', { configurable: true, get() { const f = apply(formatGetter, this, []); return (date) => f(date === undefined ? fixedMs : date); } });
DTF.formatToParts = function formatToParts(date) { return apply(formatToParts, this, [date === undefined ? fixedMs : date]); };
delete G.WeakRef;
delete G.FinalizationRegistry;

const isError = (v) => {
  for (let p = v, i = 0; p !== null && i < 100; i++) if ((p = getPrototypeOf(p)) === ErrorProto) return true;
  return false;
};
const clip = (s, n) => (s.length > n ? sliceString(s, 0, n) + '…' : s);
// UTF-8 bytes of one UTF-16 unit at i (a surrogate pair counts 4 at its first unit, a lone surrogate 3).
const unitBytes = (s, i) => {
  const u = charCodeAt(s, i);
  if (u < 0x80) return 1;
  if (u < 0x800) return 2;
  if (u >= 0xd800 && u < 0xdc00 && i + 1 < s.length && (charCodeAt(s, i + 1) & 0xfc00) === 0xdc00) return 4;
  return 3;
};
const utf8Length = (s) => {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const b = unitBytes(s, i);
    n += b;
    if (b === 4) i++;
  }
  return n;
};
// The deterministic cut of outcome.ts: at most MAX_ERROR_BYTES UTF-8 bytes, at a character boundary, then '…'.
const cutMessage = (s) => {
  if (s.length * 3 <= MAX_ERROR_BYTES) return s;
  let bytes = 0, end = 0;
  while (end < s.length) {
    const b = unitBytes(s, end);
    if (bytes + b > MAX_ERROR_BYTES) return sliceString(s, 0, end) + '…';
    bytes += b;
    end += b === 4 ? 2 : 1;
  }
  return s;
};
const describe = (v) => {
  switch (typeof v) {
    case 'string': return v;
    case 'bigint': return Str(v) + 'n';
    case 'symbol': return symbolToString(v);
    case 'function': return '[Function]';
    case 'object': break;
    default: return Str(v);
  }
  if (v === null) return 'null';
  if (isError(v)) return Str(v.name) + ': ' + Str(v.message);
  try { return stringify(v) ?? '[object]'; } catch { return '[object]'; }
};
// String(e.message) for an Error, else String(thrown); a getter, proxy or toString that throws gives 'uncaught value'.
const describeThrown = (e) => {
  let message;
  try {
    message = e !== null && (typeof e === 'object' || typeof e === 'function') && isError(e) ? Str(e.message) : Str(e);
  } catch {
    return 'uncaught value';
  }
  return cutMessage(message);
};

// console.* and ctx.log: captured lines, capped in count and UTF-8 bytes.
let logJson = '', loggedLines = 0, loggedBytes = 0, isTruncated = false;
const log = function log(...args) {
  if (isTruncated || isFinished) return;
  let line = '';
  for (let i = 0; i < args.length; i++) line += (i === 0 ? '' : ' ') + describe(args[i]);
  const room = cfg.logBytes - loggedBytes, bytes = line.length > room ? room + 1 : utf8Length(line);
  if (loggedLines >= cfg.logLines || bytes > room) { isTruncated = true; sendLine(LOG_TRUNCATED); return; }
  logJson += (loggedLines === 0 ? '' : ',') + stringify(line);
  sendLine(line);
  loggedLines++;
  loggedBytes += bytes;
};
defineProperty(G, 'console', { value: freeze({ log, info: log, warn: log, error: log, debug: log }), writable: true, configurable: true });

const fetch = async function fetch(url, init) {
  if (fetchRef === undefined) throw new Err('fetch is not available');
  if (isFinished) return new Prom(() => {});
  const request = { url: Str(url), method: undefined, headers: undefined, body: undefined };
  if (init !== undefined && init !== null) {
    if (init.method !== undefined) request.method = Str(init.method);
    if (init.headers !== undefined && init.headers !== null) {
      const headers = create(null), names = keys(init.headers);
      for (let i = 0; i < names.length; i++) headers[names[i]] = Str(init.headers[names[i]]);
      request.headers = headers;
    }
    if (init.body !== undefined) request.body = Str(init.body);
  }
  const id = ++fetchCalls;
  const reply = await new Prom((resolve) => {
    pending[id] = resolve;
    apply(fetchIgnored, fetchRef, [undefined, [id, request], FETCH_OPTIONS]);
  });
  if (hasOwn(reply, 'error')) throw new Err(reply.error);
  const body = reply.body;
  return freeze({ status: reply.status, headers: freeze(reply.headers), body, json: () => parse(body) });
};
const deliver = (id, reply) => {
  const resolve = pending[id];
  pending[id] = undefined;
  if (!isFinished && resolve !== undefined) resolve(reply);
};
const ctx = freeze({ requestId: cfg.requestId, projectId: cfg.projectId, round: cfg.round, seed: cfg.seed, secrets: freeze(cfg.secrets), log, fetch });

// The result check: JSON values only, serialized by hand so no user-reachable toJSON or prototype runs.
let out = '', failure = '';
const path = create(null);
const fail = (depth, reason) => {
  let at = '$';
  for (let i = 0; i < depth; i++) at += typeof path[i] === 'number' ? '[' + path[i] + ']' : '.' + path[i];
  failure = 'result is not a JSON value: ' + at + ': ' + reason;
  throw NOT_JSON;
};
const emit = (s) => {
  out += s;
  if (out.length > cfg.outputBytes) { failure = 'result exceeds ' + cfg.outputBytes + ' bytes'; throw NOT_JSON; }
};
const className = (v) => {
  try { const name = v.constructor.name; if (typeof name === 'string' && name !== '') return clip(name, 64); } catch {}
  return 'non-plain object';
};
const stack = create(null);
const walk = (v, depth) => {
  if (v === null) return emit('null');
  switch (typeof v) {
    case 'string': return emit(stringify(v));
    case 'boolean': return emit(v ? 'true' : 'false');
    case 'number': if (!isFinite(v)) fail(depth, Str(v) + ' is not a JSON number'); return emit(stringify(v));
    case 'undefined': return fail(depth, 'undefined is not a JSON value');
    case 'object': break;
    default: return fail(depth, 'a ' + typeof v + ' is not a JSON value');
  }
  if (depth >= MAX_DEPTH) fail(depth, 'nested deeper than ' + MAX_DEPTH + ' levels');
  for (let i = 0; i < depth; i++) if (stack[i] === v) fail(depth, 'cyclic reference');
  stack[depth] = v;
  if (isArray(v)) {
    emit('[');
    for (let i = 0, n = v.length; i < n; i++) {
      path[depth] = i;
      if (!hasOwn(v, i)) fail(depth + 1, 'sparse array hole');
      if (i > 0) emit(',');
      walk(v[i], depth + 1);
    }
    emit(']');
  } else {
    const proto = getPrototypeOf(v);
    if (proto !== ObjectProto && proto !== null) fail(depth, 'a ' + className(v) + ' is not a plain object');
    emit('{');
    const names = keys(v);
    for (let i = 0; i < names.length; i++) {
      path[depth] = names[i];
      emit((i > 0 ? ',' : '') + stringify(names[i]) + ':');
      walk(v[names[i]], depth + 1);
    }
    emit('}');
  }
  stack[depth] = undefined;
};
// The one string that leaves the isolate, sent to the host's done Reference: concatenated from
// strings only, so no user getter, toJSON or then runs.
const finish = (json, error) => {
  isFinished = true;
  const marker = isTruncated ? (loggedLines === 0 ? '' : ',') + stringify(LOG_TRUNCATED) : '';
  const logs = '{"logs":[' + logJson + marker + '],';
  const envelope = json === undefined ? logs + '"error":' + stringify(cutMessage(Str(error))) + '}' : logs + '"value":' + json + '}';
  try { apply(doneIgnored, doneRef, [undefined, [envelope], DONE_OPTIONS]); } catch {} // the host ended the run first
};

// Where a thrown error came from in the user's code: its stack frames in the code's file (line and
// column as written; type stripping keeps them), logged one per line. Read with captured string
// functions only; a stack that is no string, or a getter that throws, logs nothing.
const USER_FILE = ${JSON.stringify(USER_CODE_FILENAME)}, MAX_FRAMES = 8;
const logUserFrames = (e) => {
  let text;
  // The frames in V8's own format: a prepareStackTrace the code installed is set aside while the
  // stack is read (and put back), so it neither shapes the frames nor runs here.
  let saved, isSetAside = false;
  try {
    saved = Err.prepareStackTrace;
    Err.prepareStackTrace = undefined;
    isSetAside = true;
    text = isError(e) ? e.stack : undefined;
  } catch {
    text = undefined;
  } finally {
    if (isSetAside) try { Err.prepareStackTrace = saved; } catch {}
  }
  if (typeof text !== 'string') return;
  let frames = 0;
  for (let start = 0; start < text.length && frames < MAX_FRAMES;) {
    let end = indexOfString(text, '\n', start);
    if (end < 0) end = text.length;
    let line = sliceString(text, start, end);
    start = end + 1;
    const at = indexOfString(line, USER_FILE);
    if (at < 0) continue;
    let first = 0;
    while (first < line.length && charCodeAt(line, first) === 32) first++;
    line = sliceString(line, first, at) + 'user.js' + sliceString(line, at + USER_FILE.length);
    log(line);
    frames++;
  }
};

const invoke = async function invoke(namespace) {
  let value;
  try {
    let entry;
    try { entry = namespace === undefined ? undefined : namespace.default; } catch {}
    if (typeof entry !== 'function') entry = G.mainFunction;
    if (typeof entry !== 'function') return finish(undefined, cfg.noEntryMessage);
    value = await apply(entry, undefined, [cfg.input, ctx]);
  } catch (e) {
    const message = describeThrown(e);
    logUserFrames(e);
    return finish(undefined, message);
  }
  try {
    walk(value, 0);
    return finish(out, undefined);
  } catch (e) {
    return finish(undefined, e === NOT_JSON ? failure : describeThrown(e));
  }
};
// The run starts once: a module's wrapper calls it with the user's namespace, the host calls it for
// a classic script (no namespace: the entry is globalThis.mainFunction); later calls do nothing.
let isStarted = false;
const start = function start(namespace) {
  if (isStarted) return;
  isStarted = true;
  invoke(namespace);
};
defineProperty(G, ${JSON.stringify(START_GLOBAL)}, { value: start });
return freeze({ __proto__: null, start, deliver });
`;

/**
 * The bootstrap: a script whose completion value is `function bootstrap($0, $1, $2, $3)`, compiled
 * once per isolate and run in every fresh context before any user code; the host calls the function
 * with `$0` the config JSON (the input included), `$1` the host fetch Reference or undefined, `$2` the
 * host's log sink Reference or undefined and `$3` the host's done Reference. It captures every
 * intrinsic it uses before user code can tamper with them and returns `{start, deliver}`, and
 * defines the global START_GLOBAL as `start`. `start(namespace)`, once, calls the entry (a module's
 * default export, else `globalThis.mainFunction`) with the parsed input and a frozen ctx, awaits it,
 * checks and serializes the result by hand (no toJSON, no prototype) and sends the envelope to `$3`
 * with `applyIgnored`. `ctx.fetch(url, init)` calls the host with `applyIgnored(undefined, [callId,
 * request])`; the host answers with `deliver(callId, reply)`, a task of its own, so whatever the
 * continuation does (throws, loops, allocates) lands on that run. After the envelope is sent,
 * replies are dropped. User code reaches neither `bootstrap` nor `invoke`.
 */
export const BOOTSTRAP_SCRIPT = `(function bootstrap($0, $1, $2, $3) {\n${BOOTSTRAP_SOURCE}\n})`;

// Loading user code into an isolate: classic script or ES module detection, linking without imports, checkCode.
import ivm from 'isolated-vm';
import { GatewayError } from '../errors.ts';
import { findDynamicImport } from './dynamic-import.ts';
import { RUN_MODULE, USER_MODULE_SPECIFIER } from './bootstrap.ts';
import { USER_CODE_FILENAME } from './outcome.ts';

/** How a source was compiled: a classic script (global `mainFunction`) or an ES module. */
export type CodeKind = 'script' | 'module';

/**
 * One code text as this process knows it: its kind, found on first use, and V8's code cache of the
 * module compile. V8 checks cached data against the source's length only, so a record is only ever
 * used for these exact bytes (callers look records up by key and compare `code`).
 */
export interface CodeRecord {
  readonly code: string;
  kind?: CodeKind;
  cachedData?: ivm.ExternalCopy<ArrayBuffer>;
}

/** Per-isolate compile state: a classic script compiles once per isolate and runs in any of its contexts. */
export interface IsolateCode {
  script?: ivm.Script;
}

export const NO_ENTRY_MESSAGE = 'no entry point: export a default function or define a global mainFunction';

/** isolated-vm's message when a `timeout` option expires. */
export const TIMED_OUT = 'Script execution timed out.';

const ORIGIN = { filename: USER_CODE_FILENAME };
const CHECK_MEMORY_MB = 16;
const CHECK_TIMEOUT_MS = 200;

// The entry lookup the runner's bootstrap repeats: a default export function wins over a global mainFunction.
const FIND_ENTRY = `try { if (typeof $0.default === 'function') return 'default'; } catch {}
return typeof globalThis.mainFunction === 'function' ? 'mainFunction' : null;`;

/**
 * Validates user code at upload time: compiles it in a throwaway 16 MB isolate, evaluates its
 * top level (at most 200 ms) in a fresh context and finds the entry point. A source that compiles
 * as a classic script is one (and must define a global `mainFunction`); any other is an ES module
 * whose default export is the entry (or that assigns `globalThis.mainFunction`).
 * Throws GatewayError `invalid_code` with the compiler's message and `line L, column C` for a
 * syntax error, for any import (a dynamic `import()` too, found by dynamic-import.ts), a throwing or
 * slow top level, or no entry point.
 * Synchronous: it holds the calling thread for the compile and up to 200 ms of top-level code.
 */
export function checkCode(code: string): { entry: 'default' | 'mainFunction' } {
  const dynamicImport = findDynamicImport(code);
  if (dynamicImport) {
    throw new GatewayError('invalid_code', `dynamic import() is not available at line ${dynamicImport.line}, column ${dynamicImport.column}: the code runs alone (ctx.fetch reaches the network)`);
  }
  const isolate = new ivm.Isolate({ memoryLimit: CHECK_MEMORY_MB });
  const handles: Array<{ release(): void }> = [];
  try {
    const context = isolate.createContextSync();
    handles.push(context);
    let namespace: ivm.Reference | undefined;
    const script = compileScriptSync(isolate, code);
    if (script) {
      handles.push(script);
      runTopLevel(() => handles.push(script.runSync(context, { timeout: CHECK_TIMEOUT_MS, reference: true })));
    } else {
      const module = compileModuleSync(isolate, code);
      handles.push(module);
      try {
        module.instantiateSync(context, refuseImport);
      } catch (error) {
        throw new GatewayError('invalid_code', messageOf(error), { cause: error });
      }
      runTopLevel(() => module.evaluateSync({ timeout: CHECK_TIMEOUT_MS }));
      namespace = module.namespace;
      handles.push(namespace);
    }
    const entry = runTopLevel(() => context.evalClosureSync(FIND_ENTRY, [namespace?.derefInto()], { timeout: CHECK_TIMEOUT_MS }));
    if (entry !== 'default' && entry !== 'mainFunction') throw new GatewayError('invalid_code', NO_ENTRY_MESSAGE);
    return { entry };
  } finally {
    releaseAll(handles);
    if (!isolate.isDisposed) isolate.dispose();
  }
}

/**
 * Starts a code record's run in `context`, whose bootstrap ran (`start` is the bootstrap's start
 * function, which only a classic script needs from the host). The first use of a record detects
 * its kind (a classic script if it compiles as one; compiled off the host thread) and, for a module,
 * keeps V8's code cache; later module compiles use that cache and run on the calling thread, as do
 * linking and a script's compile per isolate: none of these runs user code, and the isolate is idle
 * (one run per isolate at a time). User code runs only in isolate tasks, under `timeoutMs`: a module
 * in one task (RUN_MODULE imports it, so its top level and then the entry's start run together), a
 * classic script in two (its top level, then `start`). Each handle made goes through `keep` (which
 * refuses it once the run ended). Throws GatewayError `invalid_code` for syntax errors and imports;
 * a throwing top level rejects with isolated-vm's copy of the thrown value.
 */
export async function startUserCode(
  isolate: ivm.Isolate,
  context: ivm.Context,
  record: CodeRecord,
  compiled: IsolateCode,
  start: ivm.Reference,
  timeoutMs: number,
  keep: <T extends { release(): void }>(handle: T) => T,
): Promise<void> {
  let firstModule: ivm.Module | undefined;
  if (record.kind === undefined) {
    try {
      compiled.script = await isolate.compileScript(record.code, ORIGIN);
      record.kind = 'script';
    } catch (error) {
      if (!isSyntaxError(error)) throw error;
      firstModule = await compileModule(isolate, record);
      record.kind = 'module';
    }
  }
  if (record.kind === 'script') {
    compiled.script ??= isolate.compileScriptSync(record.code, ORIGIN);
    const completion = await compiled.script.run(context, { timeout: timeoutMs, reference: true });
    completion.release();
    await start.apply(undefined, [], { timeout: timeoutMs });
    return;
  }
  const user = keep(firstModule ?? (record.cachedData ? compileModuleSync(isolate, record.code, record.cachedData) : await compileModule(isolate, record)));
  const run = keep(isolate.compileModuleSync(RUN_MODULE, runModuleCache ? { cachedData: runModuleCache } : { produceCachedData: true }));
  runModuleCache ??= (run as ivm.Module & ivm.CachedDataResult).cachedData;
  try {
    // The user's module links nothing: a stored code with an import is refused here as at upload.
    const imported = user.dependencySpecifiers[0];
    if (imported !== undefined) refuseImport(imported);
    run.instantiateSync(context, (specifier) => (specifier === USER_MODULE_SPECIFIER ? user : refuseImport(specifier)));
  } catch (error) {
    throw new GatewayError('invalid_code', messageOf(error), { cause: error });
  }
  await run.evaluate({ timeout: timeoutMs });
}

// V8's code cache of RUN_MODULE, made by its first compile in this process (any isolate may use it).
let runModuleCache: ivm.ExternalCopy<ArrayBuffer> | undefined;

/** Releases isolated-vm handles in reverse order, ignoring handles of an already disposed isolate. */
export function releaseAll(handles: ReadonlyArray<{ release(): void }>): void {
  for (let i = handles.length - 1; i >= 0; i--) {
    try {
      handles[i].release();
    } catch {
      // The isolate is gone; nothing is left to release.
    }
  }
}

/**
 * The message of an error copied out of an isolate: `message` for an Error, else `String(value)`
 * (a value whose conversion throws is "uncaught value"), as the bootstrap describes thrown values.
 */
export function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? String(error.message) : String(error);
  } catch {
    return 'uncaught value';
  }
}

// Compiles off the host thread and keeps V8's code cache of the module in the record.
async function compileModule(isolate: ivm.Isolate, record: CodeRecord): Promise<ivm.Module> {
  let module: ivm.Module & ivm.CachedDataResult;
  try {
    module = (await isolate.compileModule(record.code, { ...ORIGIN, produceCachedData: true })) as ivm.Module & ivm.CachedDataResult;
  } catch (error) {
    throw compileError(error);
  }
  record.cachedData ??= module.cachedData;
  return module;
}

// Null when the source is not a classic script (it has import/export or top-level await).
function compileScriptSync(isolate: ivm.Isolate, code: string): ivm.Script | null {
  try {
    return isolate.compileScriptSync(code, ORIGIN);
  } catch (error) {
    if (isSyntaxError(error)) return null;
    throw error;
  }
}

function compileModuleSync(isolate: ivm.Isolate, code: string, cachedData?: ivm.ExternalCopy<ArrayBuffer>): ivm.Module {
  try {
    return isolate.compileModuleSync(code, cachedData ? { ...ORIGIN, cachedData } : ORIGIN);
  } catch (error) {
    throw compileError(error);
  }
}

function refuseImport(specifier: string): never {
  throw new Error(`imports are not available (import of '${specifier}')`);
}

function isSyntaxError(error: unknown): boolean {
  return error instanceof Error && error.name === 'SyntaxError';
}

// isolated-vm appends the origin as " [file:///user.js:L:C]"; say it the way people read it.
function compileError(error: unknown): GatewayError {
  const message = messageOf(error);
  const position = /^(.*) \[[^\]]*:(\d+):(\d+)\]$/s.exec(message);
  const text = position ? `${position[1]} at line ${position[2]}, column ${position[3]}` : message;
  return new GatewayError('invalid_code', `syntax error: ${text}`, { cause: error });
}

function runTopLevel<T>(evaluate: () => T): T {
  try {
    return evaluate();
  } catch (error) {
    const message = messageOf(error);
    const text = message === TIMED_OUT ? `top-level code did not finish within ${CHECK_TIMEOUT_MS} ms` : `top-level code failed: ${message}`;
    throw new GatewayError('invalid_code', text, { cause: error });
  }
}

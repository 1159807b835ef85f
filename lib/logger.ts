// JSON logs (pino) with the role's name on every line; secret-named fields are redacted as a second guard.
import { pino, type Logger } from 'pino';

export type { Logger };

/** Fields whose value never reaches a log line, at the top of a line's object or one level down. */
const SECRET_FIELDS = new Set(['secrets', 'apiKey', 'adminToken', 'masterKey', 'counterKey', 'mnemonic']);
const CENSOR = '[redacted]';

/**
 * The object with every secret-named field (SECRET_FIELDS) at its top level or one level down
 * replaced by `[redacted]`; the object itself when it has none (it is never changed in place). What
 * pino's wildcard redaction did, for half the cost per line (it was half of a line's CPU).
 */
export function redactSecrets<T extends object>(object: T): T {
  const fields = object as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (SECRET_FIELDS.has(key)) {
      (out ??= { ...fields })[key] = CENSOR;
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value)) {
      let inner: Record<string, unknown> | undefined;
      for (const field of Object.keys(value)) if (SECRET_FIELDS.has(field)) (inner ??= { ...value })[field] = CENSOR;
      if (inner) (out ??= { ...fields })[key] = inner;
    }
  }
  return (out ?? object) as T;
}

/** How long a line below `warn` may wait in the output buffer before it is written. */
export const LOG_FLUSH_MS = 100;
const LOG_BUFFER_BYTES = 8192;
const WARN_LEVEL = 40;

/**
 * A buffered output on a file descriptor: lines wait until 8 KB are buffered or LOG_FLUSH_MS has
 * passed, so a busy process writes a batch of lines per write instead of one write per line (at
 * `info` the gateway logs about ten lines per request). `warn` and worse lines are written at once,
 * with what is buffered before them, and everything buffered is written when the process exits (an
 * uncaught error included); a process killed outright loses at most LOG_FLUSH_MS of lines below `warn`.
 */
export interface BufferedOutput {
  readonly stream: pino.DestinationStream;
  /** Writes what is buffered now. */
  flush(): void;
}

export function createBufferedOutput(fd: number): BufferedOutput {
  const destination = pino.destination({ dest: fd, sync: true, minLength: LOG_BUFFER_BYTES });
  // Whether a line came since the last write: the timer writes nothing otherwise (sonic-boom's flush
  // of an empty buffer is still a write call: ten a second in an idle process).
  let hasLines = false;
  const stream: pino.DestinationStream = {
    write(line: string) {
      hasLines = true;
      destination.write(line);
    },
  };
  // The timer and warn lines write what is buffered (\`flush()\`, a synchronous write here); only the
  // exit uses \`flushSync()\`, which fsyncs the descriptor as well: every 100 ms that was a disk flush
  // of a log file on the event loop (1.6% of a loaded one-process gateway's samples).
  const write = (end: 'flush' | 'flushSync') => () => {
    if (end === 'flush' && !hasLines) return;
    hasLines = false;
    try {
      destination[end]();
    } catch {
      // the output is gone (a closed pipe): nothing left to write to
    }
  };
  const flush = write('flush');
  setInterval(flush, LOG_FLUSH_MS).unref();
  process.once('exit', write('flushSync'));
  return { stream, flush };
}

// One buffered stdout per process, shared by its loggers: stdout is the process's own, and two
// buffers on it would write their batches out of order.
let stdout: BufferedOutput | undefined;

const isBufferedOutput = (value: unknown): value is BufferedOutput => typeof (value as BufferedOutput).flush === 'function' && 'stream' in (value as object);

/**
 * A pino logger for one process (`process` on every line; roles add `role`): on the process's
 * buffered stdout (createBufferedOutput) by default, on another buffered output, or on a plain
 * `destination` as it is.
 */
export function createLogger(processName: string, level = 'info', destination?: pino.DestinationStream | BufferedOutput): Logger {
  const output = destination === undefined ? (stdout ??= createBufferedOutput(1)) : isBufferedOutput(destination) ? destination : undefined;
  const options: pino.LoggerOptions = {
    level,
    base: { process: processName },
    formatters: { log: redactSecrets },
    timestamp: pino.stdTimeFunctions.isoTime,
    // A warning or an error is written at once, with the lines buffered before it.
    ...(output ? { hooks: { logMethod(args, method, lineLevel) { method.apply(this, args); if (lineLevel >= WARN_LEVEL) output.flush(); } } } : {}),
  };
  const logger = pino(options, output ? output.stream : (destination as pino.DestinationStream));
  // A child's bindings skip pino's formatters: its `child` (which every descendant inherits) redacts them first.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  } as Logger['child'];
  return logger;
}

// Errors the gateway raises itself, with messages it composes from ids and numbers only.
const OWN_ERRORS = new Set(['GatewayError', 'UnrecoverableError', 'SandboxLostError', 'DelayedError', 'ReplyError', 'MaxRetriesPerRequestError']);

/**
 * An error as operator logs may show it. Messages of other errors (a TypeError from parsing a
 * hostile value, a chain node's answer) can quote user-controlled text: they are logged as a
 * name, a length and the stack frames, never the text.
 */
export function errorForLog(error: unknown): { name: string; message?: string; messageBytes?: number; frames?: string } {
  const err = error instanceof Error ? error : new Error(typeof error);
  const name = String(err.name).slice(0, 64);
  if (OWN_ERRORS.has(name) || /^(ECONN|ETIMEDOUT|EPIPE|NOAUTH|Connection is closed)/.test(err.message)) return { name, message: err.message.slice(0, 500) };
  return { name, messageBytes: Buffer.byteLength(String(err.message)), frames: (err.stack ?? '').split('\n').slice(1, 6).join('\n') };
}

// JSON logs (pino) with the role's name on every line; secrets are redacted by path as a second guard.
import { pino, type Logger } from 'pino';

export type { Logger };

/** A pino logger for one process (`process` on every line; roles add `role`); stdout by default. */
export function createLogger(processName: string, level = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { process: processName },
    redact: { paths: ['*.secrets', '*.apiKey', '*.adminToken', '*.masterKey', '*.counterKey', '*.mnemonic', 'secrets', 'apiKey'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
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

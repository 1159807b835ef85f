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

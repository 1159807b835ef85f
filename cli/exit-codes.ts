// What the `gateway` command's exit status means, for scripts that call it.
export const EXIT = {
  /** Done; for `verify`, every check passed. */
  ok: 0,
  /** The command ran and found a failure (a check failed, the API refused the call). */
  failed: 1,
  /** The command line was wrong (unknown command or option, a missing argument). */
  usage: 2,
  /** The environment was wrong: the gateway was unreachable, a file could not be read. */
  environment: 3,
} as const;

/** An error the CLI reports in one line, with the exit status it means (no stack trace). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.failed) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

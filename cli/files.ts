// Reading the files a command is pointed at: one message and one exit status for a file that cannot be read.
import { readFileSync } from 'node:fs';
import { CliError, EXIT } from './exit-codes.ts';

/** The text of `path`; a file that cannot be read is CliError `environment`, naming the file and why. */
export function readTextFile(path: string): string {
  const text = readTextFileIfExists(path);
  if (text === undefined) throw new CliError(`${path} cannot be read (ENOENT)`, EXIT.environment);
  return text;
}

/** As readTextFile, but undefined for a file that does not exist (an optional config or state file). */
export function readTextFileIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new CliError(`${path} cannot be read (${code ?? 'error'})`, EXIT.environment);
  }
}

// A project's source file as the gateway stores it: TypeScript with its types stripped by Node's own
// type stripping (the JavaScript is what is content-addressed and run), JavaScript as it is.
import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { extname } from 'node:path';
import { GatewayError } from '../errors.ts';

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);
const JAVASCRIPT = new Set(['.js', '.mjs', '.cjs']);

/**
 * The JavaScript of the source at `path`: a `.ts` file has its types removed (erasable syntax only:
 * `import type` and annotations go, `enum` or `namespace` are refused); a `.js`/`.mjs` file is read
 * as it is. Throws GatewayError `not_found` when the file cannot be read, `invalid_code` when Node
 * cannot strip it (the message names line and column), `invalid_value` for another extension.
 */
export function compileUserSource(path: string): string {
  const extension = extname(path).toLowerCase();
  if (!TYPESCRIPT.has(extension) && !JAVASCRIPT.has(extension)) {
    throw new GatewayError('invalid_value', `${path}: expected a .ts, .js or .mjs file`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new GatewayError('not_found', `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  if (!TYPESCRIPT.has(extension)) return text;
  // Node warns that stripTypeScriptTypes is experimental on first use: a CLI user has nothing to act on.
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(typeof warning === 'string' ? warning : warning?.message).includes('stripTypeScriptTypes')) return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    // 'strip' replaces types with blanks, so lines and columns in errors and stacks stay the user's own.
    return stripTypeScriptTypes(text, { mode: 'strip' });
  } catch (error) {
    throw new GatewayError('invalid_code', `${path}: ${(error as Error).message}`, { cause: error });
  } finally {
    process.emitWarning = emitWarning;
  }
}

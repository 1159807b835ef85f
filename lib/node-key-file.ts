// An executor's node seed on disk: 32 bytes as hex, created (mode 0600) if missing.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fromHex } from './crypto/bytes.ts';
import { GatewayError } from './errors.ts';

/** Reads the seed at `path`, or writes a fresh random one there first. */
export function loadOrCreateNodeSeed(path: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new GatewayError('invalid_config', `NODE_KEY_FILE ${path} cannot be read`, { cause: error });
    mkdirSync(dirname(path), { recursive: true });
    text = randomBytes(32).toString('hex');
    writeFileSync(path, `${text}\n`, { mode: 0o600, flag: 'wx' });
  }
  try {
    return fromHex(text, 32);
  } catch (error) {
    throw new GatewayError('invalid_config', `NODE_KEY_FILE ${path} does not hold 32 bytes of hex`, { cause: error });
  }
}

/** Reads a hex/text secret from `path`, or creates it with `create()` (mode 0600). */
export function loadOrCreateSecretFile(path: string, create: () => string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dirname(path), { recursive: true });
    const value = create();
    writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
    return value;
  }
}

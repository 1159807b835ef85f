// Which gateway wrote a data folder: `npm start` marks a new folder with `gateway-version` and refuses
// one written by 0.1 (it has files but no marker), whose data protocol v2 cannot use.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from './errors.ts';

/** The data format this gateway writes: protocol v2 records, per-role Redis users in an ACL file, keys with a hash tag each. */
export const DATA_FORMAT = 'gateway-data 3';
/** The format before every key got its own hash tag (all keys under `{gw}`): the same records, other key names. */
const SINGLE_SLOT_FORMAT = 'gateway-data 2';
export const VERSION_FILE = 'gateway-version';

/** Files that are no data: the running gateway's pid file. */
const IGNORED = new Set(['gateway.pid']);

/**
 * Marks an empty `dataDir` as this format, accepts one already marked, and throws GatewayError
 * `invalid_config` for anything else, saying what to do. Nothing in a refused folder is changed.
 */
export function claimDataFormat(dataDir: string): void {
  const path = join(dataDir, VERSION_FILE);
  let marker: string | undefined;
  try {
    marker = readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (marker === DATA_FORMAT) return;
  if (marker === SINGLE_SLOT_FORMAT) {
    throw new GatewayError('invalid_config', [
      `${dataDir} holds data in the single-slot key layout (every key under {gw}); this gateway names its keys with a hash tag each, so it would not see that data.`,
      'Export what you need with the gateway that wrote it (gateway export), then move the folder aside or set GATEWAY_DATA_DIR to a new folder; nothing in it was changed.',
    ].join(' '));
  }
  if (marker !== undefined) {
    throw new GatewayError('invalid_config', `${dataDir} holds data of another gateway version ("${marker}" in ${VERSION_FILE}); start that version on it, or set GATEWAY_DATA_DIR to a new folder`);
  }
  if (readdirSync(dataDir).some((name) => !IGNORED.has(name))) {
    throw new GatewayError('invalid_config', [
      `${dataDir} was written by gateway 0.1, whose data 0.2 cannot use (protocol v2 changed votes, rounds and the ledger, and every role now has its own Redis user).`,
      `Move it aside (e.g. mv ${dataDir} ${dataDir}-0.1) or set GATEWAY_DATA_DIR to a new folder, then start again; nothing in it was changed.`,
    ].join(' '));
  }
  writeFileSync(path, `${DATA_FORMAT}\n`, { mode: 0o600 });
}

// Trust on first use for counter public keys: the first key seen for a gateway (by URL, or "file"
// for receipts read from files) is kept in the user's config folder; a later receipt naming another
// key for the same gateway fails.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, EXIT } from '../exit-codes.ts';
import { readTextFileIfExists } from '../files.ts';

/** Where a pinned key came from. */
export type PinSource = 'flag' | 'known' | 'first-use';

export interface CounterPin {
  readonly key: string;
  readonly source: PinSource;
  /** The gateway the key is kept for: a URL's origin, or "file". */
  readonly scope: string;
  readonly file: string;
  /** When the kept key was first seen (ISO time); absent for --counter-key. */
  readonly since?: string;
}

interface KnownCounter {
  readonly counterPublicKey: string;
  readonly firstSeenAt: string;
}

/** `$XDG_CONFIG_HOME/gateway/known-counters.json`, or `~/.config/gateway/known-counters.json`. */
export function knownCountersFile(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'gateway', 'known-counters.json');
}

/** The scope a key is kept under: the URL's origin, or "file". */
export function counterScope(url: string | undefined): string {
  return url ? new URL(url).origin : 'file';
}

/**
 * Pins counter keys for one run: `--counter-key` when given; else the key kept for the scope; else
 * the first receipt's key, which is then kept (and said so by the caller).
 */
export function createCounterPins(options: { flag?: string; scope: string; file: string; now: () => Date }) {
  const { flag, scope, file } = options;
  if (flag !== undefined && !/^[0-9a-fA-F]{64}$/.test(flag)) throw new CliError('--counter-key must be 32 bytes of hex (64 characters)', EXIT.usage);
  let pinned: CounterPin | undefined = flag === undefined ? readKnown(file, scope) : { key: flag.toLowerCase(), source: 'flag', scope, file };
  return {
    /** The key to check `receiptKey` against: the pinned one, or this one, kept now on first use. */
    pinFor(receiptKey: string | null): CounterPin | undefined {
      if (pinned || receiptKey === null || !/^[0-9a-f]{64}$/.test(receiptKey)) return pinned;
      const since = options.now().toISOString();
      writeKnown(file, scope, { counterPublicKey: receiptKey, firstSeenAt: since });
      pinned = { key: receiptKey, source: 'first-use', scope, file, since };
      return pinned;
    },
  };
}

function readAll(file: string): Record<string, KnownCounter> {
  const text = readTextFileIfExists(file);
  if (text === undefined) return {};
  try {
    const all: unknown = JSON.parse(text);
    if (typeof all === 'object' && all !== null && !Array.isArray(all)) return all as Record<string, KnownCounter>;
  } catch {
    // reported below
  }
  throw new CliError(`${file} is not a JSON object of known counter keys; fix or remove it`, EXIT.environment);
}

function readKnown(file: string, scope: string): CounterPin | undefined {
  const known = readAll(file)[scope];
  if (!known) return undefined;
  if (typeof known.counterPublicKey !== 'string' || !/^[0-9a-f]{64}$/.test(known.counterPublicKey)) {
    throw new CliError(`${file}: the key kept for ${scope} is not 32 bytes of lowercase hex; fix or remove it`, EXIT.environment);
  }
  return { key: known.counterPublicKey, source: 'known', scope, file, since: known.firstSeenAt };
}

function writeKnown(file: string, scope: string, known: KnownCounter): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const all = { ...readAll(file), [scope]: known };
    // Written whole, then renamed: a crash never leaves half a file.
    writeFileSync(`${file}.tmp`, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${file} cannot be written (${(error as NodeJS.ErrnoException).code ?? 'error'})`, EXIT.environment);
  }
}

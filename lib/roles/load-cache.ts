// Reads kept per key as promises, for the roles' caches of what rarely or never changes (frozen
// rounds' committees, assigned requests' vote frames, project settings and secrets) or may be a
// moment old (the webserver's count of queued requests).
import type { Clock } from '../runtime/common.ts';

export interface LoadCacheOptions<K, V> {
  load(key: K): Promise<V>;
  /** Whether a loaded value is kept; one that is not (a miss: not there, or not final yet) is read again next time, as is a failed read. */
  isKept(value: V): boolean;
  /** Entries kept at most; past it the entry `oldest` names goes (default: the first one stored). */
  maxEntries: number;
  oldest?(keys: IterableIterator<K>): K;
  /** How long a kept value serves, by `clock` (default: for good). */
  ttl?: { ms: number; clock: Clock };
}

/**
 * A loader that reads each key once and shares the read: callers that ask while it is in flight
 * get the same promise, and a kept value is reused until it expires or is pushed out. Only the
 * entry a read stored is forgotten when that read misses or fails, never one stored after it.
 */
export function createLoadCache<K, V>(options: LoadCacheOptions<K, V>): (key: K) => Promise<V> {
  const { load, isKept, maxEntries, oldest, ttl } = options;
  const entries = new Map<K, { value: Promise<V>; loadedAtMs: number }>();
  const forget = (key: K, entry: { value: Promise<V> }) => {
    if (entries.get(key) === entry) entries.delete(key);
  };
  return (key) => {
    const kept = entries.get(key);
    if (kept && (!ttl || ttl.clock.now() - kept.loadedAtMs < ttl.ms)) return kept.value;
    const entry = { value: load(key), loadedAtMs: ttl ? ttl.clock.now() : 0 };
    entries.delete(key);
    entries.set(key, entry);
    entry.value.then((value) => { if (!isKept(value)) forget(key, entry); }, () => forget(key, entry));
    if (entries.size > maxEntries) entries.delete(oldest ? oldest(entries.keys()) : entries.keys().next().value!);
    return entry.value;
  };
}

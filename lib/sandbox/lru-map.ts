// A map bounded in entries and in bytes that drops its least recently used entries first.

export interface LruMap<K, V> {
  /** The value, which becomes the most recently used; undefined when absent. */
  get(key: K): V | undefined;
  /** Sets the value (most recently used), then drops the least recently used entries past either bound. */
  set(key: K, value: V): void;
  delete(key: K): void;
  /** Drops every entry (each one is handed to onEvict). */
  clear(): void;
  readonly size: number;
}

export interface LruMapOptions<K, V> {
  readonly maxEntries: number;
  /** Bound on the sum of sizeOf over the entries; the newest entry is always kept. */
  readonly maxBytes: number;
  readonly sizeOf: (value: V) => number;
  /** Called with every entry that leaves the map (dropped, replaced, deleted or cleared). */
  readonly onEvict?: (key: K, value: V) => void;
}

/** Creates an empty map. */
export function createLruMap<K, V>(options: LruMapOptions<K, V>): LruMap<K, V> {
  const entries = new Map<K, V>();
  let bytes = 0;
  const remove = (key: K): void => {
    if (!entries.has(key)) return;
    const value = entries.get(key) as V;
    entries.delete(key);
    bytes -= options.sizeOf(value);
    options.onEvict?.(key, value);
  };
  return {
    get(key) {
      if (!entries.has(key)) return undefined;
      const value = entries.get(key) as V;
      // Map keeps insertion order: re-inserting makes this entry the most recently used.
      entries.delete(key);
      entries.set(key, value);
      return value;
    },
    set(key, value) {
      remove(key);
      entries.set(key, value);
      bytes += options.sizeOf(value);
      while (entries.size > 1 && (entries.size > options.maxEntries || bytes > options.maxBytes)) remove(entries.keys().next().value as K);
    },
    delete: remove,
    clear() {
      for (const key of [...entries.keys()]) remove(key);
    },
    get size() {
      return entries.size;
    },
  };
}

// Writes that arrive while one is in flight wait and go together in the next one: under load one
// Redis call serves many callers, and a call that finds nothing in flight is written at once.
// Used by the ledger append and the release of admission slots.

/**
 * A writer of single items over `write`, which writes a batch (at most `maxBatch` items, in arrival
 * order) and gives one result per item, in the same order. A failed write fails every caller of
 * that batch and none of the next.
 */
export function createBatchedWriter<T, R>(write: (batch: readonly T[]) => Promise<readonly R[]>, maxBatch: number): (item: T) => Promise<R> {
  let pending: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  let isWriting = false;

  async function drain(): Promise<void> {
    isWriting = true;
    while (pending.length > 0) {
      const batch = pending.slice(0, maxBatch);
      pending = pending.slice(batch.length);
      try {
        const results = await write(batch.map((p) => p.item));
        batch.forEach((p, i) => p.resolve(results[i]!));
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    isWriting = false;
  }

  return (item) => new Promise<R>((resolve, reject) => {
    pending.push({ item, resolve, reject });
    if (!isWriting) void drain();
  });
}

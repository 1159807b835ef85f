// The roles' read caches: one read per key shared while in flight, misses and failures read again,
// an expired or pushed-out entry replaced, and a late failure never forgetting a newer entry.
import { expect } from 'chai';
import { createLoadCache } from '../../lib/roles/load-cache.ts';

describe('load cache', () => {
  it('forgets only the entry its own read stored: an older read failing late leaves the newer one', async () => {
    let now = 0;
    const reads: Array<{ key: string; resolve(value: string | null): void; reject(error: Error): void }> = [];
    const get = createLoadCache<string, string | null>({
      load: (key) => new Promise((resolve, reject) => reads.push({ key, resolve, reject })),
      isKept: (value) => value !== null,
      maxEntries: 10,
      ttl: { ms: 100, clock: { now: () => now } },
    });
    const first = get('a');
    now = 100; // expired while still in flight: the next call reads again
    const second = get('a');
    expect(reads.length).to.equal(2);
    reads[1].resolve('fresh');
    expect(await second).to.equal('fresh');
    reads[0].reject(new Error('lost'));
    await first.catch(() => undefined);
    expect(await get('a')).to.equal('fresh');
    expect(reads.length).to.equal(2);
  });

  it('pushes out the entry `oldest` names, or the first stored, past maxEntries', async () => {
    const loads: number[] = [];
    const byInsertion = createLoadCache<number, number>({ load: async (key) => (loads.push(key), key), isKept: () => true, maxEntries: 2 });
    for (const key of [5, 3, 9, 5]) await byInsertion(key);
    expect(loads).to.deep.equal([5, 3, 9, 5]);
    loads.length = 0;
    const bySmallest = createLoadCache<number, number>({ load: async (key) => (loads.push(key), key), isKept: () => true, maxEntries: 2, oldest: (keys) => Math.min(...keys) });
    for (const key of [5, 3, 9, 5, 3]) await bySmallest(key);
    expect(loads).to.deep.equal([5, 3, 9, 3]);
  });
});

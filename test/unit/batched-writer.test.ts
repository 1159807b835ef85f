// The batched writer under the ledger append and the admission-slot release: a call with nothing in
// flight is written alone and at once; calls that arrive meanwhile go together, in order, at most
// maxBatch at a time; a failed write fails its own batch only.
import { expect } from 'chai';
import { createBatchedWriter } from '../../lib/repository/batched-writer.ts';

describe('batched writer', () => {
  it('writes a lone call at once, and the calls that arrive while it is in flight together, in order, at most maxBatch per write', async () => {
    const writes: number[][] = [];
    const gates: (() => void)[] = [];
    const write = createBatchedWriter(async (batch: readonly number[]) => {
      writes.push([...batch]);
      await new Promise<void>((resolve) => gates.push(resolve));
      return batch.map((n) => n * 10);
    }, 3);
    const first = write(1);
    expect(writes).to.deep.equal([[1]]);
    const rest = [2, 3, 4, 5].map((n) => write(n));
    gates.shift()!();
    expect(await first).to.equal(10);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).to.deep.equal([[1], [2, 3, 4]]);
    gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).to.deep.equal([[1], [2, 3, 4], [5]]);
    gates.shift()!();
    expect(await Promise.all(rest)).to.deep.equal([20, 30, 40, 50]);
  });

  it('fails every call of a failed write and none of the next', async () => {
    let isFailing = false;
    const gates: (() => void)[] = [];
    const write = createBatchedWriter(async (batch: readonly string[]) => {
      await new Promise<void>((resolve) => gates.push(resolve));
      if (isFailing) throw new Error('connection lost');
      return batch.map((s) => s.toUpperCase());
    }, 10);
    const outcome = (p: Promise<string>) => p.then((v) => v, (e: Error) => `failed: ${e.message}`);
    const first = outcome(write('a'));
    const failing = [write('b'), write('c')].map(outcome);
    gates.shift()!();
    expect(await first).to.equal('A');
    await new Promise((resolve) => setImmediate(resolve));
    const last = outcome(write('d'));
    isFailing = true;
    gates.shift()!();
    expect(await Promise.all(failing)).to.deep.equal(['failed: connection lost', 'failed: connection lost']);
    isFailing = false;
    await new Promise((resolve) => setImmediate(resolve));
    gates.shift()!();
    expect(await last).to.equal('D');
  });
});

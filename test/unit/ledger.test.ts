// Ledger entries v2 against fixed vectors (test/fixtures/ledger-v2.json), recomputed here from the layout alone.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import { computeLedgerHash, computeVotesDigest, verifyLedgerEntries, type HashedLedgerEntry } from '../../lib/protocol/ledger.ts';
import vector from '../fixtures/ledger-v2.json' with { type: 'json' };

const canonicalize = createRequire(import.meta.url)('canonicalize') as (value: unknown) => string;
const H = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest('hex');
const entries = vector.entries as HashedLedgerEntry[];

describe('ledger entries v2', () => {
  it('hold exactly the fields the protocol lists', () => {
    expect(Object.keys(entries[0]).sort()).to.deep.equal(
      ['aggregation', 'codeCid', 'createdAt', 'hash', 'inputHash', 'k', 'ok', 'prevHash', 'projectId', 'q', 'requestId', 'resultHash', 'round', 'seq', 'votesDigest'],
    );
  });

  it('hash as H(bytes(prevHash) || JCS(entry without hash)), chained from 32 zero bytes', () => {
    expect(entries[0].prevHash).to.equal('0'.repeat(64));
    for (const entry of entries) {
      const { hash, ...covered } = entry;
      expect(H(Buffer.from(entry.prevHash, 'hex'), Buffer.from(canonicalize(covered)))).to.equal(hash);
      expect(computeLedgerHash(entry)).to.equal(hash);
    }
    expect(entries[1].prevHash).to.equal(entries[0].hash);
    expect(verifyLedgerEntries(entries)).to.deep.equal({ ok: true, length: 2, head: entries[1].hash });
  });

  it('digest the votes that counted, sorted by node id', () => {
    const sorted = [...vector.votes].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
    expect(H(Buffer.from(canonicalize(sorted)))).to.equal(entries[0].votesDigest);
    expect(computeVotesDigest(vector.votes)).to.equal(entries[0].votesDigest);
  });

  it('leave late votes out of the digest', () => {
    const late = { ...vector.votes[0], nodeId: 'node_ffffffffffffffffffff', late: true };
    expect(computeVotesDigest([...vector.votes, late])).to.equal(entries[0].votesDigest);
  });

  it('stop verifying at an entry whose bound fields changed', () => {
    for (const change of [{ codeCid: 'bafkreiother' }, { inputHash: 'ff'.repeat(32) }, { round: 8 }, { k: 4 }, { aggregation: 'exact' }, { createdAt: '2026-01-02T03:04:05.679Z' }]) {
      expect(verifyLedgerEntries([entries[0], { ...entries[1], ...change } as HashedLedgerEntry])).to.deep.include({ ok: false, badSeq: 2 });
    }
  });
});

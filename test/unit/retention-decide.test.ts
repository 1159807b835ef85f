// Retention's pure parts: what the sweep compacts and removes (in bounded batches), the vote
// compaction's stored form, the gauges' values, export file names, and the check of an export's
// ledger file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { exportFileNames, isExportFileName } from '../../lib/export-files.ts';
import type { HashedLedgerEntry } from '../../lib/protocol/ledger.ts';
import { compactVoteText } from '../../lib/repository/retention.ts';
import {
  computeRetentionLagSeconds, decideCompaction, decideLedgerTrim, decideRequestRemoval, decideRoundRemoval, isMemoryNearLimit,
  type CompactionCandidate, type RemovalCandidate,
} from '../../lib/roles/scheduler/retention-decide.ts';
import { tombstoneUntilMs } from '../../lib/roles/scheduler/retention.ts';
import { createId } from '../../lib/ids.ts';
import { verifyLedgerPiece } from '../../cli/verify/ledger-file.ts';

const HOUR = 3_600_000;
const NOW = 1_800_000_000_000;
const published = (finishedAtMs: number, chainStatus?: string) => ({ status: 'published' as const, finishedAtMs, ...(chainStatus ? { chainStatus } : {}) });

describe('retention decisions', () => {
  describe('compaction', () => {
    const entry = (seq: number, request: CompactionCandidate['request']): CompactionCandidate => ({ seq, requestId: `req_${seq}`, request });

    it('compacts published requests whose logs are due, in ledger order, and stops at the first that is not due', () => {
      const decision = decideCompaction([entry(1, published(NOW - 5000)), entry(2, published(NOW - 1000)), entry(3, published(NOW - 100)), entry(4, published(NOW - 9000))], NOW, 1000);
      expect(decision).to.deep.equal({ compact: ['req_1', 'req_2'], cursor: 2 });
    });

    it('passes over a request gone or with a chain publication on its way, and waits at one not published yet', () => {
      const decision = decideCompaction([entry(1, null), entry(2, published(NOW - 5000, 'pending')), entry(3, published(NOW - 5000, 'committed')), entry(4, { status: 'agreed', finishedAtMs: NaN }), entry(5, published(NOW - 5000))], NOW, 1000);
      expect(decision).to.deep.equal({ compact: ['req_3'], cursor: 3 });
    });

    it('leaves the cursor where it is when the first entry is not due', () => {
      expect(decideCompaction([entry(7, published(NOW))], NOW, 1000)).to.deep.equal({ compact: [], cursor: null });
      expect(decideCompaction([], NOW, 1000)).to.deep.equal({ compact: [], cursor: null });
    });
  });

  describe('removal of requests', () => {
    const candidate = (id: string, fields: Partial<RemovalCandidate>): RemovalCandidate => ({ id, projectId: 'prj_a', status: 'published', ...fields });

    it('removes failed requests and exported published ones, and holds the rest with the reason', () => {
      const decision = decideRequestRemoval([
        candidate('a', { status: 'failed' }),
        candidate('b', { seq: 10 }),
        candidate('c', { seq: 11 }),
        candidate('d', { seq: 9, chainStatus: 'broadcast' }),
        candidate('e', { seq: 8, chainStatus: 'committed' }),
        candidate('f', { status: 'assigned' }),
      ], 10, 100);
      expect(decision.remove).to.deep.equal([{ id: 'a', projectId: 'prj_a' }, { id: 'b', projectId: 'prj_a' }, { id: 'e', projectId: 'prj_a' }]);
      expect(decision.held).to.deep.equal([{ id: 'c', reason: 'not_exported' }, { id: 'd', reason: 'chain_open' }, { id: 'f', reason: 'not_final' }]);
    });

    it('removes at most a batch', () => {
      const all = Array.from({ length: 7 }, (_, i) => candidate(`r${i}`, { status: 'failed' }));
      expect(decideRequestRemoval(all, 0, 3).remove.map((r) => r.id)).to.deep.equal(['r0', 'r1', 'r2']);
    });
  });

  describe('the ledger front', () => {
    const front = (seq: number, isRequestKept = false) => ({ seq, hash: `h${seq}`, requestId: `req_${seq}`, isRequestKept });

    it('removes the exported entries whose requests are gone, up to the first kept request', () => {
      expect(decideLedgerTrim([front(4), front(5), front(6, true), front(7)], 10, 100).map((e) => e.seq)).to.deep.equal([4, 5]);
    });

    it('never removes an entry past the export mark, and at most a batch', () => {
      expect(decideLedgerTrim([front(4), front(5), front(6)], 5, 100).map((e) => e.seq)).to.deep.equal([4, 5]);
      expect(decideLedgerTrim([front(4), front(5), front(6)], 10, 2)).to.deep.equal([{ seq: 4, hash: 'h4', requestId: 'req_4' }, { seq: 5, hash: 'h5', requestId: 'req_5' }]);
    });
  });

  describe('rounds', () => {
    const old = NOW - 10 * HOUR;
    const starts = (n: number) => Array.from({ length: n }, (_, i) => old + i * 1000);

    it('removes rounds older than the horizon up to three before the oldest kept entry\'s assignment round', () => {
      expect(decideRoundRemoval({ firstKept: 1, latest: 100, starts: starts(100), oldestNeededRound: 20, horizonMs: NOW, batch: 1000 })).to.deep.equal({ from: 1, through: 17 });
    });

    it('keeps the latest three rounds, rounds after the horizon, and removes at most a batch', () => {
      expect(decideRoundRemoval({ firstKept: 5, latest: 10, starts: starts(6), oldestNeededRound: null, horizonMs: NOW, batch: 1000 })).to.deep.equal({ from: 5, through: 7 });
      expect(decideRoundRemoval({ firstKept: 5, latest: 100, starts: starts(96), oldestNeededRound: null, horizonMs: old + 3000, batch: 1000 })).to.deep.equal({ from: 5, through: 7 });
      expect(decideRoundRemoval({ firstKept: 5, latest: 100, starts: starts(96), oldestNeededRound: null, horizonMs: NOW, batch: 10 })).to.deep.equal({ from: 5, through: 14 });
    });

    it('removes nothing when the first kept round is still needed or missing', () => {
      expect(decideRoundRemoval({ firstKept: 5, latest: 100, starts: starts(96), oldestNeededRound: 7, horizonMs: NOW, batch: 10 })).to.equal(null);
      expect(decideRoundRemoval({ firstKept: 5, latest: 100, starts: [NaN], oldestNeededRound: null, horizonMs: NOW, batch: 10 })).to.equal(null);
    });
  });

  it('computes the retention lag from the oldest kept final request', () => {
    expect(computeRetentionLagSeconds(NOW, HOUR, NOW - HOUR - 90_000)).to.equal(90);
    expect(computeRetentionLagSeconds(NOW, HOUR, NOW - 1000)).to.equal(0);
    expect(computeRetentionLagSeconds(NOW, HOUR, null)).to.equal(0);
  });

  it('warns above 80% of maxmemory, never without a limit', () => {
    expect([isMemoryNearLimit(801, 1000), isMemoryNearLimit(800, 1000), isMemoryNearLimit(10 ** 12, 0)]).to.deep.equal([true, false, false]);
  });

  it('keeps a tombstone twice the retention period past its creation hour, and one period past its removal at least', () => {
    const id = createId('req', 10 * HOUR + 1234);
    expect(tombstoneUntilMs(id, 5 * HOUR, 12 * HOUR)).to.equal(21 * HOUR);
    expect(tombstoneUntilMs(id, 5 * HOUR, 30 * HOUR)).to.equal(35 * HOUR);
  });
});

describe('vote compaction', () => {
  const outcome = { ok: true, resultHash: 'ab'.repeat(32) };
  const vote = (fields: Record<string, unknown>) => JSON.stringify({ nodeId: 'node_a', round: 5, ok: true, resultHash: 'ab'.repeat(32), value: { price: 2 }, signature: 'cd'.repeat(64), logs: ['x'], seq: 0, ...fields });

  it('keeps a counted vote for the outcome without what the outcome and assignment hold, and without logs', () => {
    expect(JSON.parse(compactVoteText(vote({}), outcome)!)).to.deep.equal({ nodeId: 'node_a', signature: 'cd'.repeat(64), seq: 0, sameAsOutcome: true });
  });

  it('drops a late vote\'s value, keeps a dissenting counted vote\'s value, and changes nothing twice', () => {
    expect(JSON.parse(compactVoteText(vote({ late: true, resultHash: 'ef'.repeat(32) }), outcome)!)).to.deep.equal({
      nodeId: 'node_a', round: 5, ok: true, resultHash: 'ef'.repeat(32), signature: 'cd'.repeat(64), seq: 0, late: true, valueDropped: true,
    });
    const dissent = JSON.parse(compactVoteText(vote({ ok: false, value: { error: 'boom' } }), outcome)!);
    expect(dissent).to.deep.include({ ok: false, value: { error: 'boom' } }).and.not.have.property('logs');
    const once = compactVoteText(vote({}), outcome)!;
    expect(compactVoteText(once, outcome)).to.equal(null);
  });
});

describe('export files', () => {
  it('names the ledger and receipts files by their seq range, and accepts only plain file names', () => {
    expect(exportFileNames(101, 250)).to.deep.equal({ ledgerFile: 'ledger-101-250.jsonl', receiptsFile: 'receipts-101-250.jsonl' });
    expect(['receipts-1-2.jsonl', '../x', 'a/b', '.hidden', ''].map(isExportFileName)).to.deep.equal([true, false, false, false, false]);
  });

  describe('an export\'s ledger file', () => {
    const { entries } = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/ledger-v2.json'), 'utf8')) as { entries: HashedLedgerEntry[] };
    const lines = (list: unknown[]) => list.map((entry, i) => ({ label: `ledger.jsonl:${i + 1}`, entry }));

    it('verifies entries that chain from the genesis, or from the last hash of the export before', () => {
      const checks = verifyLedgerPiece(lines(entries));
      expect(checks.map((c) => [c.name, c.ok])).to.deep.equal([['format', true], ['ledger-chain', true]]);
      expect(checks[1].reason).to.equal(`entries 1..${entries.length} link from the genesis to head ${entries[entries.length - 1].hash}`);
      expect(verifyLedgerPiece(lines(entries.slice(1)))[1]).to.deep.include({ ok: true });
    });

    it('fails a changed entry at its seq, a gap, and a line that is not a ledger entry', () => {
      const changed = [entries[0], { ...entries[1], ok: !entries[1].ok }];
      expect(verifyLedgerPiece(lines(changed))[1]).to.deep.equal({ name: 'ledger-chain', ok: false, reason: 'entry 2 does not chain from the one before it (seq, prevHash or hash)' });
      expect(verifyLedgerPiece(lines([{ ...entries[0], prevHash: entries[1].hash }]))[1].reason).to.equal('entry 1 does not start from 64 zeros');
      expect(verifyLedgerPiece(lines([{ ...entries[0], extra: 1 }]))[0]).to.deep.equal({ name: 'format', ok: false, reason: 'ledger.jsonl:1: $.extra: not a field of a ledger entry' });
    });
  });
});

// The sender's pure decisions: a publish job, and the chain publication state machine.
import { expect } from 'chai';
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { computeVotesDigest } from '../../lib/protocol/ledger.ts';
import type { ChainPublication, RequestRecord } from '../../lib/repository/types.ts';
import { decidePublication } from '../../lib/roles/sender/decide-publication.ts';
import { BROADCAST_RECHECK_MS, nextPublication, type PublicationEvent } from '../../lib/roles/sender/next-publication.ts';

const OUTCOME = { ok: true, value: 1, resultHash: 'ab'.repeat(32), supporters: ['n1'], agreedAt: '2026-01-01T00:00:00.000Z' };
function request(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: 'req_1', projectId: 'prj_a', version: 1, codeCid: 'bafk', source: 'api', input: null, createdAt: '2026-01-01T00:00:00.000Z', status: 'agreed',
    assignment: { round: 4, roundSeed: 'ab', committee: ['n1', 'n2'], quorum: 2, aggregation: 'exact', assignedAt: '2026-01-01T00:00:00.000Z' }, outcome: OUTCOME, votes: [], ...overrides,
  };
}

describe('decidePublication', () => {
  const entry = {
    requestId: 'req_1', projectId: 'prj_a', codeCid: 'bafk', inputHash: toHex(sha256(utf8('null'))), createdAt: '2026-01-01T00:00:00.000Z',
    round: 4, k: 2, q: 2, aggregation: 'exact', ok: true, resultHash: OUTCOME.resultHash, votesDigest: computeVotesDigest([]),
  };
  const cases: Array<[string, RequestRecord, unknown]> = [
    ['publishes an agreed request', request(), { kind: 'publish', isChain: false, entry }],
    ['publishes an agreed chain request and hands it to the outbox', request({ source: 'chain' }), { kind: 'publish', isChain: true, entry }],
    ['puts a published chain request in the outbox again (a crash between the writes)', request({ source: 'chain', status: 'published' }), { kind: 'requeue_outbox' }],
    ['skips a published API request', request({ status: 'published' }), { kind: 'skip', status: 'published' }],
    ['skips a failed request', request({ status: 'failed', outcome: undefined }), { kind: 'skip', status: 'failed' }],
    ['skips an agreed request without an outcome', request({ outcome: undefined }), { kind: 'skip', status: 'agreed' }],
    ['skips an agreed request without an assignment', request({ assignment: undefined }), { kind: 'skip', status: 'agreed' }],
  ];
  for (const [name, given, expected] of cases) it(name, () => expect(decidePublication(given)).to.deep.equal(expected));
});

describe('nextPublication', () => {
  const NOW = 1_000_000;
  const options = { nowMs: NOW, maxAttempts: 3 };
  const cases: Array<[string, ChainPublication | undefined, PublicationEvent, unknown]> = [
    ['commits what the contract already holds, keeping the known hash', { status: 'broadcast', txHash: 'T', attempts: 1 }, { kind: 'answered' },
      { publication: { attempts: 1, status: 'committed', txHash: 'T' }, retryAtMs: null, isFailure: false }],
    ['fails one the contract no longer holds as pending', undefined, { kind: 'not_pending', chainProjectId: 2, reqId: 9 },
      { publication: { attempts: 0, status: 'failed', error: 'the contract has no pending request 9 in project 2' }, retryAtMs: null, isFailure: true }],
    ['checks a signed transaction again after a while', undefined, { kind: 'signed', txHash: 'S' },
      { publication: { attempts: 0, status: 'broadcast', txHash: 'S' }, retryAtMs: NOW + BROADCAST_RECHECK_MS, isFailure: false }],
    ['commits with the height', { status: 'broadcast', txHash: 'S', attempts: 0 }, { kind: 'committed', txHash: 'S', height: 12 },
      { publication: { attempts: 0, status: 'committed', txHash: 'S', height: 12 }, retryAtMs: null, isFailure: false }],
    ['retries a first error after 1 s', undefined, { kind: 'error', message: 'down' },
      { publication: { status: 'pending', error: 'down', attempts: 1 }, retryAtMs: NOW + 1000, isFailure: false }],
    ['keeps a signed transaction of unknown fate to check first', { status: 'pending', attempts: 1 }, { kind: 'error', message: 'timeout', txHash: 'U' },
      { publication: { status: 'broadcast', txHash: 'U', error: 'timeout', attempts: 2 }, retryAtMs: NOW + 2000, isFailure: false }],
    ['drops a result that does not verify, never to be sent', { status: 'broadcast', txHash: 'U', attempts: 1 }, { kind: 'unverified', reason: 'the ledger holds no entry for it' },
      { publication: { attempts: 1, status: 'failed', error: 'the result does not verify: the ledger holds no entry for it' }, retryAtMs: null, isFailure: true }],
    ['fails for good at the last attempt', { status: 'broadcast', txHash: 'U', attempts: 2 }, { kind: 'error', message: 'still down' },
      { publication: { status: 'failed', txHash: 'U', error: 'still down', attempts: 3 }, retryAtMs: null, isFailure: true }],
  ];
  for (const [name, current, event, expected] of cases) it(name, () => expect(nextPublication(current, event, options)).to.deep.equal(expected));

  it('caps the backoff at 60 s', () => {
    expect(nextPublication({ status: 'pending', attempts: 9 }, { kind: 'error', message: 'x' }, { nowMs: NOW, maxAttempts: 20 }).retryAtMs).to.equal(NOW + 60_000);
  });
});

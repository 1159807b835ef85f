// The offline receipt check: an honest receipt built from real keys passes every named check, and
// each tampering fails the check that guards what was changed.
import { expect } from 'chai';
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeResultHash } from '../../lib/crypto/canonical-json.ts';
import { publicKey } from '../../lib/crypto/ecvrf.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { computeLedgerHash } from '../../lib/protocol/ledger.ts';
import { findReceiptFormatProblem } from '../../lib/protocol/receipt.ts';
import { RECEIPT_CHECKS, verifyReceipt, type ReceiptCheck, type ReceiptCheckName } from '../../lib/protocol/verify-receipt.ts';
import { buildReceipt } from '../support/receipt-builder.ts';

const built = buildReceipt();
const { counterPublicKey } = built;

/** A fresh copy of the honest receipt, changed by `change`, and its checks. */
function verifyTampered(change: (receipt: any) => void, key = counterPublicKey): ReceiptCheck[] {
  const receipt = structuredClone(built.receipt) as any;
  change(receipt);
  return verifyReceipt(receipt, key);
}

const failed = (checks: readonly ReceiptCheck[]): ReceiptCheckName[] => checks.filter((c) => !c.ok).map((c) => c.name);
const reasonOf = (checks: readonly ReceiptCheck[], name: ReceiptCheckName) => checks.find((c) => c.name === name)?.reason;

describe('verifyReceipt', () => {
  it('passes every check of an honest receipt, in order', () => {
    const checks = verifyReceipt(built.receipt, counterPublicKey);
    expect(checks.map((c) => c.name)).to.deep.equal([...RECEIPT_CHECKS]);
    expect(failed(checks)).to.deep.equal([]);
    expect(reasonOf(checks, 'round-chain')).to.equal('rounds 2..4 verify under the counter key, from the seed of round 1');
    expect(reasonOf(checks, 'vote-signatures')).to.equal('3 votes (2 counted, 1 late): each a committee member\'s, one per node, signed over the v2 bytes with its value');
    expect(reasonOf(checks, 'anchor')).to.equal(`round 4 committed to ledger length 3 with head ${built.receipt.ledger.chain[0].hash}, where this chain ends`);
  });

  it('holds exactly the receipt fields', () => {
    const { receipt } = built;
    expect(Object.keys(receipt)).to.deep.equal(['version', 'request', 'result', 'assignment', 'previousSeed', 'rounds', 'tickets', 'nodes', 'votes', 'ledger', 'counterPublicKey']);
    expect(Object.keys(receipt.request)).to.deep.equal(['id', 'projectId', 'codeCid', 'input', 'createdAt']);
    expect(Object.keys(receipt.assignment)).to.deep.equal(['round', 'committee', 'k', 'q', 'aggregation']);
    expect(Object.keys(receipt.rounds[0])).to.deep.equal(['round', 'seed', 'proof', 'ticketsRoot', 'ledgerLength', 'ledgerHead', 'startedAt']);
    expect(Object.keys(receipt.nodes[0])).to.deep.equal(['id', 'name', 'signPublicKey', 'vrfPublicKey', 'registration']);
    expect(Object.keys(receipt.votes[0])).to.deep.equal(['nodeId', 'round', 'ok', 'resultHash', 'value', 'signature', 'late']);
    expect(receipt.rounds.map((r) => r.round)).to.deep.equal([2, 3, 4]);
    expect(receipt.votes.map((v) => v.late)).to.deep.equal([false, false, true]);
  });

  const tamperings: Array<[string, (receipt: any) => void, ReceiptCheckName, string]> = [
    ['a changed result value', (r) => { r.result.value = { price: 1000 }; }, 'result-hash', 'H(JCS(value)) is not the result hash'],
    ['a dropped ticket', (r) => { r.tickets.pop(); }, 'tickets-root', ''],
    ['a swapped node VRF key', (r) => { r.nodes[0].vrfPublicKey = r.nodes[1].vrfPublicKey; }, 'node-records', ''],
    ['a forged vote signature', (r) => { r.votes[0].signature = `${r.votes[0].signature.slice(0, -2)}${r.votes[0].signature.endsWith('00') ? '01' : '00'}`; }, 'vote-signatures', ''],
    ['a late vote turned into a counted one', (r) => { r.votes[2].late = false; }, 'ledger-entry', ''],
    ['a rewritten ledger entry (hash left)', (r) => { r.ledger.entry.resultHash = toHex(computeResultHash({ price: 1000 })); }, 'ledger-entry', ''],
    ['a rewritten ledger entry (hash recomputed)', (r) => {
      r.ledger.entry.createdAt = '2026-01-01T00:00:03.501Z';
      const { hash: _old, ...fields } = r.ledger.entry;
      r.ledger.entry.hash = computeLedgerHash(fields);
    }, 'ledger-chain', 'entry 3 does not chain from the one before it (seq, prevHash or hash)'],
    ['a chain cut before the anchor head', (r) => { r.ledger.chain.pop(); }, 'anchor', ''],
    ['a round dropped from the chain', (r) => { r.rounds.splice(1, 1); }, 'round-chain', ''],
    ['another committee', (r) => { r.assignment.committee.reverse(); }, 'committee', ''],
  ];
  for (const [name, change, check, reason] of tamperings) {
    it(`fails ${check} for ${name}`, () => {
      const checks = verifyTampered(change);
      expect(failed(checks)).to.include(check);
      if (reason) expect(reasonOf(checks, check)).to.equal(reason);
    });
  }

  it('names the exact problem of each tampering', () => {
    const { receipt } = built;
    expect(reasonOf(verifyTampered((r) => { r.nodes[0].vrfPublicKey = r.nodes[1].vrfPublicKey; }), 'node-records'))
      .to.equal(`node ${receipt.nodes[0].id}: the registration does not verify (VRF key or name changed)`);
    expect(reasonOf(verifyTampered((r) => { r.nodes[0].vrfPublicKey = r.nodes[1].vrfPublicKey; }), 'ticket-proofs'))
      .to.equal(`the ticket of ${receipt.tickets[0].nodeId} does not verify under its VRF key for round 2`);
    expect(reasonOf(verifyTampered((r) => { r.votes[0].signature = '00'.repeat(64); }), 'vote-signatures'))
      .to.equal(`the vote of ${receipt.votes[0].nodeId} is refused: bad_signature`);
    expect(reasonOf(verifyTampered((r) => { r.ledger.entry.resultHash = toHex(computeResultHash({ price: 1000 })); }), 'ledger-entry'))
      .to.equal('the entry\'s resultHash does not match the request, its result and its counted votes');
    expect(reasonOf(verifyTampered((r) => { r.votes[2].late = false; }), 'ledger-entry'))
      .to.equal('the entry\'s votesDigest does not match the request, its result and its counted votes');
    expect(reasonOf(verifyTampered((r) => { r.tickets.pop(); }), 'tickets-root')).to.match(/^the 3 tickets hash to root [0-9a-f]{64}, but round 3 committed to [0-9a-f]{64}$/);
  });

  it('fails the counter key and the round chain under another counter key', () => {
    const other = toHex(publicKey(sha256(utf8('another counter key'))));
    const checks = verifyTampered(() => undefined, other);
    expect(failed(checks)).to.deep.equal(['counter-key', 'round-chain']);
    expect(reasonOf(checks, 'counter-key')).to.equal(`the receipt names counter key ${counterPublicKey}, not the pinned ${other}`);
    expect(reasonOf(checks, 'round-chain')).to.equal('round 2: the proof does not verify under the counter key over its seed chain, tickets root and ledger anchor');
  });

  it('fails the counter key alone when the receipt names another key than the pinned (right) one', () => {
    const checks = verifyTampered((r) => { r.counterPublicKey = toHex(publicKey(sha256(utf8('x')))); });
    expect(failed(checks)).to.deep.equal(['counter-key']);
  });

  it('reports a malformed receipt as a format failure only', () => {
    expect(verifyTampered((r) => { delete r.ledger.entry.votesDigest; })).to.deep.equal([{ name: 'format', ok: false, reason: '$.ledger.entry.votesDigest: not a string' }]);
    expect(verifyTampered((r) => { r.ledger.chain[0].extra = 1; })).to.deep.equal([{ name: 'format', ok: false, reason: '$.ledger.chain[0].extra: not a field of a ledger entry' }]);
    expect(findReceiptFormatProblem({ ...built.receipt, version: 1 })).to.equal('$.version: 1 is not 2');
    expect(findReceiptFormatProblem('nope')).to.equal('$: not an object');
  });

  it('never throws on hex of the wrong length', () => {
    const checks = verifyTampered((r) => { r.rounds[0].proof = 'abcd'; r.tickets[0].beta = 'zz'; });
    expect(reasonOf(checks, 'round-chain')).to.equal('round 2 proof is not 80 bytes of hex');
    expect(reasonOf(checks, 'ticket-proofs')).to.equal(`ticket of ${built.receipt.tickets[0].nodeId}: beta is not 64 bytes of hex`);
  });
});

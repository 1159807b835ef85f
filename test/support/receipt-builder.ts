// Builds a receipt from real keys and the protocol's own functions, with no store: a counter key,
// four registered nodes with tickets each round, a request assigned in round 3 to a committee of 3,
// two counted votes and one late one, and a ledger of three entries anchored by round 4.
import { fromHex, toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeResultHash } from '../../lib/crypto/canonical-json.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { publicKey } from '../../lib/crypto/ecvrf.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { createSigner } from '../../lib/crypto/keys.ts';
import { createCommitteeSelector } from '../../lib/protocol/committee.ts';
import { GENESIS_PREV_HASH, computeLedgerHash, computeVotesDigest, type HashedLedgerEntry, type LedgerFields } from '../../lib/protocol/ledger.ts';
import { signRegistration } from '../../lib/protocol/node-registration.ts';
import { createReceipt, type Receipt, type ReceiptRound } from '../../lib/protocol/receipt.ts';
import { GENESIS_SEED, computeTicketsRoot, createRound } from '../../lib/protocol/rounds.ts';
import { createTicket } from '../../lib/protocol/tickets.ts';
import { computeInputHash, computeVoteBinding, createVote } from '../../lib/protocol/vote.ts';
import { buildNodes, type TestNode } from './builders.ts';

export const RECEIPT_COUNTER_KEY = sha256(utf8('receipt builder counter key'));
export const RECEIPT_CODE = 'export default (input) => ({ price: input.price * 2 })';

export interface BuiltReceipt {
  readonly receipt: Receipt;
  readonly counterPublicKey: string;
  readonly nodes: readonly TestNode[];
}

/** Appends an entry to `ledger`, chained from its last one. */
function append(ledger: HashedLedgerEntry[], fields: Omit<LedgerFields, 'seq' | 'prevHash'>): HashedLedgerEntry {
  const entry: LedgerFields = { ...fields, seq: ledger.length + 1, prevHash: ledger.length > 0 ? ledger[ledger.length - 1].hash : GENESIS_PREV_HASH };
  const hashed = { ...entry, hash: computeLedgerHash(entry) };
  ledger.push(hashed);
  return hashed;
}

function otherEntry(requestId: string): Omit<LedgerFields, 'seq' | 'prevHash'> {
  return {
    requestId, projectId: 'prj_other', codeCid: computeContentId(utf8('export default () => 0')), inputHash: toHex(computeInputHash(null)),
    createdAt: '2026-01-01T00:00:00.000Z', round: 2, k: 3, q: 2, aggregation: 'exact', ok: true, resultHash: toHex(computeResultHash(0)),
    votesDigest: computeVotesDigest([]),
  };
}

/**
 * The honest receipt; every call builds a fresh copy to tamper with. `code` and `value` set what the
 * request ran and what its committee returned (by default RECEIPT_CODE and its result).
 */
export function buildReceipt(options: { code?: string; value?: unknown } = {}): BuiltReceipt {
  const nodes = buildNodes(4);
  const ledger: HashedLedgerEntry[] = [];
  const rounds: ReceiptRound[] = [];
  const tickets = new Map<number, { nodeId: string; beta: string; proof: string }[]>();
  let seed: Uint8Array = GENESIS_SEED;
  const startRound = (r: number) => {
    const head = ledger.length > 0 ? ledger[ledger.length - 1].hash : GENESIS_PREV_HASH;
    const proof = createRound(RECEIPT_COUNTER_KEY, r, seed, { ticketsRoot: computeTicketsRoot(tickets.get(r - 1) ?? []), ledgerLength: ledger.length, ledgerHead: fromHex(head, 32) });
    rounds.push({ round: r, seed: toHex(proof.seed), proof: toHex(proof.proof), ticketsRoot: toHex(proof.ticketsRoot), ledgerLength: ledger.length, ledgerHead: head, startedAt: `2026-01-01T00:00:0${r}.000Z` });
    seed = proof.seed;
    tickets.set(r, nodes.map((n) => createTicket(n.nodeId, n.keys.vrfSecretKey, r, proof.seed)).map((t) => ({ nodeId: t.nodeId, beta: toHex(t.beta), proof: toHex(t.proof) })));
  };

  startRound(1);
  startRound(2);
  append(ledger, otherEntry('req_earlier'));
  startRound(3);
  const request = { id: 'req_01receiptbuilder000000000', projectId: 'prj_receipt', codeCid: computeContentId(utf8(options.code ?? RECEIPT_CODE)), input: { price: 21 }, createdAt: '2026-01-01T00:00:03.500Z' };
  const committee = createCommitteeSelector(tickets.get(2)!.map((t) => ({ nodeId: t.nodeId, beta: fromHex(t.beta, 64) }))).select(request.id, 3);
  const assignment = { round: 3, committee, quorum: 2, aggregation: 'exact' as const };
  const binding = computeVoteBinding(request, assignment);
  const value = options.value ?? { price: 42 };
  const votes = committee.map((nodeId, i) => {
    const node = nodes.find((n) => n.nodeId === nodeId)!;
    const { requestId: _id, ...vote } = createVote(createSigner(node.keys.signSecretKey), { requestId: request.id, nodeId, round: 3, ok: true, value }, binding);
    return { ...vote, late: i === 2 };
  });
  const outcome = { ok: true, value, resultHash: toHex(computeResultHash(value)) };
  append(ledger, {
    requestId: request.id, projectId: request.projectId, codeCid: request.codeCid, inputHash: toHex(computeInputHash(request.input)), createdAt: request.createdAt,
    round: 3, k: 3, q: 2, aggregation: 'exact', ok: true, resultHash: outcome.resultHash, votesDigest: computeVotesDigest(votes.filter((v) => !v.late)),
  });
  append(ledger, otherEntry('req_later'));
  startRound(4);

  const receipt = createReceipt({
    request: { ...request, assignment, outcome, votes },
    previousSeed: rounds[0].seed,
    rounds: rounds.slice(1),
    tickets: tickets.get(2)!,
    nodes: nodes.map((n) => ({
      id: n.nodeId, name: `node ${n.nodeId.slice(5, 9)}`, signPublicKey: toHex(n.keys.signPublicKey), vrfPublicKey: toHex(n.keys.vrfPublicKey),
      registration: signRegistration(n.keys.signSecretKey, n.keys.vrfPublicKey, `node ${n.nodeId.slice(5, 9)}`),
    })),
    entries: ledger.slice(1),
    counterPublicKey: toHex(publicKey(RECEIPT_COUNTER_KEY)),
  });
  return { receipt: JSON.parse(JSON.stringify(receipt)) as Receipt, counterPublicKey: toHex(publicKey(RECEIPT_COUNTER_KEY)), nodes };
}

// Verifying a receipt offline (protocol v2, docs/protocol.md "Checking a receipt"): every check the
// receipt allows, each named, with ok or fail and a reason. Needs nothing but the receipt and the
// counter public key the verifier pinned; the checks are the protocol's own functions.
import { fromHex, toHex } from '../crypto/bytes.ts';
import { createCommitteeSelector } from './committee.ts';
import { computeLedgerHash, computeVotesDigest, verifyLedgerEntries } from './ledger.ts';
import { findRegistrationProblem } from './node-registration.ts';
import { findReceiptFormatProblem, type Receipt, type ReceiptNode, type ReceiptVote } from './receipt.ts';
import { GENESIS_SEED, computeTicketsRoot, verifyRoundChain, type RoundProof } from './rounds.ts';
import { verifyTicket } from './tickets.ts';
import { verifyOutcome } from './verify-outcome.ts';
import { countedVotes } from './vote-tally.ts';
import { checkVote, computeInputHash, computeVoteBinding, valueMatchesHash } from './vote.ts';

/** Every check, in the order they run and print. */
export const RECEIPT_CHECKS = [
  'format', 'counter-key', 'node-records', 'round-chain', 'tickets-root', 'ticket-proofs', 'committee',
  'vote-signatures', 'tally', 'result-hash', 'ledger-entry', 'ledger-chain', 'anchor',
] as const;
export type ReceiptCheckName = (typeof RECEIPT_CHECKS)[number];

/** One check's verdict: `reason` says what held, or why not. */
export interface ReceiptCheck {
  readonly name: ReceiptCheckName;
  readonly ok: boolean;
  readonly reason: string;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Thrown inside a check: its message is the check's reason. */
class Failure extends Error {}

/**
 * Checks a receipt against the pinned counter public key (hex). Never throws: a receipt that is not
 * a v2 receipt fails `format` and nothing else runs; otherwise every check runs and reports.
 */
export function verifyReceipt(value: unknown, counterPublicKey: string): ReceiptCheck[] {
  const problem = findReceiptFormatProblem(value);
  if (problem) return [{ name: 'format', ok: false, reason: problem }];
  const receipt = value as Receipt;
  const facts = createFacts(receipt);
  const checks: ReceiptCheck[] = [{ name: 'format', ok: true, reason: `a version ${receipt.version} receipt of ${receipt.request.id}` }];
  const run = (name: ReceiptCheckName, check: () => string) => {
    try {
      checks.push({ name, ok: true, reason: check() });
    } catch (error) {
      checks.push({ name, ok: false, reason: error instanceof Failure ? error.message : `cannot be checked: ${(error as Error)?.message ?? String(error)}` });
    }
  };
  run('counter-key', () => checkCounterKey(receipt, counterPublicKey));
  run('node-records', () => checkNodeRecords(receipt, facts));
  run('round-chain', () => checkRoundChain(receipt, counterPublicKey));
  run('tickets-root', () => checkTicketsRoot(receipt, facts));
  run('ticket-proofs', () => checkTicketProofs(receipt, facts));
  run('committee', () => checkCommittee(receipt, facts));
  run('vote-signatures', () => checkVoteSignatures(receipt, facts));
  run('tally', () => checkTally(receipt, facts));
  run('result-hash', () => checkResultHash(receipt));
  run('ledger-entry', () => checkLedgerEntry(receipt, facts));
  run('ledger-chain', () => checkLedgerChain(receipt));
  run('anchor', () => checkAnchor(receipt));
  return checks;
}

/** What several checks look up. */
interface Facts {
  readonly a: number;
  readonly nodes: ReadonlyMap<string, ReceiptNode>;
  readonly counted: readonly ReceiptVote[];
  /** The committee drawn again from the receipt's tickets (empty when they cannot be read). */
  readonly drawn: readonly string[];
}

function createFacts(receipt: Receipt): Facts {
  const { assignment, request } = receipt;
  let drawn: string[] = [];
  try {
    drawn = createCommitteeSelector(receipt.tickets.map((t) => ({ nodeId: t.nodeId, beta: fromHex(t.beta, 64) }))).select(request.id, assignment.k);
  } catch {
    // The tickets-root and committee checks say why.
  }
  return {
    a: assignment.round,
    nodes: new Map(receipt.nodes.map((node) => [node.id, node])),
    counted: countedVotes(receipt.votes),
    drawn,
  };
}

function checkCounterKey(receipt: Receipt, pinned: string): string {
  if (!/^[0-9a-f]{64}$/.test(pinned)) throw new Failure('the pinned counter key is not 32 bytes of lowercase hex');
  if (receipt.counterPublicKey === null) throw new Failure(`the receipt names no counter key; the pinned one is ${pinned}`);
  if (receipt.counterPublicKey !== pinned) throw new Failure(`the receipt names counter key ${receipt.counterPublicKey}, not the pinned ${pinned}`);
  return `the receipt names the pinned counter key ${pinned}`;
}

function checkNodeRecords(receipt: Receipt, facts: Facts): string {
  if (facts.nodes.size !== receipt.nodes.length) throw new Failure('a node appears twice');
  for (const node of receipt.nodes) {
    const problem = findRegistrationProblem(node);
    if (problem === 'malformed_key') throw new Failure(`node ${node.id}: a key or the registration is not hex of the right length`);
    if (problem === 'id_mismatch') throw new Failure(`node ${node.id}: the id is not the one its signing key derives`);
    if (problem === 'bad_registration') throw new Failure(`node ${node.id}: the registration does not verify (VRF key or name changed)`);
  }
  const missing = receipt.tickets.find((t) => !facts.nodes.has(t.nodeId));
  if (missing) throw new Failure(`ticket holder ${missing.nodeId} has no node record`);
  return `${receipt.nodes.length} node records: each id derives from its signing key, each registration signs its VRF key and name`;
}

function checkRoundChain(receipt: Receipt, pinned: string): string {
  const { rounds, previousSeed, assignment } = receipt;
  const first = rounds[0].round;
  if (first !== assignment.round - 1) throw new Failure(`the rounds start at ${first}, not at a-1 = ${assignment.round - 1}`);
  const seed = hex(previousSeed, 32, 'previousSeed');
  if (first === 1 && toHex(seed) !== toHex(GENESIS_SEED)) throw new Failure('round 1 starts from seed_0, 32 zero bytes, not from previousSeed');
  const proofs: RoundProof[] = rounds.map((r) => ({
    round: r.round, seed: hex(r.seed, 32, `round ${r.round} seed`), proof: hex(r.proof, 80, `round ${r.round} proof`),
    ticketsRoot: hex(r.ticketsRoot, 32, `round ${r.round} ticketsRoot`), ledgerLength: r.ledgerLength, ledgerHead: hex(r.ledgerHead, 32, `round ${r.round} ledgerHead`),
  }));
  const chain = verifyRoundChain(hex(pinned, 32, 'the pinned counter key'), proofs, seed);
  if (!chain.ok && chain.reason === 'not_consecutive') throw new Failure(`round ${chain.round} does not follow the round before it`);
  if (!chain.ok) throw new Failure(`round ${chain.round}: the proof does not verify under the counter key over its seed chain, tickets root and ledger anchor`);
  return `rounds ${first}..${rounds[rounds.length - 1].round} verify under the counter key, from the seed of round ${first - 1}`;
}

function checkTicketsRoot(receipt: Receipt, facts: Facts): string {
  const round = receipt.rounds.find((r) => r.round === facts.a);
  if (!round) throw new Failure(`round ${facts.a} (the assignment round) is not in the receipt`);
  if (new Set(receipt.tickets.map((t) => t.nodeId)).size !== receipt.tickets.length) throw new Failure('a node holds two tickets');
  const root = toHex(computeTicketsRoot(receipt.tickets));
  if (root !== round.ticketsRoot) throw new Failure(`the ${receipt.tickets.length} tickets hash to root ${root}, but round ${facts.a} committed to ${round.ticketsRoot}`);
  return `the ${receipt.tickets.length} tickets of round ${facts.a - 1} are the set round ${facts.a} committed to`;
}

function checkTicketProofs(receipt: Receipt, facts: Facts): string {
  const round = facts.a - 1;
  const seed = hex(receipt.rounds[0].seed, 32, `round ${round} seed`);
  for (const ticket of receipt.tickets) {
    const node = facts.nodes.get(ticket.nodeId);
    if (!node) throw new Failure(`ticket holder ${ticket.nodeId} has no node record`);
    const proof = { nodeId: ticket.nodeId, beta: hex(ticket.beta, 64, `ticket of ${ticket.nodeId}: beta`), proof: hex(ticket.proof, 80, `ticket of ${ticket.nodeId}: proof`) };
    if (!verifyTicket(hex(node.vrfPublicKey, 32, `node ${node.id}: vrfPublicKey`), round, seed, proof)) {
      throw new Failure(`the ticket of ${ticket.nodeId} does not verify under its VRF key for round ${round}`);
    }
  }
  return `every ticket of round ${round} is its node's VRF output over that round's seed`;
}

function checkCommittee(receipt: Receipt, facts: Facts): string {
  const { committee, k, q } = receipt.assignment;
  if (committee.length !== k) throw new Failure(`the committee lists ${committee.length} nodes, not k = ${k}`);
  if (q < 1 || q > k) throw new Failure(`quorum ${q} is not in 1..${k}`);
  if (facts.drawn.length < k) throw new Failure(`round ${facts.a - 1} has ${facts.drawn.length} usable tickets, fewer than k = ${k}`);
  if (facts.drawn.join() !== committee.join()) throw new Failure(`the tickets draw ${facts.drawn.join(', ')}, not the listed committee`);
  return `the ${k} lowest scores for ${receipt.request.id} among the tickets are the committee, in order`;
}

function checkVoteSignatures(receipt: Receipt, facts: Facts): string {
  const { request, assignment } = receipt;
  const binding = bindingOf(receipt);
  const seen: string[] = [];
  for (const vote of receipt.votes) {
    const node = facts.nodes.get(vote.nodeId);
    const signPublicKey = node ? hex(node.signPublicKey, 32, `node ${node.id}: signPublicKey`) : undefined;
    const refusal = checkVote({ requestId: request.id, round: assignment.round, committee: assignment.committee, votedNodeIds: seen, isFinal: false, signPublicKey, binding }, { ...vote, requestId: request.id });
    if (refusal) throw new Failure(`the vote of ${vote.nodeId} is refused: ${refusal}`);
    seen.push(vote.nodeId);
  }
  const late = receipt.votes.length - facts.counted.length;
  return `${receipt.votes.length} votes (${facts.counted.length} counted, ${late} late): each a committee member's, one per node, signed over the v2 bytes with its value`;
}

function checkTally(receipt: Receipt, facts: Facts): string {
  const { request, assignment, result } = receipt;
  const signKeys = new Map<string, Uint8Array>();
  for (const vote of facts.counted) {
    const node = facts.nodes.get(vote.nodeId);
    if (node) signKeys.set(node.id, hex(node.signPublicKey, 32, `node ${node.id}: signPublicKey`));
  }
  const stored = { ...request, assignment: { round: assignment.round, committee: assignment.committee, quorum: assignment.q, aggregation: assignment.aggregation }, outcome: result, votes: receipt.votes };
  const reason = verifyOutcome(stored, facts.drawn, signKeys);
  if (reason) throw new Failure(reason);
  return `the ${facts.counted.length} counted votes reach the quorum of ${assignment.q} (${assignment.aggregation}) on this result`;
}

function checkResultHash(receipt: Receipt): string {
  const { ok, value, resultHash } = receipt.result;
  if (!valueMatchesHash(value, hex(resultHash, 32, 'resultHash'))) throw new Failure('H(JCS(value)) is not the result hash');
  if (!ok && (typeof value !== 'object' || value === null || typeof (value as { error?: unknown }).error !== 'string')) throw new Failure('a failed result is not {"error": message}');
  return `H(JCS(value)) = ${resultHash}`;
}

function checkLedgerEntry(receipt: Receipt, facts: Facts): string {
  const { request, assignment, result } = receipt;
  const { entry } = receipt.ledger;
  if (!TIMESTAMP.test(request.createdAt)) throw new Failure(`createdAt ${request.createdAt} is not in the form YYYY-MM-DDTHH:mm:ss.sssZ`);
  const expected = {
    requestId: request.id, projectId: request.projectId, codeCid: request.codeCid, inputHash: toHex(computeInputHash(request.input)), createdAt: request.createdAt,
    round: assignment.round, k: assignment.k, q: assignment.q, aggregation: assignment.aggregation, ok: result.ok, resultHash: result.resultHash,
    votesDigest: computeVotesDigest(facts.counted),
  };
  const wrong = Object.entries(expected).filter(([field, value]) => entry[field as keyof typeof expected] !== value).map(([field]) => field);
  if (wrong.length > 0) throw new Failure(`the entry's ${wrong.join(', ')} ${wrong.length === 1 ? 'does' : 'do'} not match the request, its result and its counted votes`);
  if (computeLedgerHash(entry) !== entry.hash) throw new Failure(`entry ${entry.seq}: the hash does not match its fields`);
  return `entry ${entry.seq} binds this request, input, time, committee rule, result and counted votes, and hashes to ${entry.hash}`;
}

function checkLedgerChain(receipt: Receipt): string {
  const { entry, chain } = receipt.ledger;
  const check = verifyLedgerEntries([entry, ...chain], entry.prevHash, entry.seq);
  if (!check.ok) throw new Failure(`entry ${check.badSeq} does not chain from the one before it (seq, prevHash or hash)`);
  return `entries ${entry.seq}..${check.length} link by prevHash and each hash covers its fields`;
}

function checkAnchor(receipt: Receipt): string {
  const { rounds, assignment, ledger } = receipt;
  const anchor = rounds[rounds.length - 1];
  const last = ledger.chain.length > 0 ? ledger.chain[ledger.chain.length - 1] : ledger.entry;
  if (anchor.round <= assignment.round) throw new Failure(`the last round, ${anchor.round}, is not after the assignment round ${assignment.round}`);
  const early = rounds.slice(0, -1).find((r) => r.ledgerLength >= ledger.entry.seq);
  if (early) throw new Failure(`round ${early.round} already anchors entry ${ledger.entry.seq}: the rounds go past the first anchor`);
  if (anchor.ledgerLength < ledger.entry.seq) throw new Failure(`round ${anchor.round} committed to ledger length ${anchor.ledgerLength}, before entry ${ledger.entry.seq}`);
  if (last.seq !== anchor.ledgerLength || last.hash !== anchor.ledgerHead) throw new Failure(`round ${anchor.round} committed to ledger length ${anchor.ledgerLength} and head ${anchor.ledgerHead}, but the chain ends at ${last.seq} with ${last.hash}`);
  return `round ${anchor.round} committed to ledger length ${anchor.ledgerLength} with head ${anchor.ledgerHead}, where this chain ends`;
}

function bindingOf(receipt: Receipt) {
  const { request, assignment } = receipt;
  if (!TIMESTAMP.test(request.createdAt)) throw new Failure(`createdAt ${request.createdAt} is not in the form YYYY-MM-DDTHH:mm:ss.sssZ`);
  try {
    return computeVoteBinding(request, { committee: assignment.committee, quorum: assignment.q, aggregation: assignment.aggregation });
  } catch {
    throw new Failure(`the request cannot be bound: ${request.codeCid.slice(0, 80)} is not a code content id, or the input is not JSON`);
  }
}

function hex(text: string, bytes: number, what: string): Uint8Array {
  try {
    return fromHex(text, bytes);
  } catch {
    throw new Failure(`${what} is not ${bytes} bytes of hex`);
  }
}

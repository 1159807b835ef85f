// The receipt of a published request (protocol v2, docs/protocol.md "Receipt"): everything needed to
// re-verify it offline, from the round before its committee's ticket round to the round that anchors
// its ledger entry. This module only assembles it from records; verify-receipt.ts checks one.
import type { HashedLedgerEntry } from './ledger.ts';
import type { NodeRegistrationFields } from './node-registration.ts';
import type { Vote } from './vote.ts';
import { AGGREGATIONS, type Aggregation } from './vote-tally.ts';

export const RECEIPT_VERSION = 2;

/** A round record as the receipt carries it (hex where bytes). */
export interface ReceiptRound {
  readonly round: number;
  readonly seed: string;
  readonly proof: string;
  readonly ticketsRoot: string;
  readonly ledgerLength: number;
  readonly ledgerHead: string;
  readonly startedAt: string;
}

export interface ReceiptTicket {
  readonly nodeId: string;
  readonly beta: string;
  readonly proof: string;
}

/** A node record as the receipt carries it: exactly the fields its registration binds. */
export type ReceiptNode = NodeRegistrationFields;

/** A recorded vote; `late`: recorded after finality, so never counted, but signed and checked like the others. */
export type ReceiptVote = Omit<Vote, 'requestId'> & { readonly late: boolean };

/** The receipt JSON, field for field (docs/protocol.md, "Receipt JSON"). */
export interface Receipt {
  readonly version: typeof RECEIPT_VERSION;
  readonly request: { readonly id: string; readonly projectId: string; readonly codeCid: string; readonly input: unknown; readonly createdAt: string };
  readonly result: { readonly ok: boolean; readonly value: unknown; readonly resultHash: string };
  readonly assignment: { readonly round: number; readonly committee: readonly string[]; readonly k: number; readonly q: number; readonly aggregation: Aggregation };
  /** The seed of round `a-2` (64 zeros when `a-2` is 0): what round `a-1`'s proof starts from. */
  readonly previousSeed: string;
  /** Rounds `a-1` up to the first round whose `ledgerLength` reaches the entry's seq, in order. */
  readonly rounds: readonly ReceiptRound[];
  /** The frozen ticket set `T_{a-1}`, sorted by node id. */
  readonly tickets: readonly ReceiptTicket[];
  /** The record of every ticket holder, sorted by id. */
  readonly nodes: readonly ReceiptNode[];
  /** Every recorded vote, in the order consensus recorded them (late votes whose value retention dropped are left out). */
  readonly votes: readonly ReceiptVote[];
  /** The request's entry and the entries after it up to the anchoring round's `ledgerHead`. */
  readonly ledger: { readonly entry: HashedLedgerEntry; readonly chain: readonly HashedLedgerEntry[] };
  readonly counterPublicKey: string | null;
}

/** What the receipt is assembled from: the records as stored (extra fields are dropped). */
export interface ReceiptSources {
  readonly request: {
    readonly id: string;
    readonly projectId: string;
    readonly codeCid: string;
    readonly input: unknown;
    readonly createdAt: string;
    readonly assignment: { readonly round: number; readonly committee: readonly string[]; readonly quorum: number; readonly aggregation: Aggregation };
    readonly outcome: { readonly ok: boolean; readonly value: unknown; readonly resultHash: string };
    /**
     * In arrival order; `late` is absent on votes recorded before finality. A late vote whose value
     * retention dropped (`valueDropped`) is left out: its signature covers a result hash no value
     * can be checked against any more, and it never counted.
     */
    readonly votes: readonly (Omit<ReceiptVote, 'late'> & { readonly late?: boolean; readonly valueDropped?: boolean })[];
  };
  readonly previousSeed: string;
  readonly rounds: readonly ReceiptRound[];
  readonly tickets: readonly ReceiptTicket[];
  /** Node records; one stored before signed registrations has none (the verifier then refuses it). */
  readonly nodes: readonly (Omit<ReceiptNode, 'registration'> & { readonly registration?: string })[];
  /** The request's ledger entry first, then every later entry up to the anchor. */
  readonly entries: readonly HashedLedgerEntry[];
  readonly counterPublicKey: string | null;
}

/** Builds the receipt JSON from its sources, keeping exactly the receipt's fields. */
export function createReceipt(sources: ReceiptSources): Receipt {
  const { request } = sources;
  const { assignment, outcome } = request;
  const [entry, ...chain] = sources.entries;
  if (!entry) throw new RangeError('a receipt needs the request ledger entry');
  return {
    version: RECEIPT_VERSION,
    request: { id: request.id, projectId: request.projectId, codeCid: request.codeCid, input: request.input ?? null, createdAt: request.createdAt },
    result: { ok: outcome.ok, value: outcome.value ?? null, resultHash: outcome.resultHash },
    assignment: { round: assignment.round, committee: [...assignment.committee], k: assignment.committee.length, q: assignment.quorum, aggregation: assignment.aggregation },
    previousSeed: sources.previousSeed,
    rounds: sources.rounds.map(({ round, seed, proof, ticketsRoot, ledgerLength, ledgerHead, startedAt }) => ({ round, seed, proof, ticketsRoot, ledgerLength, ledgerHead, startedAt })),
    tickets: sortBy(sources.tickets.map(({ nodeId, beta, proof }) => ({ nodeId, beta, proof })), (t) => t.nodeId),
    nodes: sortBy(sources.nodes.map(({ id, name, signPublicKey, vrfPublicKey, registration }) => ({ id, name, signPublicKey, vrfPublicKey, registration: registration ?? '' })), (n) => n.id),
    votes: request.votes.filter((vote) => vote.valueDropped !== true)
      .map(({ nodeId, round, ok, resultHash, value, signature, late }) => ({ nodeId, round, ok, resultHash, value: value ?? null, signature, late: late === true })),
    ledger: { entry, chain },
    counterPublicKey: sources.counterPublicKey,
  };
}

function sortBy<T>(items: T[], key: (item: T) => string): T[] {
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

// The receipt's shape, for findReceiptFormatProblem: a field's kind, a nested object, or `[kind]` for a list.
type Shape = 'string' | 'integer' | 'boolean' | 'json' | 'stringOrNull' | readonly [Shape] | { readonly [field: string]: Shape };

const LEDGER_ENTRY_SHAPE = {
  seq: 'integer', requestId: 'string', projectId: 'string', codeCid: 'string', inputHash: 'string', createdAt: 'string', round: 'integer',
  k: 'integer', q: 'integer', aggregation: 'string', ok: 'boolean', resultHash: 'string', votesDigest: 'string', prevHash: 'string', hash: 'string',
} as const;

const RECEIPT_SHAPE: Shape = {
  version: 'integer',
  request: { id: 'string', projectId: 'string', codeCid: 'string', input: 'json', createdAt: 'string' },
  result: { ok: 'boolean', value: 'json', resultHash: 'string' },
  assignment: { round: 'integer', committee: ['string'], k: 'integer', q: 'integer', aggregation: 'string' },
  previousSeed: 'string',
  rounds: [{ round: 'integer', seed: 'string', proof: 'string', ticketsRoot: 'string', ledgerLength: 'integer', ledgerHead: 'string', startedAt: 'string' }],
  tickets: [{ nodeId: 'string', beta: 'string', proof: 'string' }],
  nodes: [{ id: 'string', name: 'string', signPublicKey: 'string', vrfPublicKey: 'string', registration: 'string' }],
  votes: [{ nodeId: 'string', round: 'integer', ok: 'boolean', resultHash: 'string', value: 'json', signature: 'string', late: 'boolean' }],
  ledger: { entry: LEDGER_ENTRY_SHAPE, chain: [LEDGER_ENTRY_SHAPE] },
  counterPublicKey: 'stringOrNull',
};

/**
 * Why `value` is not a receipt of this version (the first problem, with its path), or null. Checks
 * the fields and their JSON types, a ledger entry's exact field set (its hash covers every field),
 * version 2, an assignment round of at least 2 and at least one round; byte lengths and hashes are
 * the verifier's checks.
 */
export function findReceiptFormatProblem(value: unknown): string | null {
  const problem = findShapeProblem(value, RECEIPT_SHAPE, '$');
  if (problem) return problem;
  const receipt = value as Receipt;
  if (receipt.version !== RECEIPT_VERSION) return `$.version: ${receipt.version} is not ${RECEIPT_VERSION}`;
  if (receipt.assignment.round < 2) return '$.assignment.round: a committee is drawn from round 2 on';
  if (!(AGGREGATIONS as readonly string[]).includes(receipt.assignment.aggregation)) return `$.assignment.aggregation: ${receipt.assignment.aggregation} is not one of ${AGGREGATIONS.join(', ')}`;
  if (receipt.rounds.length === 0) return '$.rounds: empty';
  return null;
}

/** Why `value` is not a ledger entry (the first problem, with its path), or null: every field with its JSON type, and no other (its hash covers every field). */
export function findLedgerEntryFormatProblem(value: unknown, path = '$'): string | null {
  return findShapeProblem(value, LEDGER_ENTRY_SHAPE, path);
}

function findShapeProblem(value: unknown, shape: Shape, path: string): string | null {
  if (shape === 'json') return value === undefined ? `${path}: missing` : null;
  if (shape === 'string') return typeof value === 'string' ? null : `${path}: not a string`;
  if (shape === 'boolean') return typeof value === 'boolean' ? null : `${path}: not a boolean`;
  if (shape === 'integer') return Number.isSafeInteger(value) && (value as number) >= 0 ? null : `${path}: not a non-negative integer`;
  if (shape === 'stringOrNull') return value === null || typeof value === 'string' ? null : `${path}: neither a string nor null`;
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return `${path}: not a list`;
    for (let i = 0; i < value.length; i++) {
      const problem = findShapeProblem(value[i], shape[0], `${path}[${i}]`);
      if (problem) return problem;
    }
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${path}: not an object`;
  for (const [field, inner] of Object.entries(shape as Record<string, Shape>)) {
    const problem = findShapeProblem((value as Record<string, unknown>)[field], inner, `${path}.${field}`);
    if (problem) return problem;
  }
  if (shape === LEDGER_ENTRY_SHAPE) {
    const extra = Object.keys(value).find((field) => !Object.hasOwn(LEDGER_ENTRY_SHAPE, field));
    if (extra !== undefined) return `${path}.${extra}: not a field of a ledger entry`;
  }
  return null;
}

// Votes (protocol v2, docs/protocol.md): the signed message bytes, which bind the verdict to the
// code and input that ran, and the checks consensus applies before a vote counts.
import { bytesEqual, concatBytes, fromHex, toHex, u64be, utf8 } from '../crypto/bytes.ts';
import { canonicalJson, computeResultHash } from '../crypto/canonical-json.ts';
import { parseContentId } from '../crypto/content-id.ts';
import { sha256 } from '../crypto/hash.ts';
import { verifySignature } from '../crypto/keys.ts';
import type { Aggregation } from './vote-tally.ts';

const VOTE_TAG = utf8('gw/vote/v2');
const AGGREGATION_BYTE: Readonly<Record<Aggregation, number>> = { exact: 0x00, median: 0x01 };

/** What ties a vote to the request it answers: the accepted-at time, the committee rule, the code and the input. */
export interface VoteBinding {
  /** The request's accepted-at time in ms (the sandbox's clock stands still at it). */
  readonly createdAtMs: number;
  /** Committee size and quorum. */
  readonly k: number;
  readonly q: number;
  readonly aggregation: Aggregation;
  /** The 32-byte SHA-256 inside the code's content id: the SHA-256 of the source bytes. */
  readonly codeHash: Uint8Array;
  /** `H(JCS(input))`, the input being JSON null when absent. */
  readonly inputHash: Uint8Array;
}

/** What a node signs: its verdict on one request in its assignment round, bound to what ran. */
export interface VoteBody extends VoteBinding {
  readonly requestId: string;
  readonly round: number;
  readonly ok: boolean;
  /** 32-byte SHA-256 of the JCS of the value (`{"error": message}` when `ok` is false). */
  readonly resultHash: Uint8Array;
}

/**
 * The binding of a request's votes, from the request as stored and its assignment. Throws a
 * RangeError for a code id that is not a CIDv1 (raw, sha2-256) or an input that is not JSON.
 */
export function computeVoteBinding(
  request: { readonly createdAt: string; readonly codeCid: string; readonly input: unknown },
  assignment: { readonly committee: readonly string[]; readonly quorum: number; readonly aggregation: Aggregation },
): VoteBinding {
  const codeHash = parseContentId(request.codeCid);
  if (!codeHash) throw new RangeError(`not a code content id: ${request.codeCid.slice(0, 80)}`);
  return {
    createdAtMs: Date.parse(request.createdAt),
    k: assignment.committee.length,
    q: assignment.quorum,
    aggregation: assignment.aggregation,
    codeHash,
    inputHash: computeInputHash(request.input),
  };
}

/** `H(JCS(input))`, the input being JSON null when absent. */
export function computeInputHash(input: unknown): Uint8Array {
  return sha256(utf8(canonicalJson(input ?? null)));
}

/** A vote as it travels: hex fields, the value itself, and who signed it. */
export interface Vote {
  readonly requestId: string;
  readonly nodeId: string;
  readonly round: number;
  readonly ok: boolean;
  readonly resultHash: string;
  readonly value: unknown;
  readonly signature: string;
}

/**
 * `"gw/vote/v2" || u64be(len(requestId)) || requestId || u64be(round) || u64be(createdAtMs) ||
 * u64be(k) || u64be(q) || aggregationByte || codeHash || inputHash || resultHash || (ok ? 0x01 : 0x00)`,
 * `aggregationByte` 0x00 for exact, 0x01 for median.
 */
export function encodeVoteMessage(body: VoteBody): Uint8Array {
  for (const field of ['codeHash', 'inputHash', 'resultHash'] as const) {
    if (body[field].length !== 32) throw new RangeError(`${field} must be 32 bytes`);
  }
  const requestId = utf8(body.requestId);
  return concatBytes(
    VOTE_TAG, u64be(requestId.length), requestId, u64be(body.round), u64be(body.createdAtMs), u64be(body.k), u64be(body.q),
    Uint8Array.of(AGGREGATION_BYTE[body.aggregation]), body.codeHash, body.inputHash, body.resultHash, Uint8Array.of(body.ok ? 1 : 0),
  );
}

/** Builds and signs a vote for `value` with a node's signer, bound to the request by `binding`. */
export function createVote(
  sign: (message: Uint8Array) => Uint8Array,
  fields: { requestId: string; nodeId: string; round: number; ok: boolean; value: unknown },
  binding: VoteBinding,
): Vote {
  const resultHash = computeResultHash(fields.value);
  const signature = sign(encodeVoteMessage({ ...binding, ...fields, resultHash }));
  return { ...fields, resultHash: toHex(resultHash), signature: toHex(signature) };
}

export type VoteRefusal = 'wrong_request' | 'wrong_round' | 'not_member' | 'bad_signature' | 'hash_mismatch' | 'duplicate' | 'already_final';

/** What consensus knows about the request when a vote arrives. */
export interface VoteContext {
  readonly requestId: string;
  readonly round: number;
  readonly committee: readonly string[];
  /** Node ids whose vote is already recorded. */
  readonly votedNodeIds: ReadonlySet<string> | readonly string[];
  readonly isFinal: boolean;
  /** The registered Ed25519 public key of `vote.nodeId`, or undefined if the node is unknown. */
  readonly signPublicKey: Uint8Array | undefined;
  /** What the signature must also cover: the request's time, committee rule, code and input. */
  readonly binding: VoteBinding;
}

/**
 * Null when the vote counts; otherwise why it is refused. Checks run cheapest-first but
 * identity before state: a forged duplicate is `bad_signature`, a valid late vote `already_final`.
 */
export function checkVote(context: VoteContext, vote: Vote): VoteRefusal | null {
  if (vote.requestId !== context.requestId) return 'wrong_request';
  if (vote.round !== context.round) return 'wrong_round';
  if (!context.committee.includes(vote.nodeId) || !context.signPublicKey) return 'not_member';
  let resultHash: Uint8Array;
  let signature: Uint8Array;
  try {
    resultHash = fromHex(vote.resultHash, 32);
    signature = fromHex(vote.signature, 64);
  } catch {
    return 'bad_signature';
  }
  const message = encodeVoteMessage({ ...context.binding, requestId: vote.requestId, round: vote.round, ok: vote.ok === true, resultHash });
  if (typeof vote.ok !== 'boolean' || !verifySignature(context.signPublicKey, message, signature)) return 'bad_signature';
  if (!valueMatchesHash(vote.value, resultHash)) return 'hash_mismatch';
  const voted = context.votedNodeIds;
  if (Array.isArray(voted) ? voted.includes(vote.nodeId) : (voted as ReadonlySet<string>).has(vote.nodeId)) return 'duplicate';
  if (context.isFinal) return 'already_final';
  return null;
}

/** True when `value` is a JSON value whose `H(JCS(value))` is `resultHash`. */
export function valueMatchesHash(value: unknown, resultHash: Uint8Array): boolean {
  try {
    return bytesEqual(computeResultHash(value), resultHash);
  } catch {
    return false;
  }
}

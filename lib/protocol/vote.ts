// Votes (ARCHITECTURE.md, "Votes"): the signed message bytes, and the checks consensus applies
// before a vote counts, each refusal with its own reason.
import { bytesEqual, concatBytes, fromHex, toHex, u64be, utf8 } from '../crypto/bytes.ts';
import { computeResultHash } from '../crypto/canonical-json.ts';
import { verifySignature } from '../crypto/keys.ts';

const VOTE_TAG = utf8('gw/vote/v1');

/** What a node signs: its verdict on one request in its assignment round. */
export interface VoteBody {
  readonly requestId: string;
  readonly round: number;
  readonly ok: boolean;
  /** 32-byte SHA-256 of the JCS of the value (`{"error": message}` when `ok` is false). */
  readonly resultHash: Uint8Array;
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

/** `"gw/vote/v1" || u64be(len(requestId)) || requestId || u64be(round) || resultHash || (ok ? 0x01 : 0x00)`. */
export function encodeVoteMessage(body: VoteBody): Uint8Array {
  if (body.resultHash.length !== 32) throw new RangeError('resultHash must be 32 bytes');
  const requestId = utf8(body.requestId);
  return concatBytes(VOTE_TAG, u64be(requestId.length), requestId, u64be(body.round), body.resultHash, Uint8Array.of(body.ok ? 1 : 0));
}

/** Builds and signs a vote for `value` with a node's signer. */
export function createVote(
  sign: (message: Uint8Array) => Uint8Array,
  fields: { requestId: string; nodeId: string; round: number; ok: boolean; value: unknown },
): Vote {
  const resultHash = computeResultHash(fields.value);
  const signature = sign(encodeVoteMessage({ ...fields, resultHash }));
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
  const message = encodeVoteMessage({ requestId: vote.requestId, round: vote.round, ok: vote.ok === true, resultHash });
  if (typeof vote.ok !== 'boolean' || !verifySignature(context.signPublicKey, message, signature)) return 'bad_signature';
  if (!hashMatches(vote.value, resultHash)) return 'hash_mismatch';
  const voted = context.votedNodeIds;
  if (Array.isArray(voted) ? voted.includes(vote.nodeId) : (voted as ReadonlySet<string>).has(vote.nodeId)) return 'duplicate';
  if (context.isFinal) return 'already_final';
  return null;
}

function hashMatches(value: unknown, resultHash: Uint8Array): boolean {
  try {
    return bytesEqual(computeResultHash(value), resultHash);
  } catch {
    return false;
  }
}

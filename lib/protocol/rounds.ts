// The round seed chain (ARCHITECTURE.md, "Round seed chain") and the per-request seed derived from it.
import { bytesEqual, concatBytes, u64be, utf8 } from '../crypto/bytes.ts';
import { proofToHash, prove, verify } from '../crypto/ecvrf.ts';
import { sha256 } from '../crypto/hash.ts';

/** `seed_0`: 32 zero bytes. Round numbers start at 1. */
export const GENESIS_SEED: Uint8Array = new Uint8Array(32);

const ROUND_TAG = utf8('gw/round/v1');
const REQUEST_SEED_TAG = utf8('gw/req-seed');

/** The verifiable part of a round record: `r`, `seed_r`, `pi_r`. */
export interface RoundProof {
  readonly round: number;
  readonly seed: Uint8Array;
  readonly proof: Uint8Array;
}

/** `alpha_r = "gw/round/v1" || u64be(r) || seed_{r-1}`. */
export function computeRoundAlpha(round: number, previousSeed: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(round) || round < 1) throw new RangeError(`round must be a positive integer, got ${round}`);
  if (previousSeed.length !== 32) throw new RangeError('a round seed is 32 bytes');
  return concatBytes(ROUND_TAG, u64be(round), previousSeed);
}

/** Proves round `round` from the previous seed with the counter key: `seed_r = H(beta_r)`. */
export function createRound(counterSecretKey: Uint8Array, round: number, previousSeed: Uint8Array): RoundProof {
  const proof = prove(counterSecretKey, computeRoundAlpha(round, previousSeed));
  return { round, seed: sha256(proofToHash(proof)), proof };
}

/** True when `pi_r` verifies under the counter public key and `seed_r = H(beta_r)`. */
export function verifyRound(counterPublicKey: Uint8Array, round: RoundProof, previousSeed: Uint8Array): boolean {
  let alpha: Uint8Array;
  try {
    alpha = computeRoundAlpha(round.round, previousSeed);
  } catch {
    return false;
  }
  const beta = verify(counterPublicKey, round.proof, alpha);
  return beta !== null && bytesEqual(sha256(beta), round.seed);
}

export type ChainCheck = { ok: true } | { ok: false; round: number; reason: 'not_consecutive' | 'bad_proof' };

/**
 * Verifies consecutive rounds. `previousSeed` is the seed of the round before `rounds[0]`
 * (`GENESIS_SEED` when the chain starts at round 1). Reports the first round that fails.
 */
export function verifyRoundChain(
  counterPublicKey: Uint8Array,
  rounds: readonly RoundProof[],
  previousSeed: Uint8Array = GENESIS_SEED,
): ChainCheck {
  let seed = previousSeed;
  for (let i = 0; i < rounds.length; i++) {
    const round = rounds[i];
    if (i > 0 && round.round !== rounds[i - 1].round + 1) return { ok: false, round: round.round, reason: 'not_consecutive' };
    if (!verifyRound(counterPublicKey, round, seed)) return { ok: false, round: round.round, reason: 'bad_proof' };
    seed = round.seed;
  }
  return { ok: true };
}

/** `ctx.seed` of a request: `H("gw/req-seed" || seed_a || requestId)`. */
export function computeRequestSeed(assignmentRoundSeed: Uint8Array, requestId: string): Uint8Array {
  return sha256(REQUEST_SEED_TAG, assignmentRoundSeed, utf8(requestId));
}

// The round seed chain (protocol v2, docs/protocol.md): each round commits, inside its VRF input, to the
// previous round's frozen ticket set and to the ledger's length and head; and the per-request seed.
import { bytesEqual, concatBytes, u64be, utf8 } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical-json.ts';
import { proofToHash, prove, verify } from '../crypto/ecvrf.ts';
import { sha256 } from '../crypto/hash.ts';
import type { VrfRunner } from '../crypto/vrf-runner.ts';

/** `seed_0`: 32 zero bytes. Round numbers start at 1. */
export const GENESIS_SEED: Uint8Array = new Uint8Array(32);

const ROUND_TAG = utf8('gw/round/v2');
const TICKETS_TAG = utf8('gw/tickets/v2');
const REQUEST_SEED_TAG = utf8('gw/req-seed');

/** What round r commits to when it starts: `ticketsRoot_{r-1}`, and the ledger's length `L` and head `h` (32 zero bytes when empty). */
export interface RoundAnchor {
  readonly ticketsRoot: Uint8Array;
  readonly ledgerLength: number;
  readonly ledgerHead: Uint8Array;
}

/** The verifiable part of a round record: `r`, `seed_r`, `pi_r` and what the round committed to. */
export interface RoundProof extends RoundAnchor {
  readonly round: number;
  readonly seed: Uint8Array;
  readonly proof: Uint8Array;
}

/** `ticketsRoot = H("gw/tickets/v2" || JCS([{nodeId, beta}] sorted by nodeId))`, beta in lowercase hex; `[]` for no tickets. */
export function computeTicketsRoot(tickets: readonly { readonly nodeId: string; readonly beta: string }[]): Uint8Array {
  const ordered = [...tickets]
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
    .map(({ nodeId, beta }) => ({ nodeId, beta: beta.toLowerCase() }));
  return sha256(TICKETS_TAG, utf8(canonicalJson(ordered)));
}

/** `alpha_r = "gw/round/v2" || u64be(r) || seed_{r-1} || ticketsRoot_{r-1} || u64be(L) || h`. */
export function computeRoundAlpha(round: number, previousSeed: Uint8Array, anchor: RoundAnchor): Uint8Array {
  if (!Number.isSafeInteger(round) || round < 1) throw new RangeError(`round must be a positive integer, got ${round}`);
  if (previousSeed.length !== 32) throw new RangeError('a round seed is 32 bytes');
  if (anchor.ticketsRoot.length !== 32 || anchor.ledgerHead.length !== 32) throw new RangeError('a tickets root and a ledger head are 32 bytes');
  if (!Number.isSafeInteger(anchor.ledgerLength) || anchor.ledgerLength < 0) throw new RangeError(`bad ledger length ${anchor.ledgerLength}`);
  return concatBytes(ROUND_TAG, u64be(round), previousSeed, anchor.ticketsRoot, u64be(anchor.ledgerLength), anchor.ledgerHead);
}

/** Proves round `round` from the previous seed and its anchor with the counter key: `seed_r = H(beta_r)`. */
export function createRound(counterSecretKey: Uint8Array, round: number, previousSeed: Uint8Array, anchor: RoundAnchor): RoundProof {
  const proof = prove(counterSecretKey, computeRoundAlpha(round, previousSeed, anchor));
  return { round, seed: sha256(proofToHash(proof)), proof, ticketsRoot: anchor.ticketsRoot, ledgerLength: anchor.ledgerLength, ledgerHead: anchor.ledgerHead };
}

/** createRound with the proof made by `vrf` (the scheduler's worker thread). */
export async function createRoundWith(vrf: VrfRunner, counterSecretKey: Uint8Array, round: number, previousSeed: Uint8Array, anchor: RoundAnchor): Promise<RoundProof> {
  const { proof, beta } = await vrf.prove(counterSecretKey, computeRoundAlpha(round, previousSeed, anchor));
  return { round, seed: sha256(beta), proof, ticketsRoot: anchor.ticketsRoot, ledgerLength: anchor.ledgerLength, ledgerHead: anchor.ledgerHead };
}

/** True when `pi_r` verifies under the counter public key and `seed_r = H(beta_r)`. */
export function verifyRound(counterPublicKey: Uint8Array, round: RoundProof, previousSeed: Uint8Array): boolean {
  let alpha: Uint8Array;
  try {
    alpha = computeRoundAlpha(round.round, previousSeed, round);
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

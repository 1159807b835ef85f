// The ECVRF operations as the roles call them: asynchronous, so a caller may run them off its event
// loop (lib/runtime/vrf-pool.ts, worker threads) with the same inputs and outputs as ecvrf.ts.
import { proofToHash, prove, verify, type VrfSuite } from './ecvrf.ts';

/** A proof and its VRF output: `pi` (80 bytes) and `beta = proof_to_hash(pi)` (64 bytes). */
export interface VrfProof {
  readonly proof: Uint8Array;
  readonly beta: Uint8Array;
}

export interface VrfRunner {
  /** ecvrf.ts `prove` and `proofToHash` in one call; rejects as `prove` throws (RangeError on a bad key). */
  prove(secretKey: Uint8Array, alpha: Uint8Array, suite?: VrfSuite): Promise<VrfProof>;
  /** ecvrf.ts `verify`: beta, or null for a proof that does not verify. */
  verify(publicKey: Uint8Array, proof: Uint8Array, alpha: Uint8Array, suite?: VrfSuite): Promise<Uint8Array | null>;
}

/** Proves and verifies on the calling thread: the reference the off-thread runner must match. */
export const inlineVrf: VrfRunner = {
  async prove(secretKey, alpha, suite = 'ELL2') {
    const proof = prove(secretKey, alpha, suite);
    return { proof, beta: proofToHash(proof, suite) };
  },
  async verify(publicKey, proof, alpha, suite = 'ELL2') {
    return verify(publicKey, proof, alpha, suite);
  },
};

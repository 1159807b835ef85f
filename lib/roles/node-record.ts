// The registration record of an executor node, built the same way by the executor itself, the API and tests.
import { toHex } from '../crypto/bytes.ts';
import { computeNodeId } from '../crypto/keys.ts';
import type { NodeRecord } from '../repository/types.ts';

/** An active node record for two public keys; the id derives from the signing key. */
export function createNodeRecord(keys: { signPublicKey: Uint8Array; vrfPublicKey: Uint8Array }, name: string, createdAtMs: number): NodeRecord {
  return {
    id: computeNodeId(keys.signPublicKey),
    name,
    signPublicKey: toHex(keys.signPublicKey),
    vrfPublicKey: toHex(keys.vrfPublicKey),
    status: 'active',
    createdAt: new Date(createdAtMs).toISOString(),
  };
}

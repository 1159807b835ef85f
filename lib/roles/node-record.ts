// The registration record of an executor node, built the same way by the executor itself,
// `gateway node init`, the API and tests (protocol v2, docs/protocol.md "Node registration").
import { toHex } from '../crypto/bytes.ts';
import { computeNodeId, type NodeKeys } from '../crypto/keys.ts';
import { signRegistration, type NodeRegistrationFields } from '../protocol/node-registration.ts';
import type { NodeRecord } from '../repository/types.ts';

/** What a node hands the admin to be registered: the body of `POST /v1/nodes`. */
export type NodeRegistration = NodeRegistrationFields;

/** A node's own registration: its id, public keys, name and its signature over them. */
export function createNodeRegistration(keys: Pick<NodeKeys, 'signSecretKey' | 'signPublicKey' | 'vrfPublicKey'>, name: string): NodeRegistration {
  return {
    id: computeNodeId(keys.signPublicKey),
    name,
    signPublicKey: toHex(keys.signPublicKey),
    vrfPublicKey: toHex(keys.vrfPublicKey),
    registration: signRegistration(keys.signSecretKey, keys.vrfPublicKey, name),
  };
}

/** An active, signed node record for a node's own keys; the id derives from the signing key. */
export function createNodeRecord(keys: Pick<NodeKeys, 'signSecretKey' | 'signPublicKey' | 'vrfPublicKey'>, name: string, createdAtMs: number): NodeRecord {
  return createNodeRecordFrom(createNodeRegistration(keys, name), createdAtMs);
}

/**
 * An active node record holding a registration made elsewhere, as given: the caller checks it with
 * `findRegistrationProblem` before storing it.
 */
export function createNodeRecordFrom(registration: NodeRegistration, createdAtMs: number): NodeRecord {
  const { id, name, signPublicKey, vrfPublicKey } = registration;
  return { id, name, signPublicKey, vrfPublicKey, registration: registration.registration, status: 'active', createdAt: new Date(createdAtMs).toISOString() };
}

// Node registration (protocol v2, docs/protocol.md): a node signs its VRF public key and its name
// with its signing key, and its id derives from that signing key. Anyone holding a node record can
// check both bindings; nothing else about a node is trusted.
import { concatBytes, fromHex, toHex, u64be, utf8 } from '../crypto/bytes.ts';
import { computeNodeId, createSigner, verifySignature } from '../crypto/keys.ts';

const REGISTRATION_TAG = utf8('gw/node/v2');

/** The signed fields of a node record (hex keys, as stored and served). */
export interface NodeRegistrationFields {
  readonly id: string;
  readonly name: string;
  readonly signPublicKey: string;
  readonly vrfPublicKey: string;
  /** Hex Ed25519 signature over `registrationBytes`. */
  readonly registration: string;
}

/** `"gw/node/v2" || vrfPublicKey || u64be(len(name)) || name`; an absent name is `""`. */
export function registrationBytes(vrfPublicKey: Uint8Array, name: string = ''): Uint8Array {
  if (vrfPublicKey.length !== 32) throw new RangeError('a VRF public key is 32 bytes');
  const nameBytes = utf8(name);
  return concatBytes(REGISTRATION_TAG, vrfPublicKey, u64be(nameBytes.length), nameBytes);
}

/** The hex registration signature a node with this signing key makes for its VRF key and name. */
export function signRegistration(signSecretKey: Uint8Array, vrfPublicKey: Uint8Array, name: string = ''): string {
  return toHex(createSigner(signSecretKey)(registrationBytes(vrfPublicKey, name)));
}

export type RegistrationProblem = 'malformed_key' | 'id_mismatch' | 'bad_registration';

/**
 * Checks a node record's two bindings: its id is the one its signing key derives, and the
 * registration is that key's signature over its VRF key and name. Null when both hold.
 * Never throws, whatever the record holds.
 */
export function findRegistrationProblem(node: NodeRegistrationFields): RegistrationProblem | null {
  let signPublicKey: Uint8Array;
  let vrfPublicKey: Uint8Array;
  let signature: Uint8Array;
  try {
    signPublicKey = fromHex(String(node.signPublicKey), 32);
    vrfPublicKey = fromHex(String(node.vrfPublicKey), 32);
    signature = fromHex(String(node.registration), 64);
  } catch {
    return 'malformed_key';
  }
  if (computeNodeId(signPublicKey) !== node.id) return 'id_mismatch';
  if (typeof node.name !== 'string') return 'bad_registration';
  return verifySignature(signPublicKey, registrationBytes(vrfPublicKey, node.name), signature) ? null : 'bad_registration';
}

// Node keys: one 32-byte seed → a VRF key and an Ed25519 signing key (docs/protocol.md, "Keys"),
// Ed25519 signatures through node:crypto, and node ids derived from the signing key.
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { toHex, utf8 } from './bytes.ts';
import { publicKey as vrfPublicKeyOf } from './ecvrf.ts';
import { sha256 } from './hash.ts';

export const SEED_BYTES = 32;
export const SIGNATURE_BYTES = 64;

// DER wrappers that turn raw 32-byte Ed25519 keys into PKCS#8 / SPKI for node:crypto.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Everything a node derives from its seed. Secret keys never leave the executor. */
export interface NodeKeys {
  readonly vrfSecretKey: Uint8Array;
  readonly vrfPublicKey: Uint8Array;
  readonly signSecretKey: Uint8Array;
  readonly signPublicKey: Uint8Array;
}

/** A fresh random node seed. */
export function createNodeSeed(): Uint8Array {
  return new Uint8Array(randomBytes(SEED_BYTES));
}

/** `vrfKey = H("gw/vrf-key" || seed)`, `signKey = H("gw/sign-key" || seed)` and their public keys. */
export function deriveNodeKeys(seed: Uint8Array): NodeKeys {
  if (seed.length !== SEED_BYTES) throw new RangeError(`node seed must be ${SEED_BYTES} bytes`);
  const vrfSecretKey = sha256(utf8('gw/vrf-key'), seed);
  const signSecretKey = sha256(utf8('gw/sign-key'), seed);
  return {
    vrfSecretKey,
    vrfPublicKey: vrfPublicKeyOf(vrfSecretKey),
    signSecretKey,
    signPublicKey: signPublicKeyOf(signSecretKey),
  };
}

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  if (secretKey.length !== 32) throw new RangeError('Ed25519 secret key must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
}

/** The 32-byte Ed25519 public key of a 32-byte secret key (RFC 8032). */
export function signPublicKeyOf(secretKey: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKeyObject(secretKey)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

/** A signing function bound to one secret key (the KeyObject is built once). */
export function createSigner(secretKey: Uint8Array): (message: Uint8Array) => Uint8Array {
  const key = privateKeyObject(secretKey);
  return (message) => new Uint8Array(sign(null, message, key));
}

const publicKeyCache = new Map<string, KeyObject | null>();
const PUBLIC_KEY_CACHE_LIMIT = 4096;

function publicKeyObject(publicKey: Uint8Array): KeyObject | null {
  const id = toHex(publicKey);
  let key = publicKeyCache.get(id);
  if (key === undefined) {
    try {
      key = publicKey.length === 32
        ? createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
        : null;
    } catch {
      key = null;
    }
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) publicKeyCache.clear();
    publicKeyCache.set(id, key);
  }
  return key;
}

/** Ed25519 verification; false (never a throw) for malformed keys or signatures. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/** A node's id: `node_` + the first 20 hex digits of `H("gw/node-id" || signPublicKey)`. Stable per key. */
export function computeNodeId(signPublicKey: Uint8Array): string {
  return `node_${toHex(sha256(utf8('gw/node-id'), signPublicKey)).slice(0, 20)}`;
}


// ECVRF over edwards25519 with SHA-512 (RFC 9381 suites TAI 0x03 and ELL2 0x04): key derivation, prove, verify, proof-to-hash.
import { createHash } from 'node:crypto';
import { ed25519, ed25519_hasher } from '@noble/curves/ed25519.js';

type Point = InstanceType<typeof ed25519.Point>;
const Point = ed25519.Point;

/** Cipher suite: `'ELL2'` = ECVRF-EDWARDS25519-SHA512-ELL2 (0x04), `'TAI'` = ECVRF-EDWARDS25519-SHA512-TAI (0x03). */
export type VrfSuite = 'ELL2' | 'TAI';

/** Length in bytes of a proof pi = Gamma (32) || c (16) || s (32). */
export const PROOF_BYTES = 80;
/** Length in bytes of a VRF output beta (a SHA-512 digest). */
export const OUTPUT_BYTES = 64;

const PT_LEN = 32; // ptLen: encoded point length
const C_LEN = 16; // cLen: challenge length
const Q_LEN = 32; // qLen: scalar length
/** Prime order q of the edwards25519 base point. */
const Q = 2n ** 252n + 27742317777372353535851937790883648493n;
const SUITE_BYTE: Readonly<Record<VrfSuite, number>> = { TAI: 0x03, ELL2: 0x04 };
const ELL2_DST: Uint8Array = new TextEncoder().encode('ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_\x04');

function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** string_to_int: little-endian bytes to bigint. */
function leToInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] as number);
  return n;
}

/** int_to_string: bigint to `len` little-endian bytes (n must fit). */
function intToLe(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/**
 * string_to_point per RFC 8032 5.1.3, strictly: rejects y >= p and (x = 0, sign 1).
 * noble's `fromBytes(b, zip215 = false)` already enforces both; the re-encoding check is belt and braces.
 */
function decodePoint(bytes: Uint8Array): Point | null {
  if (bytes.length !== PT_LEN) return null;
  let P: Point;
  try {
    P = Point.fromBytes(bytes, false);
  } catch {
    return null;
  }
  const re = P.toBytes();
  for (let i = 0; i < PT_LEN; i++) if (re[i] !== bytes[i]) return null;
  return P;
}

function suiteByte(suite: VrfSuite): number {
  const b = SUITE_BYTE[suite];
  if (b === undefined) throw new TypeError(`ecvrf: unknown suite ${String(suite)}`);
  return b;
}

/** Secret scalar x (mod q, so it is a valid input to noble's constant-time multiply) and truncated hash prefix. */
function expandSecret(secretKey: Uint8Array): { x: bigint; prefix: Uint8Array } {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new RangeError('ecvrf: secret key must be a 32-byte Uint8Array');
  }
  const h = sha512(secretKey);
  const a = h.slice(0, 32);
  a[0] = (a[0] as number) & 248;
  a[31] = ((a[31] as number) & 127) | 64;
  return { x: leToInt(a) % Q, prefix: h.slice(32, 64) };
}

/** ECVRF_encode_to_curve (5.4.1.1 TAI / 5.4.1.2 ELL2); result is cofactor-cleared. Throws only with negligible probability. */
function encodeToCurve(suite: VrfSuite, pk: Uint8Array, alpha: Uint8Array): Point {
  if (suite === 'ELL2') {
    const msg = new Uint8Array(pk.length + alpha.length);
    msg.set(pk, 0);
    msg.set(alpha, pk.length);
    // noble's encodeToCurve = clear_cofactor(map_to_curve(hash_to_field(msg, 1))) with the given DST bytes.
    const H = ed25519_hasher.encodeToCurve(msg, { DST: ELL2_DST });
    if (H.is0()) throw new Error('ecvrf: encode_to_curve produced the identity');
    return H;
  }
  const front = Uint8Array.of(SUITE_BYTE.TAI, 0x01);
  for (let ctr = 0; ctr < 256; ctr++) {
    const digest = sha512(front, pk, alpha, Uint8Array.of(ctr, 0x00));
    const P = decodePoint(digest.subarray(0, 32));
    if (P === null) continue;
    const H = P.clearCofactor();
    if (!H.is0()) return H;
  }
  throw new Error('ecvrf: try-and-increment exhausted its counter');
}

/** ECVRF_challenge_generation (5.4.3): first cLen bytes of SHA-512(suite || 0x02 || P1..P5 || 0x00), as an integer. */
function challenge(sb: number, points: Uint8Array[]): bigint {
  const digest = sha512(Uint8Array.of(sb, 0x02), ...points, Uint8Array.of(0x00));
  return leToInt(digest.subarray(0, C_LEN));
}

/** ECVRF_decode_proof (5.4.4); null if invalid. */
function decodeProof(proof: Uint8Array): { gamma: Point; c: bigint; s: bigint } | null {
  if (!(proof instanceof Uint8Array) || proof.length !== PROOF_BYTES) return null;
  const gamma = decodePoint(proof.subarray(0, PT_LEN));
  if (gamma === null) return null;
  const c = leToInt(proof.subarray(PT_LEN, PT_LEN + C_LEN));
  const s = leToInt(proof.subarray(PT_LEN + C_LEN, PROOF_BYTES));
  if (s >= Q) return null;
  return { gamma, c, s };
}

/** proof_to_hash core (5.2): SHA-512(suite || 0x03 || point_to_string(8 * Gamma) || 0x00). */
function gammaToHash(sb: number, gamma: Point): Uint8Array {
  return sha512(Uint8Array.of(sb, 0x03), gamma.clearCofactor().toBytes(), Uint8Array.of(0x00));
}

/**
 * Derives the VRF public key from an RFC 8032 secret key.
 * @param secretKey 32-byte secret key (seed).
 * @returns 32-byte public key Y = x*B, with x the clamped first half of SHA-512(secretKey) (same as Ed25519).
 * @throws RangeError if secretKey is not a 32-byte Uint8Array.
 */
export function publicKey(secretKey: Uint8Array): Uint8Array {
  return Point.BASE.multiply(expandSecret(secretKey).x).toBytes();
}

/**
 * Produces a deterministic VRF proof for `alpha` (RFC 9381 5.1, nonce per 5.4.2.2).
 * @param secretKey 32-byte secret key.
 * @param alpha VRF input of any length.
 * @param suite cipher suite, default `'ELL2'`.
 * @returns 80-byte proof pi = Gamma (32) || c (16) || s (32), little-endian scalars.
 * @throws RangeError if secretKey is not 32 bytes; TypeError on an unknown suite.
 */
export function prove(secretKey: Uint8Array, alpha: Uint8Array, suite: VrfSuite = 'ELL2'): Uint8Array {
  const sb = suiteByte(suite);
  const { x, prefix } = expandSecret(secretKey);
  const Y = Point.BASE.multiply(x).toBytes();
  const H = encodeToCurve(suite, Y, alpha);
  const hBytes = H.toBytes();
  const gamma = H.multiply(x).toBytes();
  const k = leToInt(sha512(prefix, hBytes)) % Q;
  const U = Point.BASE.multiply(k).toBytes();
  const V = H.multiply(k).toBytes();
  const c = challenge(sb, [Y, hBytes, gamma, U, V]);
  const s = (k + c * x) % Q;
  const pi = new Uint8Array(PROOF_BYTES);
  pi.set(gamma, 0);
  pi.set(intToLe(c, C_LEN), PT_LEN);
  pi.set(intToLe(s, Q_LEN), PT_LEN + C_LEN);
  return pi;
}

/**
 * Verifies a VRF proof (RFC 9381 5.3 with validate_key = TRUE).
 * Rejects: wrong lengths, non-canonical or off-curve points, s >= q, small-order public keys, bad challenge.
 * @param publicKey 32-byte public key.
 * @param proof 80-byte proof.
 * @param alpha VRF input.
 * @param suite cipher suite, default `'ELL2'`.
 * @returns the 64-byte VRF output beta, or null on any failure (never throws for Uint8Array inputs).
 */
export function verify(publicKey: Uint8Array, proof: Uint8Array, alpha: Uint8Array, suite: VrfSuite = 'ELL2'): Uint8Array | null {
  const sb = SUITE_BYTE[suite];
  if (sb === undefined || !(publicKey instanceof Uint8Array) || !(alpha instanceof Uint8Array)) return null;
  const Y = decodePoint(publicKey);
  if (Y === null || Y.isSmallOrder()) return null;
  const d = decodeProof(proof);
  if (d === null) return null;
  try {
    const H = encodeToCurve(suite, publicKey, alpha);
    const cr = d.c % Q; // c < 2^128 < q already; keeps the multiplyUnsafe range contract explicit.
    const U = Point.BASE.multiplyUnsafe(d.s).subtract(Y.multiplyUnsafe(cr));
    const V = H.multiplyUnsafe(d.s).subtract(d.gamma.multiplyUnsafe(cr));
    const c2 = challenge(sb, [publicKey, H.toBytes(), proof.subarray(0, PT_LEN), U.toBytes(), V.toBytes()]);
    return c2 === d.c ? gammaToHash(sb, d.gamma) : null;
  } catch {
    return null;
  }
}

/**
 * Computes the VRF output from a proof without verifying it (RFC 9381 5.2). Only trust the result after `verify`.
 * @param proof 80-byte proof.
 * @param suite cipher suite, default `'ELL2'`.
 * @returns 64-byte beta.
 * @throws RangeError if the proof is not 80 bytes; Error if Gamma is undecodable or s >= q.
 */
export function proofToHash(proof: Uint8Array, suite: VrfSuite = 'ELL2'): Uint8Array {
  const sb = suiteByte(suite);
  if (!(proof instanceof Uint8Array) || proof.length !== PROOF_BYTES) {
    throw new RangeError(`ecvrf: proof must be ${PROOF_BYTES} bytes`);
  }
  const d = decodeProof(proof);
  if (d === null) throw new Error('ecvrf: undecodable proof');
  return gammaToHash(sb, d.gamma);
}

/**
 * True for a canonically encoded edwards25519 point that is not of small order: a usable public
 * key for ECVRF and Ed25519 alike (node registration refuses anything else).
 */
export function isValidPublicKey(publicKey: Uint8Array): boolean {
  const point = decodePoint(publicKey);
  return point !== null && !point.isSmallOrder();
}

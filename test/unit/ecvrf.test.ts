// Unit tests for lib/crypto/ecvrf.ts: RFC 9381 vectors, tamper resistance, strict input validation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { ed25519, ed25519_hasher } from '@noble/curves/ed25519.js';
import {
  publicKey, prove, verify, proofToHash, PROOF_BYTES, OUTPUT_BYTES, type VrfSuite,
} from '../../lib/crypto/ecvrf.ts';

type Vector = { suite: string; example: number; sk: string; pk: string; alpha: string; pi: string; beta: string };
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/ecvrf-rfc9381.json'), 'utf8')) as { vectors: Vector[] };
const vectors = fixture.vectors;

const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('hex'));
const suiteOf = (v: Vector): VrfSuite => (v.suite.endsWith('-TAI') ? 'TAI' : 'ELL2');
const flip = (b: Uint8Array, i: number, mask: number): Uint8Array => {
  const out = Uint8Array.from(b);
  out[i] = (out[i] as number) ^ mask;
  return out;
};
const leBytes = (n: bigint, len: number): Uint8Array => {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
};
const leInt = (b: Uint8Array): bigint => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'));
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const withS = (pi: Uint8Array, s: bigint): Uint8Array => concat(pi.subarray(0, 48), leBytes(s, 32));

const Q = 2n ** 252n + 27742317777372353535851937790883648493n;
const MASKS = [0x01, 0x80];

/** Canonical encodings of the 8 points of order dividing 8 on edwards25519. */
const SMALL_ORDER_KEYS = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity, order 1
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // (0, -1), order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // (sqrt(-1), 0), order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // (-sqrt(-1), 0), order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
];
/** Non-canonical encodings (y >= p, or x = 0 with sign bit 1) of small-order points. */
const NON_CANONICAL = [
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p (= 0)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 (= 1, identity)
  '0100000000000000000000000000000000000000000000000000000000000080', // identity with sign bit 1
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // (0, -1) with sign bit 1
];

const ELL2_DST = new TextEncoder().encode('ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_\x04');
const { Point } = ed25519;
const challengeOf = (...pts: Uint8Array[]): bigint =>
  leInt(new Uint8Array(createHash('sha512').update(concat(Uint8Array.of(4, 2), ...pts, Uint8Array.of(0))).digest()).subarray(0, 16));

/** RFC 9381 ELL2 verification equation WITHOUT the public-key validation step (reference for the forgery test). */
function equationHoldsWithoutKeyCheck(pk: Uint8Array, pi: Uint8Array, alpha: Uint8Array): boolean {
  const Y = Point.fromBytes(pk);
  const gamma = Point.fromBytes(pi.subarray(0, 32));
  const c = leInt(pi.subarray(32, 48));
  const s = leInt(pi.subarray(48, 80));
  const H = ed25519_hasher.encodeToCurve(concat(pk, alpha), { DST: ELL2_DST });
  const U = Point.BASE.multiplyUnsafe(s).subtract(Y.multiplyUnsafe(c));
  const V = H.multiplyUnsafe(s).subtract(gamma.multiplyUnsafe(c));
  return challengeOf(pk, H.toBytes(), gamma.toBytes(), U.toBytes(), V.toBytes()) === c;
}

/** Forges an ELL2 proof for a small-order key Y: Gamma = identity, s = k, U = k*B - (c mod 8)*Y. */
function forgeForSmallOrderKey(pk: Uint8Array, alpha: Uint8Array): Uint8Array {
  const Y = Point.fromBytes(pk);
  const H = ed25519_hasher.encodeToCurve(concat(pk, alpha), { DST: ELL2_DST });
  const gamma = Point.ZERO.toBytes();
  for (let k = 1000n; ; k++) {
    const V = H.multiply(k).toBytes();
    for (let guess = 0n; guess < 8n; guess++) {
      const U = Point.BASE.multiply(k).subtract(Y.multiplyUnsafe(guess)).toBytes();
      const c = challengeOf(pk, H.toBytes(), gamma, U, V);
      if (c % 8n === guess) return concat(gamma, leBytes(c, 16), leBytes(k, 32));
    }
  }
}

describe('ecvrf (RFC 9381 edwards25519-SHA512 TAI and ELL2)', () => {
  it('exports the proof and output sizes in bytes', () => {
    expect(PROOF_BYTES).to.equal(80);
    expect(OUTPUT_BYTES).to.equal(64);
  });

  describe('RFC 9381 test vectors', () => {
    it('loads six vectors, three per suite', () => {
      expect(vectors.map((v) => v.example)).to.deep.equal([16, 17, 18, 19, 20, 21]);
      expect(vectors.map(suiteOf)).to.deep.equal(['TAI', 'TAI', 'TAI', 'ELL2', 'ELL2', 'ELL2']);
    });

    for (const v of vectors) {
      const suite = suiteOf(v);
      const [sk, pk, alpha, pi] = [fromHex(v.sk), fromHex(v.pk), fromHex(v.alpha), fromHex(v.pi)];
      describe(`example ${v.example} (${suite}, alpha "${v.alpha}")`, () => {
        it('derives the expected public key', () => expect(toHex(publicKey(sk))).to.equal(v.pk));
        it('reproduces the proof exactly', () => expect(toHex(prove(sk, alpha, suite))).to.equal(v.pi));
        it('maps the proof to the expected beta', () => expect(toHex(proofToHash(pi, suite))).to.equal(v.beta));
        it('verifies the proof and returns beta', () => expect(toHex(verify(pk, pi, alpha, suite))).to.equal(v.beta));

        it('rejects every single-byte change of the proof', () => {
          for (const mask of MASKS) for (let i = 0; i < PROOF_BYTES; i++) {
            expect(verify(pk, flip(pi, i, mask), alpha, suite), `byte ${i} ^ ${mask}`).to.equal(null);
          }
        });
        it('rejects every single-byte change of the public key', () => {
          for (const mask of MASKS) for (let i = 0; i < 32; i++) {
            expect(verify(flip(pk, i, mask), pi, alpha, suite), `byte ${i} ^ ${mask}`).to.equal(null);
          }
        });
        it('rejects every single-byte change, extension and truncation of alpha', () => {
          for (const mask of MASKS) for (let i = 0; i < alpha.length; i++) {
            expect(verify(pk, pi, flip(alpha, i, mask), suite), `byte ${i} ^ ${mask}`).to.equal(null);
          }
          expect(verify(pk, pi, concat(alpha, Uint8Array.of(0)), suite)).to.equal(null);
          if (alpha.length > 0) expect(verify(pk, pi, alpha.subarray(0, alpha.length - 1), suite)).to.equal(null);
        });
        it('rejects the proof under the other suite', () => {
          expect(verify(pk, pi, alpha, suite === 'TAI' ? 'ELL2' : 'TAI')).to.equal(null);
        });
      });
    }
  });

  describe('input validation', () => {
    const v = vectors[4] as Vector; // ELL2 example 20
    const [pk, alpha, pi] = [fromHex(v.pk), fromHex(v.alpha), fromHex(v.pi)];

    it('rejects proofs of 79 and 81 bytes', () => {
      expect(verify(pk, pi.subarray(0, 79), alpha)).to.equal(null);
      expect(verify(pk, concat(pi, Uint8Array.of(0)), alpha)).to.equal(null);
      expect(() => proofToHash(pi.subarray(0, 79))).to.throw(RangeError);
    });

    it('rejects a proof whose s is not below q', () => {
      for (const s of [Q, Q + 1n, 2n ** 256n - 1n]) {
        expect(verify(pk, withS(pi, s), alpha), `s = ${s}`).to.equal(null);
        expect(() => proofToHash(withS(pi, s)), `s = ${s}`).to.throw(Error);
      }
    });

    it('rejects the malleated proof with s + q even though it is the same scalar mod q', () => {
      const s = leInt(pi.subarray(48));
      expect(s + Q < 2n ** 256n).to.equal(true);
      expect(verify(pk, withS(pi, s + Q), alpha)).to.equal(null);
    });

    it('rejects non-canonical Gamma encodings, including y = p', () => {
      for (const g of NON_CANONICAL) {
        const bad = concat(fromHex(g), pi.subarray(32));
        expect(verify(pk, bad, alpha), g).to.equal(null);
        expect(() => proofToHash(bad), g).to.throw(Error);
      }
    });

    it('rejects a Gamma that is not on the curve', () => {
      const bad = concat(fromHex('02' + '00'.repeat(31)), pi.subarray(32)); // y = 2 has no x
      expect(verify(pk, bad, alpha)).to.equal(null);
      expect(() => proofToHash(bad)).to.throw(Error);
    });

    it('lists exactly the eight distinct small-order points', () => {
      const points = SMALL_ORDER_KEYS.map((h) => Point.fromHex(h));
      expect(points.every((p) => p.isSmallOrder())).to.equal(true);
      expect(new Set(points.map((p) => p.toHex())).size).to.equal(8);
    });

    it('rejects each small-order public key even with a proof that satisfies the verification equation', () => {
      const msg = new TextEncoder().encode('forged');
      for (const h of SMALL_ORDER_KEYS) {
        const forged = forgeForSmallOrderKey(fromHex(h), msg);
        expect(equationHoldsWithoutKeyCheck(fromHex(h), forged, msg), h).to.equal(true);
        expect(verify(fromHex(h), forged, msg), h).to.equal(null);
        expect(verify(fromHex(h), pi, alpha), h).to.equal(null);
      }
    });

    it('rejects non-canonical encodings of small-order public keys', () => {
      for (const h of NON_CANONICAL) expect(verify(fromHex(h), pi, alpha), h).to.equal(null);
    });

    it('rejects public keys of 31 and 33 bytes', () => {
      expect(verify(pk.subarray(0, 31), pi, alpha)).to.equal(null);
      expect(verify(concat(pk, Uint8Array.of(0)), pi, alpha)).to.equal(null);
    });

    it('throws when proving with a secret key of 31 or 33 bytes', () => {
      expect(() => prove(new Uint8Array(31), alpha)).to.throw(RangeError);
      expect(() => prove(new Uint8Array(33), alpha, 'TAI')).to.throw(RangeError);
      expect(() => publicKey(new Uint8Array(31))).to.throw(RangeError);
    });
  });

  describe('determinism and round trips', () => {
    const sk = fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
    const alpha = new TextEncoder().encode('committee draw #42');

    it('produces identical bytes when proving twice', () => {
      for (const suite of ['ELL2', 'TAI'] as const) {
        const a = prove(sk, alpha, suite);
        expect(a).to.have.length(80);
        expect(toHex(prove(sk, alpha, suite))).to.equal(toHex(a));
      }
    });

    it('defaults to the ELL2 suite', () => {
      expect(toHex(prove(sk, alpha))).to.equal(toHex(prove(sk, alpha, 'ELL2')));
      expect(toHex(prove(sk, alpha))).to.not.equal(toHex(prove(sk, alpha, 'TAI')));
    });

    it('verifies fresh proofs for other keys and inputs, with beta equal to proofToHash', () => {
      for (let i = 0; i < 4; i++) {
        const key = new Uint8Array(createHash('sha256').update(`key ${i}`).digest());
        const input = new TextEncoder().encode(`input ${i}`);
        for (const suite of ['ELL2', 'TAI'] as const) {
          const proof = prove(key, input, suite);
          const beta = verify(publicKey(key), proof, input, suite);
          expect(beta).to.have.length(64);
          expect(toHex(beta)).to.equal(toHex(proofToHash(proof, suite)));
        }
      }
    });
  });
});

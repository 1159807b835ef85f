// Unit tests for node keys: derivation from one seed, Ed25519 through node:crypto, node ids.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { publicKey as vrfPublicKey } from '../../lib/crypto/ecvrf.ts';
import { computeNodeId, createSigner, deriveNodeKeys, signPublicKeyOf, verifySignature } from '../../lib/crypto/keys.ts';

const SEED = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');

describe('node keys', () => {
  it('derives both secret keys as H(tag || seed)', () => {
    const keys = deriveNodeKeys(SEED);
    const expected = (tag: string) => createHash('sha256').update(tag).update(SEED).digest('hex');
    expect(toHex(keys.vrfSecretKey)).to.equal(expected('gw/vrf-key'));
    expect(toHex(keys.signSecretKey)).to.equal(expected('gw/sign-key'));
    expect(toHex(keys.vrfPublicKey)).to.equal(toHex(vrfPublicKey(keys.vrfSecretKey)));
    expect(keys.vrfPublicKey).to.not.deep.equal(keys.signPublicKey);
  });

  it('computes the RFC 8032 public key (test 1 of section 7.1)', () => {
    const secret = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    expect(toHex(signPublicKeyOf(secret))).to.equal('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  });

  it('signs as RFC 8032 does and verifies with an independent implementation', () => {
    const keys = deriveNodeKeys(SEED);
    const message = utf8('gw/vote/v1 test');
    const signature = createSigner(keys.signSecretKey)(message);
    expect(signature).to.have.length(64);
    expect(ed25519.verify(signature, message, keys.signPublicKey)).to.equal(true);
    expect(verifySignature(keys.signPublicKey, message, signature)).to.equal(true);
  });

  it('rejects a changed message, a changed signature and a malformed key without throwing', () => {
    const keys = deriveNodeKeys(SEED);
    const message = utf8('hello');
    const signature = createSigner(keys.signSecretKey)(message);
    expect(verifySignature(keys.signPublicKey, utf8('hellp'), signature)).to.equal(false);
    const bent = Uint8Array.from(signature);
    bent[10] ^= 1;
    expect(verifySignature(keys.signPublicKey, message, bent)).to.equal(false);
    expect(verifySignature(keys.signPublicKey, message, signature.subarray(0, 63))).to.equal(false);
    expect(verifySignature(new Uint8Array(31), message, signature)).to.equal(false);
  });

  it('refuses a seed that is not 32 bytes', () => {
    expect(() => deriveNodeKeys(new Uint8Array(31))).to.throw(RangeError);
  });

  it('derives a stable, URL-safe node id from the signing key', () => {
    const keys = deriveNodeKeys(SEED);
    const id = computeNodeId(keys.signPublicKey);
    expect(id).to.match(/^node_[0-9a-f]{20}$/);
    expect(computeNodeId(deriveNodeKeys(SEED).signPublicKey)).to.equal(id);
  });
});

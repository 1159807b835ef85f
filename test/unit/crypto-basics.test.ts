// Unit tests for the byte helpers, SHA-256 with a precomputed prefix, canonical JSON and content ids.
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { concatBytes, fromHex, toHex, u64be, utf8 } from '../../lib/crypto/bytes.ts';
import { canonicalJson, computeResultHash, findNonJson } from '../../lib/crypto/canonical-json.ts';
import { computeContentId, parseContentId } from '../../lib/crypto/content-id.ts';
import { createPrefixedSha256 } from '../../lib/crypto/sha256-prefix.ts';
import { isGatewayError } from '../../lib/errors.ts';

describe('bytes', () => {
  it('encodes u64 big-endian', () => {
    expect(toHex(u64be(1))).to.equal('0000000000000001');
    expect(toHex(u64be(0x0102030405))).to.equal('0000000102030405');
    expect(toHex(u64be(Number.MAX_SAFE_INTEGER))).to.equal('001fffffffffffff');
    expect(toHex(u64be(2 ** 32))).to.equal('0000000100000000');
    expect(toHex(u64be(0x0102030405n))).to.equal('0000000102030405');
    expect(toHex(u64be(2n ** 64n - 1n))).to.equal('ffffffffffffffff');
  });

  it('refuses u64 values out of range', () => {
    expect(() => u64be(-1)).to.throw(RangeError);
    expect(() => u64be(2n ** 64n)).to.throw(RangeError);
    expect(() => u64be(1.5)).to.throw(RangeError);
  });

  it('parses hex strictly', () => {
    expect(toHex(fromHex('00ff'))).to.equal('00ff');
    expect(() => fromHex('0')).to.throw(RangeError);
    expect(() => fromHex('zz')).to.throw(RangeError);
    expect(() => fromHex('00', 2)).to.throw(RangeError, 'expected 2 bytes');
  });
});

describe('createPrefixedSha256', () => {
  const reference = (prefix: Uint8Array, suffix: Uint8Array): string =>
    createHash('sha256').update(prefix).update(suffix).digest('hex');
  const wordsToHex = (words: Uint32Array): string =>
    Array.from(words, (w) => w.toString(16).padStart(8, '0')).join('');

  it('matches node:crypto for prefix and suffix lengths across block boundaries', () => {
    const out = new Uint32Array(8);
    for (const prefixLength of [0, 1, 11, 55, 56, 63, 64, 65, 75, 128, 200]) {
      const prefix = new Uint8Array(randomBytes(prefixLength));
      const hasher = createPrefixedSha256(prefix);
      for (const suffixLength of [0, 1, 8, 44, 45, 55, 56, 64, 119, 300]) {
        const suffix = new Uint8Array(randomBytes(suffixLength));
        hasher.digestWords(suffix, out);
        expect(wordsToHex(out), `${prefixLength}+${suffixLength}`).to.equal(reference(prefix, suffix));
      }
    }
  });

  it('reproduces the FIPS 180-2 "abc" digest', () => {
    const out = new Uint32Array(8);
    createPrefixedSha256(utf8('a')).digestWords(utf8('bc'), out);
    expect(wordsToHex(out)).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('canonical JSON (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units and formats numbers as ECMAScript does', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], '\u20ac': 1, '\ud83d\ude00': 2, '\r': 3 })).to.equal(
      '{"\\r":3,"a":[true,null,"x"],"b":1,"\u20ac":1,"\ud83d\ude00":2}',
    );
    expect(canonicalJson([1e21, 1e-7, -0, 0.1 + 0.2, 100])).to.equal('[1e+21,1e-7,0,0.30000000000000004,100]');
  });

  it('hashes a value as SHA-256 of its canonical form', () => {
    expect(toHex(computeResultHash({ price: 42, pair: 'ETH/USD' }))).to.equal(
      createHash('sha256').update('{"pair":"ETH/USD","price":42}').digest('hex'),
    );
  });

  it('names the path of the first value that is not JSON', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(findNonJson({ a: [1, undefined] })).to.equal('$.a[1]: a undefined is not a JSON value');
    expect(findNonJson({ f: () => 1 })).to.equal('$.f: a function is not a JSON value');
    expect(findNonJson([10n])).to.equal('$[0]: a bigint is not a JSON value');
    expect(findNonJson({ n: NaN })).to.equal('$.n: NaN is not a JSON number');
    expect(findNonJson(cyclic)).to.equal('$.self: cyclic reference');
    expect(findNonJson(new Date(0))).to.equal('$: a Date is not a plain object');
    expect(findNonJson(Symbol('s'))).to.equal('$: a symbol is not a JSON value');
    expect(findNonJson({ shared: [1], again: [1] })).to.equal(null);
  });

  it('throws invalid_value for a value that is not JSON', () => {
    try {
      canonicalJson({ x: Infinity });
      expect.fail('expected a throw');
    } catch (error) {
      expect(isGatewayError(error, 'invalid_value')).to.equal(true);
    }
  });
});

describe('content ids', () => {
  it('gives the CIDv1 (raw, sha2-256) IPFS gives "hello world"', () => {
    expect(computeContentId(utf8('hello world'))).to.equal('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e');
  });

  it('parses its own ids back to the SHA-256 and refuses others', () => {
    const code = utf8('export default () => 1');
    const digest = parseContentId(computeContentId(code));
    expect(digest && toHex(digest)).to.equal(createHash('sha256').update(code).digest('hex'));
    expect(parseContentId('bafyreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).to.equal(null);
    expect(parseContentId('not-a-cid')).to.equal(null);
    expect(parseContentId('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')).to.equal(null);
  });

  it('gives the same digest again from its cache, a copy each time, and keeps refusing what it refused', () => {
    const id = computeContentId(utf8('export default () => 2'));
    const first = parseContentId(id)!;
    first.fill(0);
    const again = parseContentId(id)!;
    expect(toHex(again)).to.equal(createHash('sha256').update('export default () => 2').digest('hex'));
    expect(again).to.not.equal(parseContentId(id));
    // An upper-case spelling parses to the same CID but is not its canonical text: refused every time.
    expect(parseContentId(id.toUpperCase())).to.equal(null);
    expect(parseContentId(id.toUpperCase())).to.equal(null);
  });

  it('concatenates byte strings in order', () => {
    expect(toHex(concatBytes(utf8('ab'), new Uint8Array(0), Uint8Array.of(1)))).to.equal('616201');
  });
});

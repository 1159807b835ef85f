// SHA-256 of `prefix || suffix` for one fixed prefix and many suffixes: the prefix's whole
// blocks are compressed once, so each suffix costs only its own blocks. Committee selection
// hashes every frozen ticket per request, and this keeps that under a microsecond a ticket.

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const INITIAL_STATE = Uint32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// Scratch space: JavaScript is single-threaded and no call below re-enters.
const schedule = new Int32Array(64);
let tailBuffer = new Uint8Array(256);

function compress(state: Uint32Array, at: number, block: Uint8Array, offset: number): void {
  const w = schedule;
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    w[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15];
    const y = w[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  // `| 0` keeps every working variable an int32, so V8 never boxes a value above 2^31.
  let a = state[at] | 0, b = state[at + 1] | 0, c = state[at + 2] | 0, d = state[at + 3] | 0;
  let e = state[at + 4] | 0, f = state[at + 5] | 0, g = state[at + 6] | 0, h = state[at + 7] | 0;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  state[at] += a; state[at + 1] += b; state[at + 2] += c; state[at + 3] += d;
  state[at + 4] += e; state[at + 5] += f; state[at + 6] += g; state[at + 7] += h;
}

/** A SHA-256 state with a fixed prefix absorbed. */
export interface PrefixedSha256 {
  readonly prefixLength: number;
  /**
   * Writes SHA-256(prefix || suffix) into `out` as eight big-endian 32-bit words, so comparing
   * the words in order compares the digests as 256-bit big-endian integers.
   */
  digestWords(suffix: Uint8Array, out: Uint32Array): void;
}

interface PrefixState extends PrefixedSha256 {
  readonly midstate: Uint32Array;
  readonly tail: Uint8Array;
}

/** Absorbs `prefix` once; the returned hasher can then hash any number of suffixes. */
export function createPrefixedSha256(prefix: Uint8Array): PrefixedSha256 {
  const wholeBlocks = Math.floor(prefix.length / 64);
  const midstate = INITIAL_STATE.slice();
  for (let block = 0; block < wholeBlocks; block++) compress(midstate, 0, prefix, block * 64);
  const state: PrefixState = {
    prefixLength: prefix.length,
    midstate,
    tail: prefix.slice(wholeBlocks * 64),
    digestWords: (suffix, out) => digestAllWords([state], suffix, out),
  };
  return state;
}

/**
 * Hashes one suffix after each of several prefixes of equal length, writing hasher i's words to
 * `out[8i .. 8i+8]`. The padded suffix is laid out once; each hasher only writes its prefix tail.
 * Throws a RangeError if the prefixes differ in length or `out` is too short.
 */
export function digestAllWords(hashers: readonly PrefixedSha256[], suffix: Uint8Array, out: Uint32Array): void {
  if (hashers.length === 0) return;
  if (out.length < hashers.length * 8) throw new RangeError('output needs 8 words per hasher');
  const first = hashers[0] as PrefixState;
  const tailLength = first.tail.length;
  const messageLength = tailLength + suffix.length;
  const paddedLength = Math.ceil((messageLength + 9) / 64) * 64;
  if (tailBuffer.length < paddedLength) tailBuffer = new Uint8Array(paddedLength * 2);
  const buffer = tailBuffer;
  buffer.set(suffix, tailLength);
  buffer[messageLength] = 0x80;
  buffer.fill(0, messageLength + 1, paddedLength - 8);
  const bitLength = (first.prefixLength + suffix.length) * 8;
  const high = Math.floor(bitLength / 0x100000000);
  for (let i = 0; i < 4; i++) {
    buffer[paddedLength - 8 + i] = (high >>> (24 - i * 8)) & 0xff;
    buffer[paddedLength - 4 + i] = (bitLength >>> (24 - i * 8)) & 0xff;
  }
  for (let h = 0; h < hashers.length; h++) {
    const hasher = hashers[h] as PrefixState;
    if (hasher.prefixLength !== first.prefixLength) throw new RangeError('prefixes differ in length');
    const tail = hasher.tail;
    for (let i = 0; i < tailLength; i++) buffer[i] = tail[i];
    out.set(hasher.midstate, h * 8);
    for (let offset = 0; offset < paddedLength; offset += 64) compress(out, h * 8, buffer, offset);
  }
}

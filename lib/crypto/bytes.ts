// Byte helpers shared by the protocol encodings: concatenation, u64be, UTF-8 and hex.

const encoder = new TextEncoder();

/** Concatenates byte strings (the `||` of docs/protocol.md). */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** `u64be(n)`: 8 bytes big-endian. Throws a RangeError for a negative or non-integer n or n ≥ 2^64. */
export function u64be(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  if (typeof n === 'number') {
    // A safe integer fits in two 32-bit halves: no BigInt on the path every vote message takes.
    if (assertSafeInteger(n) < 0) throw new RangeError(`u64 out of range: ${n}`);
    view.setUint32(0, Math.floor(n / 2 ** 32), false);
    view.setUint32(4, n >>> 0, false);
    return out;
  }
  if (n < 0n || n >= 1n << 64n) throw new RangeError(`u64 out of range: ${n}`);
  view.setBigUint64(0, n, false);
  return out;
}

function assertSafeInteger(n: number): number {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer: ${n}`);
  return n;
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const HEX_PATTERN = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Parses hex into bytes. Throws a RangeError on odd length or a non-hex character, and,
 * when `expectedBytes` is given, on any other length: untrusted hex never decodes silently short.
 */
export function fromHex(hex: string, expectedBytes?: number): Uint8Array {
  if (typeof hex !== 'string' || !HEX_PATTERN.test(hex)) throw new RangeError('invalid hex string');
  if (expectedBytes !== undefined && hex.length !== expectedBytes * 2) {
    throw new RangeError(`expected ${expectedBytes} bytes of hex, got ${hex.length / 2}`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Constant-length byte equality (not for secrets' timing; use crypto.timingSafeEqual there). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

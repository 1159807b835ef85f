// Content ids for code: CIDv1, raw codec, sha2-256, base32 — the id IPFS gives the same bytes.
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { sha256 as multihashSha256 } from 'multiformats/hashes/sha2';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from './hash.ts';

/** The CIDv1 (raw, sha2-256) of `bytes`, as the usual base32 string (`bafkrei…`). */
export function computeContentId(bytes: Uint8Array): string {
  return CID.create(1, raw.code, Digest.create(multihashSha256.code, sha256(bytes))).toString();
}

/**
 * Parses a content id string; returns the SHA-256 it commits to, or null if it is not a
 * CIDv1 with the raw codec and a sha2-256 multihash.
 */
export function parseContentId(text: string): Uint8Array | null {
  try {
    const cid = CID.parse(text);
    if (cid.version !== 1 || cid.code !== raw.code || cid.multihash.code !== multihashSha256.code) return null;
    if (cid.toString() !== text) return null;
    return cid.multihash.digest;
  } catch {
    return null;
  }
}

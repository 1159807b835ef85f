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

// Valid content ids parsed lately: a vote's binding parses its request's code id on every run and
// every check, and a gateway runs few code versions. Emptied when full; a copy goes out each time.
const parsed = new Map<string, Uint8Array>();
const PARSED_LIMIT = 256;

/**
 * Parses a content id string; returns the SHA-256 it commits to, or null if it is not a
 * CIDv1 with the raw codec and a sha2-256 multihash.
 */
export function parseContentId(text: string): Uint8Array | null {
  const known = parsed.get(text);
  if (known) return new Uint8Array(known);
  let digest: Uint8Array;
  try {
    const cid = CID.parse(text);
    if (cid.version !== 1 || cid.code !== raw.code || cid.multihash.code !== multihashSha256.code) return null;
    if (cid.toString() !== text) return null;
    digest = cid.multihash.digest;
  } catch {
    return null;
  }
  if (parsed.size >= PARSED_LIMIT) parsed.clear();
  parsed.set(text, new Uint8Array(digest));
  return new Uint8Array(digest);
}

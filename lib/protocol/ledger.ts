// The hash-chained ledger (protocol v2, docs/protocol.md): entry hashes, the votes digest, chain checks.
import { fromHex, toHex, utf8 } from '../crypto/bytes.ts';
import { canonicalJson } from '../crypto/canonical-json.ts';
import { sha256 } from '../crypto/hash.ts';
import { countedVotes, type Aggregation } from './vote-tally.ts';

export const GENESIS_PREV_HASH = '0'.repeat(64);

/**
 * A ledger entry v2: what ran (code id, input hash, accepted-at time), under which committee rule
 * and round, the agreed verdict, and the digest of the votes that counted; `hash` chains it.
 */
export interface LedgerFields {
  readonly seq: number;
  readonly requestId: string;
  readonly projectId: string;
  readonly codeCid: string;
  /** `H(JCS(input))`, hex. */
  readonly inputHash: string;
  /** `YYYY-MM-DDTHH:mm:ss.sssZ`, the request's accepted-at time. */
  readonly createdAt: string;
  /** The assignment round. */
  readonly round: number;
  readonly k: number;
  readonly q: number;
  readonly aggregation: Aggregation;
  readonly ok: boolean;
  readonly resultHash: string;
  readonly votesDigest: string;
  readonly prevHash: string;
}

export type HashedLedgerEntry = LedgerFields & { readonly hash: string };

/** `hash = H(bytes(prevHash) || JCS(entry without hash))`, hex. */
export function computeLedgerHash(fields: LedgerFields): string {
  const { hash: _ignored, ...covered } = fields as LedgerFields & { hash?: string };
  return toHex(sha256(fromHex(fields.prevHash, 32), utf8(canonicalJson(covered))));
}

/**
 * `H(JCS([{nodeId, round, ok, resultHash, signature}]))` over the counted votes sorted by node id, hex:
 * late votes (recorded after finality) are left out, so a vote arriving after publication never
 * changes the digest.
 */
export function computeVotesDigest(votes: readonly { nodeId: string; round: number; ok: boolean; resultHash: string; signature: string; late?: boolean }[]): string {
  const ordered = countedVotes(votes)
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
    .map(({ nodeId, round, ok, resultHash, signature }) => ({ nodeId, round, ok, resultHash, signature }));
  return toHex(sha256(utf8(canonicalJson(ordered))));
}

export type LedgerCheck = { ok: true; length: number; head: string } | { ok: false; length: number; head: string; badSeq: number };

/**
 * Re-verifies entries in order: consecutive seq from `first.seq`, each `prevHash` the previous
 * hash (`previousHash` before the first), each hash recomputed from the covered fields.
 */
export function verifyLedgerEntries(entries: readonly HashedLedgerEntry[], previousHash = GENESIS_PREV_HASH, firstSeq = 1): LedgerCheck {
  let head = previousHash;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    let valid = entry.seq === firstSeq + i && entry.prevHash === head;
    if (valid) {
      try {
        valid = computeLedgerHash(entry) === entry.hash;
      } catch {
        valid = false;
      }
    }
    if (!valid) return { ok: false, length: firstSeq - 1 + i, head, badSeq: entry.seq };
    head = entry.hash;
  }
  return { ok: true, length: firstSeq - 1 + entries.length, head };
}

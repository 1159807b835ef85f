// Committee sortition (docs/protocol.md, "Committee"): the k frozen tickets with the lowest
// `H("gw/score/v1" || beta_j || requestId)`, ties broken by node id.
import { concatBytes, utf8 } from '../crypto/bytes.ts';
import { sha256 } from '../crypto/hash.ts';
import { createPrefixedSha256, digestAllWords, type PrefixedSha256 } from '../crypto/sha256-prefix.ts';

const SCORE_TAG = utf8('gw/score/v1');

/** `score_j` as 32 bytes; compare as a big-endian 256-bit integer. The reference definition. */
export function computeScore(beta: Uint8Array, requestId: string): Uint8Array {
  return sha256(SCORE_TAG, beta, utf8(requestId));
}

/** Draws committees from one frozen ticket set; build it once per round and reuse it. */
export interface CommitteeSelector {
  /** Number of eligible nodes (tickets in the frozen set). */
  readonly eligible: number;
  /** The `min(k, eligible)` node ids with the lowest scores for `requestId`, lowest first. */
  select(requestId: string, k: number): string[];
}

/**
 * Prepares a frozen ticket set for selection: each ticket's `tag || beta` block is hashed once
 * here, so a request costs one SHA-256 compression per ticket. Throws a RangeError if a node
 * appears twice or a beta is not 64 bytes: a frozen set holds one ticket per node.
 */
export function createCommitteeSelector(tickets: readonly { nodeId: string; beta: Uint8Array }[]): CommitteeSelector {
  const seen = new Set<string>();
  const nodeIds: string[] = [];
  const hashers: PrefixedSha256[] = [];
  for (const { nodeId, beta } of tickets) {
    if (seen.has(nodeId)) throw new RangeError(`two tickets for node ${nodeId}`);
    if (beta.length !== 64) throw new RangeError(`ticket of ${nodeId}: beta must be 64 bytes`);
    seen.add(nodeId);
    nodeIds.push(nodeId);
    hashers.push(createPrefixedSha256(concatBytes(SCORE_TAG, beta)));
  }
  const scores = new Uint32Array(hashers.length * 8);
  return {
    eligible: nodeIds.length,
    select(requestId, k) {
      if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`committee size must be a positive integer, got ${k}`);
      digestAllWords(hashers, utf8(requestId), scores);
      return selectLowest(nodeIds, scores, k);
    },
  };
}

/** The `k` lowest (score, nodeId) by insertion into a sorted list of at most k indices. */
function selectLowest(nodeIds: readonly string[], scores: Uint32Array, k: number): string[] {
  const size = Math.min(k, nodeIds.length);
  const best: number[] = [];
  for (let candidate = 0; candidate < nodeIds.length; candidate++) {
    if (best.length === size && !isLower(nodeIds, scores, candidate, best[size - 1])) continue;
    if (best.length === size) best.pop();
    let position = best.length;
    while (position > 0 && isLower(nodeIds, scores, candidate, best[position - 1])) position--;
    best.splice(position, 0, candidate);
  }
  return best.map((index) => nodeIds[index]);
}

function isLower(nodeIds: readonly string[], scores: Uint32Array, a: number, b: number): boolean {
  for (let i = 0; i < 8; i++) {
    const x = scores[a * 8 + i];
    const y = scores[b * 8 + i];
    if (x !== y) return x < y;
  }
  return nodeIds[a] < nodeIds[b];
}

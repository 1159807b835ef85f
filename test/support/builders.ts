// Test builders: deterministic node keys, frozen ticket sets and signed votes, so protocol tests need no fixtures.
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeResultHash } from '../../lib/crypto/canonical-json.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { computeNodeId, createSigner, deriveNodeKeys, type NodeKeys } from '../../lib/crypto/keys.ts';
import { createTicket, type Ticket } from '../../lib/protocol/tickets.ts';
import { computeVoteBinding, createVote, type Vote } from '../../lib/protocol/vote.ts';
import type { Aggregation } from '../../lib/protocol/vote-tally.ts';
import type { Outcome } from '../../lib/repository/types.ts';

export interface TestNode {
  readonly nodeId: string;
  readonly keys: NodeKeys;
}

/** Node `index` of a deterministic test fleet: its seed is `H("test-node" || index)`. */
export function buildNode(index: number): TestNode {
  const keys = deriveNodeKeys(sha256(utf8(`test-node/${index}`)));
  return { nodeId: computeNodeId(keys.signPublicKey), keys };
}

export function buildNodes(count: number): TestNode[] {
  return Array.from({ length: count }, (_, i) => buildNode(i));
}

/** Every node's ticket for `round` under `seed`. */
export function buildTickets(nodes: readonly TestNode[], round: number, seed: Uint8Array): Ticket[] {
  return nodes.map((node) => createTicket(node.nodeId, node.keys.vrfSecretKey, round, seed));
}

/** What a vote is bound to: the request as stored and its assignment (protocol v2). */
export interface VotedRequest {
  readonly id: string;
  readonly createdAt: string;
  readonly codeCid: string;
  readonly input: unknown;
  readonly assignment: { readonly round: number; readonly committee: readonly string[]; readonly quorum: number; readonly aggregation: Aggregation };
}

/** The signed v2 vote of each of `members` for `value` (ok) on `request`, as honest executors send them. */
export function buildVotes(members: readonly TestNode[], request: VotedRequest, value: unknown): Vote[] {
  const binding = computeVoteBinding(request, request.assignment);
  return members.map((node) => createVote(createSigner(node.keys.signSecretKey), { requestId: request.id, nodeId: node.nodeId, round: request.assignment.round, ok: true, value }, binding));
}

/** The outcome consensus stores when `votes` agree on `value`: what the publication check re-derives. */
export function buildOutcome(votes: readonly Vote[], value: unknown, agreedAt: string): Outcome {
  return { ok: true, value, resultHash: toHex(computeResultHash(value)), supporters: votes.map((v) => v.nodeId), agreedAt };
}

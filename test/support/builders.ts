// Test builders: deterministic node keys and frozen ticket sets, so protocol tests need no fixtures.
import { utf8 } from '../../lib/crypto/bytes.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { computeNodeId, deriveNodeKeys, type NodeKeys } from '../../lib/crypto/keys.ts';
import { createTicket, type Ticket } from '../../lib/protocol/tickets.ts';

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

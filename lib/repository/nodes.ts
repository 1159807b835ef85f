// Executor nodes: registration (a node keeps the keys it registered with), removal, listing.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { NodeRecord } from './types.ts';

// KEYS: nodes. ARGV: id, node JSON, status, name, sign public key, VRF public key.
// Returns {created, stored JSON}. A new id is stored as given. An existing node keeps its record and
// its keys; a removed one asking to be active again comes back (with the new name) only with the
// same keys, so a conflicting registration writes nothing. Running it twice changes nothing more.
const PUT_NODE = createScript(`
local doc = redis.call('HGET', KEYS[1], ARGV[1])
if not doc then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return {1, ARGV[2]}
end
local node = cjson.decode(doc)
if node.status == 'removed' and ARGV[3] == 'active' and node.signPublicKey == ARGV[5] and node.vrfPublicKey == ARGV[6] then
  node.status = 'active'
  node.name = ARGV[4]
  doc = cjson.encode(node)
  redis.call('HSET', KEYS[1], ARGV[1], doc)
end
return {0, doc}
`);

// KEYS: nodes. ARGV: id. Returns 1 when the node exists (removed now or before), 0 when it does not.
const REMOVE_NODE = createScript(`
local doc = redis.call('HGET', KEYS[1], ARGV[1])
if not doc then return 0 end
local node = cjson.decode(doc)
if node.status ~= 'removed' then
  node.status = 'removed'
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(node))
end
return 1
`);

/** Node records by id (ids derive from the signing key), with each node's last ticket round. */
export interface NodeStore {
  /**
   * Registers a node, or returns the existing record for the same id, which keeps the keys it was
   * registered with (the caller compares them); a removed node with the same keys becomes active again.
   */
  putNode(node: NodeRecord): Promise<{ node: NodeRecord; created: boolean }>;
  getNode(id: string): Promise<NodeRecord | null>;
  /** Every node, removed ones included, sorted by id. */
  listNodes(): Promise<NodeRecord[]>;
  /** Marks a node removed (it gets no more ticket jobs, so it drops out of committees after a round); false when unknown. */
  removeNode(id: string): Promise<boolean>;
}

/** The node store over the shared connection; both writes are guarded scripts. */
export function createNodeStore(redis: Redis, keys: Keys): NodeStore {
  return {
    async putNode(node) {
      const [created, doc] = (await PUT_NODE(redis, [keys.nodes], [node.id, JSON.stringify(node), node.status, node.name, node.signPublicKey, node.vrfPublicKey])) as [number, string];
      return created === 1 ? { node, created: true } : { node: JSON.parse(doc) as NodeRecord, created: false };
    },

    async getNode(id) {
      const [doc, last] = await Promise.all([redis.hget(keys.nodes, id), redis.hget(keys.nodeLastTicket, id)]);
      return doc ? { ...(JSON.parse(doc) as NodeRecord), ...(last ? { lastTicketRound: Number(last) } : {}) } : null;
    },

    async listNodes() {
      const [docs, last] = await Promise.all([redis.hgetall(keys.nodes), redis.hgetall(keys.nodeLastTicket)]);
      return Object.values(docs)
        .map((d) => JSON.parse(d) as NodeRecord)
        .map((n) => (last[n.id] ? { ...n, lastTicketRound: Number(last[n.id]) } : n))
        .sort((a, b) => a.id.localeCompare(b.id));
    },

    removeNode: async (id) => (await REMOVE_NODE(redis, [keys.nodes], [id])) === 1,
  };
}

// Executor nodes: registration (a node keeps the keys it registered with), removal as a tombstone
// that only the admin's re-admission lifts, listing.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { NodeRecord } from './types.ts';

// KEYS: nodes. ARGV: id, node JSON, sign public key, VRF public key, name, registration.
// Returns {outcome, stored JSON}. A new id is stored as given. A removed node is a tombstone: it
// stays removed whatever its keys. An existing node keeps its keys: other keys write nothing. With
// the same keys, a new name and registration replace the old ones (the caller verified them). The
// record is stamped with its creation time, so finding exactly it is this call re-sent after a lost
// reply: 'created' again (the API then hands out the node's Redis password, as the first run would have).
const PUT_NODE = createScript(`
local doc = redis.call('HGET', KEYS[1], ARGV[1])
if not doc then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return {'created', ARGV[2]}
end
if doc == ARGV[2] then return {'created', doc} end
local node = cjson.decode(doc)
if node.status == 'removed' then return {'removed', doc} end
if node.signPublicKey ~= ARGV[3] or node.vrfPublicKey ~= ARGV[4] then return {'conflict', doc} end
if node.name == ARGV[5] and node.registration == ARGV[6] then return {'unchanged', doc} end
node.name = ARGV[5]
node.registration = ARGV[6]
doc = cjson.encode(node)
redis.call('HSET', KEYS[1], ARGV[1], doc)
return {'updated', doc}
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

// KEYS: nodes. ARGV: id. Returns {outcome, stored JSON}, or {'unknown'}; an active node is left as it is.
const READMIT_NODE = createScript(`
local doc = redis.call('HGET', KEYS[1], ARGV[1])
if not doc then return {'unknown'} end
local node = cjson.decode(doc)
if node.status ~= 'removed' then return {'active', doc} end
node.status = 'active'
doc = cjson.encode(node)
redis.call('HSET', KEYS[1], ARGV[1], doc)
return {'readmitted', doc}
`);

/**
 * What `putNode` did: `created`; `unchanged` (the same record); `updated` (same keys, a new name and
 * registration); `removed` (a tombstone, left removed); `conflict` (registered with other keys).
 */
export type PutNodeOutcome = 'created' | 'unchanged' | 'updated' | 'removed' | 'conflict';

/** Node records by id (ids derive from the signing key), with each node's last ticket round. */
export interface NodeStore {
  /**
   * Registers a node whose registration the caller verified, and returns the record stored now. An
   * existing node keeps its keys; a removed one stays removed (only `readmitNode` lifts that).
   */
  putNode(node: NodeRecord): Promise<{ node: NodeRecord; outcome: PutNodeOutcome }>;
  getNode(id: string): Promise<NodeRecord | null>;
  /** Every node, removed ones included, sorted by id. */
  listNodes(): Promise<NodeRecord[]>;
  /** Marks a node removed (it gets no more ticket jobs, so it drops out of committees after a round); false when unknown. */
  removeNode(id: string): Promise<boolean>;
  /** Makes a removed node active again with the record it has (`active`: it was not removed); null when unknown. */
  readmitNode(id: string): Promise<{ node: NodeRecord; outcome: 'readmitted' | 'active' } | null>;
}

/** The node store over the shared connection; every write is a guarded script. */
export function createNodeStore(redis: Redis, keys: Keys): NodeStore {
  const withLastTicket = (node: NodeRecord, last: string | null | undefined): NodeRecord => (last ? { ...node, lastTicketRound: Number(last) } : node);
  return {
    async putNode(node) {
      const args = [node.id, JSON.stringify(node), node.signPublicKey, node.vrfPublicKey, node.name, node.registration];
      const [outcome, doc] = (await PUT_NODE(redis, [keys.nodes], args)) as [PutNodeOutcome, string];
      return { node: outcome === 'created' ? node : (JSON.parse(doc) as NodeRecord), outcome };
    },

    async getNode(id) {
      const [doc, last] = await Promise.all([redis.hget(keys.nodes, id), redis.hget(keys.nodeLastTicket, id)]);
      return doc ? withLastTicket(JSON.parse(doc) as NodeRecord, last) : null;
    },

    async listNodes() {
      const [docs, last] = await Promise.all([redis.hgetall(keys.nodes), redis.hgetall(keys.nodeLastTicket)]);
      return Object.values(docs)
        .map((d) => JSON.parse(d) as NodeRecord)
        .map((n) => withLastTicket(n, last[n.id]))
        .sort((a, b) => a.id.localeCompare(b.id));
    },

    removeNode: async (id) => (await REMOVE_NODE(redis, [keys.nodes], [id])) === 1,

    async readmitNode(id) {
      const [[outcome, doc], last] = (await Promise.all([READMIT_NODE(redis, [keys.nodes], [id]), redis.hget(keys.nodeLastTicket, id)])) as [[string, string?], string | null];
      if (outcome === 'unknown') return null;
      return { node: withLastTicket(JSON.parse(doc!) as NodeRecord, last), outcome: outcome as 'readmitted' | 'active' };
    },
  };
}

// Per-node vote statistics: one hash of counters per node. `votes` and `late` are counted as a vote is
// recorded (requests.ts); `agreed`, `disagreed` and `missed` once per request, when its voting closes.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { DUE_KINDS, dueMemberOf } from './due.ts';
import { createScript } from './script.ts';

export const NODE_STAT_FIELDS = ['votes', 'agreed', 'disagreed', 'late', 'missed'] as const;
export type NodeStatField = (typeof NODE_STAT_FIELDS)[number];

/**
 * A node's counters: `votes` counted (recorded before finality), of those `agreed` and `disagreed`
 * with the agreed result, `late` votes (recorded after finality, never counted), and `missed` runs
 * (committee seats with no counted vote when voting closed).
 */
export type NodeStats = Readonly<Record<NodeStatField, number>>;

/** What one request adds to each of its committee's nodes when its voting closes. */
export type RequestNodeStats = Readonly<Record<string, Readonly<Partial<Record<'agreed' | 'disagreed' | 'missed', number>>>>>;

/** The request field that marks its counts added: what makes the addition once per request. */
export const COUNTED_MARK = 'nodeStatsCounted';

/**
 * Lua: \`addNodeCounts(first, counts)\` adds each table of \`counts\` (\`{field = n}\`, decoded from
 * RequestNodeStats JSON) to the stats hash KEYS[first], KEYS[first + 1], … in order. Shared by the
 * settling script below and a closing transition that settles in the same step (requests.ts).
 */
export const ADD_NODE_COUNTS_LUA = `
local function addNodeCounts(first, counts)
  for i, count in ipairs(counts) do
    for field, n in pairs(count) do
      if n ~= 0 then redis.call('HINCRBY', KEYS[first + i - 1], field, n) end
    end
  end
end`;

// KEYS: request, the bucket's due-time index, then the stats hash of each node in the request's
// bucket. ARGV: the request's due entries (members), then the counts of each node (JSON), in KEYS order.
// Settles a request whose voting closed: its due entries go (always: removing twice changes nothing),
// and its counts are added. The mark on the request makes the addition once per request: a
// redelivery, a second consensus or the due sweep after a crash adds nothing more. A request that is
// gone adds nothing.
const SETTLE_REQUEST = createScript(`${ADD_NODE_COUNTS_LUA}
redis.call('ZREM', KEYS[2], ARGV[1], ARGV[2])
if #KEYS == 2 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], '${COUNTED_MARK}', '1') == 0 then return 0 end
local counts = {}
for i = 3, #KEYS do counts[#counts + 1] = cjson.decode(ARGV[i]) end
addNodeCounts(3, counts)
return 1
`);

export interface NodeStatsStore {
  /**
   * Settles a request whose voting closed, in one step: removes its due entries, and adds its counts
   * (null: none, it was never assigned) to its nodes' statistics, once per request; true when this
   * call added them.
   */
  settleRequest(requestId: string, counts: RequestNodeStats | null): Promise<boolean>;
  /** The statistics of each node, in the order given (zeros for a node with none). */
  listNodeStats(nodeIds: readonly string[]): Promise<NodeStats[]>;
}

export function createNodeStatsStore(redis: Redis, keys: Keys): NodeStatsStore {
  return {
    async settleRequest(requestId, counts) {
      const nodeIds = Object.keys(counts ?? {});
      const b = keys.bucketOf(requestId);
      const added = await SETTLE_REQUEST(
        redis,
        [keys.request(requestId), keys.due(b), ...nodeIds.map((id) => keys.nodeStats(b, id))],
        [...DUE_KINDS.map((kind) => dueMemberOf(kind, requestId)), ...nodeIds.map((id) => JSON.stringify(counts![id]))],
      );
      return added === 1;
    },
    async listNodeStats(nodeIds) {
      if (nodeIds.length === 0) return [];
      // Each bucket counts the votes of its requests: a node's statistics are the sum over the buckets.
      const replies = await Promise.all(nodeIds.map((id) => Promise.all(keys.bucketNumbers.map((b) => redis.hmget(keys.nodeStats(b, id), ...NODE_STAT_FIELDS)))));
      return replies.map((perBucket) => Object.fromEntries(NODE_STAT_FIELDS.map((field, i) => [field, perBucket.reduce((total, values) => total + Number(values[i] ?? 0), 0)])) as NodeStats);
    },
  };
}

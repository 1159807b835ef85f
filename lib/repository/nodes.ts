// Executor nodes, the round seed chain and each round's ticket set (frozen when the next round starts).
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { NodeRecord, RoundRecord, TicketRecord } from './types.ts';

// KEYS: latest, new round, previous round. ARGV: expected previous round number (0 = none),
// round number, seed, proof, startedAt. Creates round r only if the latest is still r-1, and
// freezes r-1 in the same step: late tickets for r-1 are refused from then on.
const START_ROUND = createScript(`
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
if latest ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'round', ARGV[2], 'seed', ARGV[3], 'proof', ARGV[4], 'startedAt', ARGV[5], 'frozen', '0')
if latest > 0 then redis.call('HSET', KEYS[3], 'frozen', '1') end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`);

// KEYS: round, tickets, last-ticket hash. ARGV: nodeId, ticket JSON, round.
const PUT_TICKET = createScript(`
local frozen = redis.call('HGET', KEYS[1], 'frozen')
if not frozen then return 'no_round' end
if frozen == '1' then return 'late' end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 'duplicate' end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 'stored'
`);

export type TicketStorage = 'stored' | 'late' | 'duplicate' | 'no_round';

export function createNodeRepository(redis: Redis, keys: Keys) {
  const toRound = (hash: Record<string, string>): RoundRecord | null =>
    hash.round ? { round: Number(hash.round), seed: hash.seed, proof: hash.proof, startedAt: hash.startedAt, frozen: hash.frozen === '1' } : null;

  return {
    /** Registers a node, or returns the existing record for the same id (ids derive from the signing key). */
    async putNode(node: NodeRecord): Promise<{ node: NodeRecord; created: boolean }> {
      const created = (await redis.hsetnx(keys.nodes, node.id, JSON.stringify(node))) === 1;
      if (created) return { node, created };
      const existing = JSON.parse((await redis.hget(keys.nodes, node.id))!) as NodeRecord;
      if (existing.status === 'removed' && node.status === 'active') {
        const revived = { ...existing, status: 'active' as const, name: node.name };
        await redis.hset(keys.nodes, node.id, JSON.stringify(revived));
        return { node: revived, created: false };
      }
      return { node: existing, created };
    },

    async getNode(id: string): Promise<NodeRecord | null> {
      const [doc, last] = await Promise.all([redis.hget(keys.nodes, id), redis.hget(keys.nodeLastTicket, id)]);
      return doc ? { ...(JSON.parse(doc) as NodeRecord), ...(last ? { lastTicketRound: Number(last) } : {}) } : null;
    },

    async listNodes(): Promise<NodeRecord[]> {
      const [docs, last] = await Promise.all([redis.hgetall(keys.nodes), redis.hgetall(keys.nodeLastTicket)]);
      return Object.values(docs)
        .map((d) => JSON.parse(d) as NodeRecord)
        .map((n) => (last[n.id] ? { ...n, lastTicketRound: Number(last[n.id]) } : n))
        .sort((a, b) => a.id.localeCompare(b.id));
    },

    /** Marks a node removed: it gets no more ticket jobs, so it drops out of committees after a round. */
    async removeNode(id: string): Promise<boolean> {
      const doc = await redis.hget(keys.nodes, id);
      if (!doc) return false;
      await redis.hset(keys.nodes, id, JSON.stringify({ ...(JSON.parse(doc) as NodeRecord), status: 'removed' }));
      return true;
    },

    async getLatestRoundNumber(): Promise<number> {
      return Number((await redis.get(keys.roundLatest)) ?? 0);
    },

    async getRound(round: number): Promise<RoundRecord | null> {
      return toRound(await redis.hgetall(keys.round(round)));
    },

    /** Starts round `round.round` if the latest is still the one before it; freezes that one. */
    async startRound(round: Omit<RoundRecord, 'frozen'>): Promise<boolean> {
      const previous = round.round - 1;
      const reply = await START_ROUND(redis, [keys.roundLatest, keys.round(round.round), keys.round(Math.max(previous, 0))], [previous, round.round, round.seed, round.proof, round.startedAt]);
      return reply === 1;
    },

    async putTicket(round: number, ticket: TicketRecord): Promise<TicketStorage> {
      const json = JSON.stringify({ beta: ticket.beta, proof: ticket.proof });
      return (await PUT_TICKET(redis, [keys.round(round), keys.roundTickets(round), keys.nodeLastTicket], [ticket.nodeId, json, round])) as TicketStorage;
    },

    async listTickets(round: number): Promise<TicketRecord[]> {
      const all = await redis.hgetall(keys.roundTickets(round));
      return Object.entries(all)
        .map(([nodeId, doc]) => ({ nodeId, ...(JSON.parse(doc) as { beta: string; proof: string }) }))
        .sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    },
  };
}

export type NodeRepository = ReturnType<typeof createNodeRepository>;

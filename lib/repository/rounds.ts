// Rounds and tickets: the round seed chain and each round's ticket set (frozen when the next round starts).
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { RoundRecord, TicketRecord } from './types.ts';

// KEYS: latest, new round, previous round. ARGV: expected previous round number (0 = none),
// round number, seed, proof, startedAt, tickets root, ledger length, ledger head. Creates round r
// only if the latest is still r-1, and freezes r-1 in the same step (freezeRound did it already).
// The same start re-sent after a lost reply finds round r with its own seed and start time: started
// (1), nothing written, so the scheduler still asks the nodes for their tickets.
const START_ROUND = createScript(`
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
if latest == tonumber(ARGV[2]) and redis.call('HGET', KEYS[2], 'seed') == ARGV[3] and redis.call('HGET', KEYS[2], 'startedAt') == ARGV[5] then return 1 end
if latest ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'round', ARGV[2], 'seed', ARGV[3], 'proof', ARGV[4], 'startedAt', ARGV[5], 'frozen', '0',
  'ticketsRoot', ARGV[6], 'ledgerLength', ARGV[7], 'ledgerHead', ARGV[8])
if latest > 0 then redis.call('HSET', KEYS[3], 'frozen', '1') end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`);

// KEYS: round, tickets. Freezes the round (idempotent) and returns its ticket set, fixed from now on.
const FREEZE_ROUND = createScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 'frozen', '1')
return redis.call('HGETALL', KEYS[2])
`);

// KEYS: round, tickets, last-ticket hash. ARGV: nodeId, ticket JSON, round. The same ticket again
// before the round froze (re-sent after a lost reply, or redelivered) is in the set already:
// 'stored', nothing written.
const PUT_TICKET = createScript(`
local frozen = redis.call('HGET', KEYS[1], 'frozen')
if not frozen then return 'no_round' end
if frozen == '1' then return 'late' end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then return 'stored' end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 'duplicate' end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 'stored'
`);

/** What putTicket did: stored it, or refused it (the round froze, the node has one, no such round). */
export type TicketStorage = 'stored' | 'late' | 'duplicate' | 'no_round';

/** The round chain and its tickets; a frozen ticket set never changes. */
export interface RoundStore {
  /** The latest round started, 0 before the first. */
  getLatestRoundNumber(): Promise<number>;
  getRound(round: number): Promise<RoundRecord | null>;
  /** Starts round `round.round` if the latest is still the one before it, and freezes that one; false when another tick won. */
  startRound(round: Omit<RoundRecord, 'frozen'>): Promise<boolean>;
  /** Freezes a round's ticket set (no ticket is taken after) and returns it, sorted by node id; null for no such round. */
  freezeRound(round: number): Promise<TicketRecord[] | null>;
  /** Stores a node's ticket once, only while its round is not frozen (and records the node's last ticket round). */
  putTicket(round: number, ticket: TicketRecord): Promise<TicketStorage>;
  /** The round's tickets, sorted by node id. */
  listTickets(round: number): Promise<TicketRecord[]>;
}

/** The round store over the shared connection. */
export function createRoundStore(redis: Redis, keys: Keys): RoundStore {
  const toRound = (hash: Record<string, string>): RoundRecord | null =>
    hash.round
      ? {
        round: Number(hash.round), seed: hash.seed, proof: hash.proof, ticketsRoot: hash.ticketsRoot ?? '', ledgerLength: Number(hash.ledgerLength ?? 0),
        ledgerHead: hash.ledgerHead ?? '', startedAt: hash.startedAt, frozen: hash.frozen === '1',
      }
      : null;
  const toTickets = (all: Record<string, string>): TicketRecord[] => Object.entries(all)
    .map(([nodeId, doc]) => ({ nodeId, ...(JSON.parse(doc) as { beta: string; proof: string }) }))
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));

  return {
    getLatestRoundNumber: async () => Number((await redis.get(keys.roundLatest)) ?? 0),

    getRound: async (round) => toRound(await redis.hgetall(keys.round(round))),

    async startRound(round) {
      const previous = round.round - 1;
      const reply = await START_ROUND(
        redis,
        [keys.roundLatest, keys.round(round.round), keys.round(Math.max(previous, 0))],
        [previous, round.round, round.seed, round.proof, round.startedAt, round.ticketsRoot, round.ledgerLength, round.ledgerHead],
      );
      return reply === 1;
    },

    async freezeRound(round) {
      const reply = (await FREEZE_ROUND(redis, [keys.round(round), keys.roundTickets(round)], [])) as string[] | null;
      if (!reply) return null;
      const all: Record<string, string> = {};
      for (let i = 0; i < reply.length; i += 2) all[reply[i]] = reply[i + 1];
      return toTickets(all);
    },

    async putTicket(round, ticket) {
      const json = JSON.stringify({ beta: ticket.beta, proof: ticket.proof });
      return (await PUT_TICKET(redis, [keys.round(round), keys.roundTickets(round), keys.nodeLastTicket], [ticket.nodeId, json, round])) as TicketStorage;
    },

    listTickets: async (round) => toTickets(await redis.hgetall(keys.roundTickets(round))),
  };
}

// Scheduler: under a Redis lease, advances the round seed chain, asks every active node for its
// ticket, stores verified tickets, fires project cron schedules, repairs stranded requests and runs
// retention (compaction, export, removal).
import { randomUUID } from 'node:crypto';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import type { VrfRunner } from '../../crypto/vrf-runner.ts';
import { GENESIS_SEED, computeTicketsRoot, createRoundWith } from '../../protocol/rounds.ts';
import { verifyTicketWith } from '../../protocol/tickets.ts';
import { jobIds, type JobPayloads, type JobResults, type QueueSet } from '../../queues.ts';
import { errorForLog } from '../../logger.ts';
import type { Lease } from '../../repository/leases.ts';
import type { Repository } from '../../repository/index.ts';
import type { NodeRecord } from '../../repository/types.ts';
import { once, startPerNodeWorkers, type PerNodeWorkers, type RoleBase, type RoleHandle } from '../../runtime/common.ts';
import { chainSettingsOf, connectChainReader } from '../../chain/archway-client.ts';
import { startChainInputter } from './chain-inputter.ts';
import { startCronSchedules } from './cron-schedules.ts';
import { createRepairSweep } from './repair-sweep.ts';
import { startRetention } from './retention.ts';
import { startPeriodic } from '../../runtime/periodic.ts';
import { openRoleVrf } from '../../runtime/vrf-pool.ts';
import { isNodeRecordBound } from '../sign-keys.ts';

export interface SchedulerDeps extends RoleBase {
  readonly repository: Repository;
  readonly queues: QueueSet;
  readonly counterKey: Uint8Array;
  /** VRF threads shared by the process's roles; absent, the scheduler runs its own and closes it on stop. */
  readonly vrf?: VrfRunner;
}

export async function startScheduler(deps: SchedulerDeps): Promise<RoleHandle> {
  const { repository, queues, config, clock, logger } = deps;
  const lease = repository.openLease('scheduler', randomUUID(), config.roundMs * 3);
  // The round proof and every ticket check run on a worker thread: a busy loop must not hold a round up.
  const { vrf, close: closeVrf } = openRoleVrf(deps.vrf, logger);
  // Every node sends its tickets to its own queue; a worker per registered node takes them.
  const ticketWorkers = startPerNodeWorkers(deps, 'tickets', { ticket: createTicketStore(deps, vrf) }, {
    listNodeIds: async () => (await repository.listNodes()).map((n) => n.id),
    senderOf: (payload) => payload.nodeId,
    concurrency: 1,
    refreshMs: config.roundMs,
  });
  const cron = startCronSchedules({ repository, queues, clock, logger, config, metrics: deps.metrics, isLeader: () => lease.isHeld(), reloadMs: config.sweepMs });
  const chainSettings = chainSettingsOf(config);
  const inputter = chainSettings
    ? startChainInputter({ repository, queues, clock, logger, config, metrics: deps.metrics, connect: () => connectChainReader(chainSettings), isLeader: () => lease.isHeld(), pollMs: config.chainPollMs })
    : null;
  const clockHandle = startRoundClock(deps, lease, ticketWorkers, vrf);
  const sweeper = startPeriodic({ intervalMs: config.sweepMs, run: createRepairSweep(deps, lease), onError: (err) => logger.error({ err: errorForLog(err) }, 'repair sweep failed') });
  const retention = startRetention(deps, () => lease.isHeld());

  return {
    name: 'scheduler',
    isReady: () => ticketWorkers.isRunning(),
    stop: once(async () => {
      await clockHandle.stop();
      await retention.stop();
      await sweeper.stop();
      await cron.stop();
      await inputter?.stop();
      await ticketWorkers.close();
      await closeVrf();
      await lease.release();
    }),
  };
}

/**
 * Time to the next round boundary. A timer may fire a millisecond before the boundary it aimed at
 * (timers and the wall clock drift apart): the boundary right after it is then skipped, so two
 * rounds never start a millisecond apart (the first would freeze with no tickets).
 */
export function nextTickDelayMs(nowMs: number, roundMs: number): number {
  const delay = roundMs - (nowMs % roundMs);
  return delay < roundMs / 2 ? delay + roundMs : delay;
}

/**
 * Verifies a node's ticket for a round and stores it, unless the round's ticket set is frozen. The
 * VRF key is the one the node's registration signed: a record that does not verify is unknown.
 */
function createTicketStore(deps: SchedulerDeps, vrf: VrfRunner): (payload: JobPayloads['tickets']) => Promise<JobResults['tickets']> {
  const { repository, logger } = deps;
  return async function storeTicket({ nodeId, round, beta, proof }) {
    const [node, record] = await Promise.all([repository.getNode(nodeId), repository.getRound(round)]);
    if (!node || node.status !== 'active' || !isNodeRecordBound(nodeId, node, logger)) return 'refused: unknown node';
    if (!record) return 'refused: unknown round';
    // The proof first: a forged ticket is reported as forged, late or not.
    let inputs;
    try {
      inputs = { vrfPublicKey: fromHex(node.vrfPublicKey, 32), seed: fromHex(record.seed, 32), ticket: { nodeId, beta: fromHex(beta, 64), proof: fromHex(proof, 80) } };
    } catch {
      inputs = null;
    }
    // A lost VRF thread rejects: the job is retried, the ticket is not refused for it.
    const valid = inputs !== null && (await verifyTicketWith(vrf, inputs.vrfPublicKey, round, inputs.seed, inputs.ticket));
    if (!valid) {
      logger.warn({ nodeId, round }, 'ticket refused: bad proof');
      return 'refused: bad proof';
    }
    if (record.frozen) return 'refused: late';
    const stored = await repository.putTicket(round, { nodeId, beta, proof });
    return stored === 'stored' ? 'stored' : `refused: ${stored}` as const;
  };
}

/** How many rounds back a node's last ticket makes the next freeze wait for its ticket. */
const RECENT_TICKET_ROUNDS = 3;
/** How often a waiting tick looks at the tickets again (ms). */
const TICKET_POLL_MS = 25;

/**
 * Ticks at round boundaries, one tick at a time: the timer for the next boundary is set when a tick
 * is over, so a tick that overran its round is never followed at once by another (which would freeze
 * a round with no time for tickets). stop() waits for the tick in progress.
 */
function startRoundClock(deps: SchedulerDeps, lease: Lease, ticketWorkers: PerNodeWorkers, vrf: VrfRunner): { stop(): Promise<void> } {
  const { repository, queues, config, clock, logger, counterKey } = deps;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> = Promise.resolve();
  let stopped = false;

  /**
   * Before round `round` freezes, waits (up to half a round after `sinceMs`) for the tickets still
   * owed by nodes that ticketed lately: on a busy machine a ticket may need longer than its round,
   * and a node missing from the frozen set misses every committee of the next round. A node that
   * stopped ticketing is not waited for after a few rounds.
   */
  async function awaitOwedTickets(round: number, nodes: readonly NodeRecord[], sinceMs: number): Promise<void> {
    const owing = nodes.filter((n) => n.lastTicketRound !== undefined && n.lastTicketRound < round && n.lastTicketRound >= round - RECENT_TICKET_ROUNDS);
    if (owing.length === 0) return;
    while (!stopped && clock.now() - sinceMs < config.roundMs / 2) {
      const ticketed = new Set((await repository.listTickets(round)).map((t) => t.nodeId));
      if (owing.every((n) => ticketed.has(n.id))) return;
      await new Promise((resolve) => setTimeout(resolve, TICKET_POLL_MS));
    }
  }

  /** Starts the next round if this scheduler holds the lease; the repository refuses a fork. */
  async function tick(): Promise<void> {
    const tickAtMs = clock.now();
    if (!(await lease.renew())) return;
    // Read and refreshed first, so the ticket requests follow the round's start at once: a node
    // registered since the last refresh gets its ticket worker before it is asked for a ticket.
    const nodes = (await repository.listNodes()).filter((n) => n.status === 'active');
    await ticketWorkers.refresh();
    const latest = await repository.getLatestRoundNumber();
    const previous = latest > 0 ? await repository.getRound(latest) : null;
    if (latest > 0) await awaitOwedTickets(latest, nodes, tickAtMs);
    // Round r commits to the frozen ticket set of r-1 and to the ledger as it stands (protocol v2).
    const frozen = latest > 0 ? ((await repository.freezeRound(latest)) ?? []) : [];
    const ledger = await repository.getLedgerHead();
    const anchor = { ticketsRoot: computeTicketsRoot(frozen), ledgerLength: ledger.length, ledgerHead: fromHex(ledger.head, 32) };
    const round = await createRoundWith(vrf, counterKey, latest + 1, previous ? fromHex(previous.seed, 32) : GENESIS_SEED, anchor);
    const record = {
      round: round.round, seed: toHex(round.seed), proof: toHex(round.proof), startedAt: new Date(clock.now()).toISOString(),
      ticketsRoot: toHex(anchor.ticketsRoot), ledgerLength: ledger.length, ledgerHead: ledger.head,
    };
    // The start and the ticket requests are idempotent: a call that failed with a dropped connection
    // (perhaps applied, its reply lost) is made once more as is, or the round would get no tickets.
    const started = await retryOnce(() => repository.startRound(record));
    if (!started) return;
    // A ticket that waited behind runs would arrive after its round froze and drop the node from the
    // next committees just when it is busiest: ticket requests have their own queue and worker.
    await retryOnce(() => Promise.all(nodes.map((n) => queues.add('ticketRequests', jobIds.ticket(round.round), { kind: 'ticket', round: round.round }, { nodeId: n.id }))));
    logger.debug({ round: round.round, nodes: nodes.length, frozenTickets: frozen.length }, 'round started');
  }

  const retryOnce = <T>(write: () => Promise<T>): Promise<T> => write().catch(() => write());

  const runTick = () => {
    ticking = tick()
      .catch((err: Error) => logger.error({ err: errorForLog(err) }, 'round tick failed'))
      .then(scheduleTick);
  };
  const scheduleTick = () => {
    if (stopped) return;
    timer = setTimeout(runTick, nextTickDelayMs(clock.now(), config.roundMs));
  };
  runTick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await ticking;
    },
  };
}

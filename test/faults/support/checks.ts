// What the fault cases match and assert: the write each one faults, and the "exactly one effect" checks.
import { expect } from 'chai';
import type { ProcessContext } from '../../../lib/process.ts';
import type { QueueKind } from '../../../lib/queues.ts';
import type { RequestRecord } from '../../../lib/repository/types.ts';
import { commandOnKey, scriptCall, scriptWithKey, type CommandMatcher, type InjectedFault } from '../../support/fault-proxy.ts';
import { waitFor } from '../../support/gateway.ts';
import { SETTLE_MS, type FaultBench } from './fault-bench.ts';

/** The script that stores a request (ACCEPT on one Redis, STORE on a cluster; requests.ts): the only one that writes the recent list. */
export const createRequestWrite: CommandMatcher = scriptWithKey(':recent');

/** RECORD_VOTE's keys: request, its votes, the voter's statistics. */
const isRecordVote = (keys: readonly string[]) => keys.length >= 3 && keys[1].endsWith(':votes') && keys[2].includes(':node-stats:');

/** RECORD_VOTE alone (a vote that brings no agreement this process foresaw). */
export const recordVoteWrite: CommandMatcher = scriptCall((keys) => keys.length === 3 && isRecordVote(keys));

/** RECORD_AND_AGREE (requests.ts): RECORD_VOTE's keys, then TRANSITION's; ARGV: the count of named votes, two per vote, RECORD_VOTE's three, then TRANSITION's. */
export const recordAndAgreeWrite: CommandMatcher = scriptCall((keys) => keys.length > 3 && isRecordVote(keys));

/** The node id whose vote a RECORD_VOTE or RECORD_AND_AGREE call records. */
export function votingNodeOf(argv: readonly string[], keys: readonly string[]): string {
  return keys.length === 3 ? argv[0] : argv[2 * Number(argv[0]) + 1];
}

/** APPEND_AND_PUBLISH's ARGV (ledger.ts): n, two counts per request, APPEND's 2 + 3n arguments, then the first request's TRANSITION arguments. */
const firstPublicationArgv = (argv: readonly string[]) => argv.slice(3 + 5 * Number(argv[0]));

/**
 * A guarded transition (TRANSITION in requests.ts) to `status`: ARGV[3] is the target. An agreement
 * may also be written by the deciding vote's record (RECORD_AND_AGREE), whose TRANSITION arguments
 * follow the record's, and a publication by the ledger append on one Redis (APPEND_AND_PUBLISH), whose
 * TRANSITION arguments follow the append's.
 */
export function transitionTo(status: RequestRecord['status']): CommandMatcher {
  return scriptCall((keys, argv) => {
    if (!keys.some((key) => key.endsWith(':finished'))) return false;
    const transitionArgv = keys.some((key) => key.endsWith(':ledger:by-request'))
      ? firstPublicationArgv(argv)
      : keys.length > 3 && isRecordVote(keys) ? argv.slice(2 * Number(argv[0]) + 4) : argv;
    return transitionArgv[2] === status;
  });
}

/** SETTLE_REQUEST (node-stats.ts): the request, the due-time index, then the statistics of each committee member. */
export const nodeStatsWrite: CommandMatcher = scriptCall((keys) => keys.length >= 3 && keys[1].endsWith(':due') && keys.slice(2).every((key) => key.includes(':node-stats:')));

/** The ledger append (APPEND in ledger.ts, or APPEND_AND_PUBLISH, with the publications, on one Redis). */
export const ledgerAppendWrite: CommandMatcher = scriptWithKey(':ledger:by-request');

/** PUT_TICKET (rounds.ts): the only script that writes each node's last ticket round. */
export const ticketWrite: CommandMatcher = scriptWithKey(':nodes:last-ticket');

/** START_ROUND of round `round` (ARGV[2]). */
export function roundStartWrite(round: number): CommandMatcher {
  return scriptCall((keys, argv) => (keys[0] ?? '').endsWith(':round:latest') && argv[1] === String(round));
}

/** The sender's hand-over of a published chain request to the publisher's outbox. */
export const outboxWrite: CommandMatcher = commandOnKey('zadd', ':chain:outbox');

/** Any write of a schedule's refused-tick record (a MULTI…EXEC of it faults its EXEC). */
export const refusedTickWrite: CommandMatcher = (command) => command.name !== 'hgetall' && command.args.some((arg) => arg.includes(':refusals'));

/** Waits for the fault to happen and for the client to re-send the faulted command: it ran twice. */
export async function injected(fault: Promise<InjectedFault>): Promise<InjectedFault> {
  const happened = await within(fault, 'the fault was never injected');
  await within(happened.resent, `the faulted ${happened.command.name} was never re-sent`);
  return happened;
}

function within<T>(promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), SETTLE_MS); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The return value of a job once it finished. */
export function finishedJob(ctx: ProcessContext, kind: QueueKind, jobId: string, nodeId?: string): Promise<unknown> {
  return waitFor(async () => {
    const job = await ctx.queues.get(kind, nodeId).getJob(jobId);
    return job?.finishedOn ? (job.returnvalue ?? `failed: ${job.failedReason}`) : undefined;
  }, SETTLE_MS, `job ${jobId}`);
}

/**
 * No project holds an admission slot once every request is final: nothing was counted twice. A slot
 * goes back in the step right after the final transition, so a reader who saw the request final
 * waits for it (and a slot that never goes back fails at SETTLE_MS).
 */
export async function expectNoOpenRequests(bench: FaultBench): Promise<void> {
  const projects = await bench.direct.repository.listProjects(100);
  const countsOf = () => Promise.all(projects.items.map((p) => bench.direct.repository.countOpenRequests(p.id)));
  await waitFor(async () => ((await countsOf()).every((n) => n === 0) ? true : undefined), SETTLE_MS, 'every admission slot given back').catch(() => undefined);
  expect(await countsOf()).to.deep.equal(projects.items.map(() => 0));
}

/**
 * Every committee seat of the requests counted once in its node's statistics, however its vote came:
 * one vote (counted or late), and one of agreed, disagreed or missed when voting closed.
 */
export async function expectSeatsCountedOnce(bench: FaultBench, ...requests: RequestRecord[]): Promise<void> {
  const seats = new Map<string, number>();
  for (const request of requests) for (const nodeId of request.assignment!.committee) seats.set(nodeId, (seats.get(nodeId) ?? 0) + 1);
  const committee = [...seats.keys()];
  const stats = await waitFor(async () => {
    const all = await bench.direct.repository.listNodeStats(committee);
    return all.every((s, i) => s.votes + s.late === seats.get(committee[i]!) && s.agreed + s.disagreed + s.missed === seats.get(committee[i]!)) ? all : undefined;
  }, SETTLE_MS, 'every seat counted');
  stats.forEach((s, i) => {
    expect(s.agreed + s.disagreed, 'a counted vote agrees or disagrees').to.equal(s.votes);
    expect(s.missed, 'a seat without a counted vote is missed').to.equal(seats.get(committee[i]!)! - s.votes);
  });
}

/** The number of observations of a histogram (the metrics of one process). */
export async function histogramCount(ctx: ProcessContext, name: 'acceptedToAgreed' | 'acceptedToPublished'): Promise<number> {
  const { values } = await ctx.metrics[name].get();
  return values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
}

/** The value of a counter with these labels (0 when never raised). */
export async function counterValue(ctx: ProcessContext, name: 'admissionRefused', labels: Record<string, string>): Promise<number> {
  const { values } = await ctx.metrics[name].get();
  return values.find((v) => Object.entries(labels).every(([k, value]) => (v.labels as Record<string, unknown>)[k] === value))?.value ?? 0;
}

// The chain publisher (run by the sender, under its own lease so one signer uses the account's
// sequence): takes published chain requests from the outbox, skips results the contract already
// holds, checks the rest again (the publication check, then the ledger entry and the contract's
// request) and saves those that verify with SaveResultMsg, several per transaction, retrying with backoff.
import { errorForLog, type Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { Repository } from '../../repository/index.ts';
import type { ChainProjectState, ChainResult, PendingChainRequest } from '../../chain/contract-schema.ts';
import type { RequestRecord } from '../../repository/types.ts';
import type { Clock } from '../../runtime/common.ts';
import { startPeriodic } from '../../runtime/periodic.ts';
import { isSequenceMismatch, type ChainWriter } from '../../chain/archway-client.ts';
import { parseChainInput } from '../scheduler/chain-inputter.ts';
import { decideChainResult, type ChainResultDecision } from './decide-chain-result.ts';
import { nextPublication, type PublicationEvent } from './next-publication.ts';
import { createPublicationCheck } from './publication-check.ts';

export interface ChainPublisherDeps {
  readonly repository: Pick<Repository, 'listChainOutbox' | 'getRequests' | 'putChainPublication' | 'getLedgerEntryOf' | 'getNode' | 'getRound' | 'listTickets'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly connect: () => Promise<ChainWriter>;
  readonly isLeader: () => Promise<boolean>;
  readonly pollMs: number;
  readonly batchSize: number;
  readonly maxAttempts: number;
}

const SEQUENCE_RETRIES = 3;

/** A request with the result that verified for it: the bytes a transaction carries. */
interface Verified {
  readonly request: RequestRecord;
  readonly result: ChainResult;
}

export function startChainPublisher(deps: ChainPublisherDeps): { publishOnce(): Promise<void>; stop(): Promise<void> } {
  const { repository, clock, logger } = deps;
  let writer: ChainWriter | undefined;

  const advance = createAdvance(deps);
  const send = createBatchSender(deps, advance);
  const verify = createChainResultCheck(deps.repository, logger);

  async function settleKnown(request: RequestRecord, state: ChainProjectState): Promise<boolean> {
    const { reqId, chainProjectId } = request.origin!;
    if (state.answered.has(reqId)) await advance(request, { kind: 'answered' });
    else if (!state.pending.some((p) => p.reqId === reqId)) await advance(request, { kind: 'not_pending', chainProjectId, reqId });
    else return false;
    return true;
  }

  async function publishOnce(): Promise<void> {
    if (!(await deps.isLeader())) return;
    const ids = await repository.listChainOutbox(clock.now(), deps.batchSize * 4);
    if (ids.length === 0) return;
    writer ??= await deps.connect();
    const chain = writer;
    const requests = (await repository.getRequests(ids)).filter((r) => r.origin);
    const states = new Map<number, ChainProjectState>();
    const open: RequestRecord[] = [];
    for (const request of requests) {
      const { chainProjectId } = request.origin!;
      if (request.chain?.status === 'broadcast' && request.chain.txHash) {
        // Signed before a restart: if that transaction landed, it is done.
        const tx = await chain.getTx(request.chain.txHash);
        if (tx?.code === 0) {
          await advance(request, { kind: 'committed', txHash: request.chain.txHash, height: tx.height });
          continue;
        }
      }
      if (!states.has(chainProjectId)) states.set(chainProjectId, await chain.queryProject(chainProjectId));
      if (!(await settleKnown(request, states.get(chainProjectId)!))) open.push(request);
    }
    for (let i = 0; i < open.length; i += deps.batchSize) {
      // Checked per batch, right before its transaction, which carries the values that passed: a store write after the check cannot reach the contract.
      const batch: Verified[] = [];
      for (const request of open.slice(i, i + deps.batchSize)) {
        const { chainProjectId, reqId } = request.origin!;
        const decision = await verify(request, states.get(chainProjectId)!.pending.find((p) => p.reqId === reqId)!);
        if (decision.kind === 'send') batch.push({ request, result: decision.result });
        else await advance(request, { kind: 'unverified', reason: decision.reason });
      }
      if (batch.length > 0) await send(chain, batch);
    }
  }

  const periodic = startPeriodic({
    intervalMs: deps.pollMs,
    run: publishOnce,
    onError: (err) => {
      writer?.disconnect();
      writer = undefined;
      logger.warn({ err: errorForLog(err) }, 'chain publication round failed');
    },
  });
  return {
    publishOnce: periodic.runOnce,
    async stop() {
      await periodic.stop();
      writer?.disconnect();
    },
  };
}

type Advance = (request: RequestRecord, event: PublicationEvent) => Promise<void>;

/** Moves a request's publication on by one event (the state machine's step), the one write per step. */
function createAdvance(deps: ChainPublisherDeps): Advance {
  const { repository, clock, logger, metrics } = deps;
  return async function advance(request, event) {
    const step = nextPublication(request.chain, event, { nowMs: clock.now(), maxAttempts: deps.maxAttempts });
    if (event.kind === 'unverified') {
      metrics.chainTxs.inc({ outcome: 'unverified' });
      logger.error({ requestId: request.id, reason: event.reason }, 'chain result not sent: it does not verify');
    }
    if (step.isFailure) {
      metrics.chainTxs.inc({ outcome: 'failed' });
      if (event.kind === 'error') logger.error({ requestId: request.id, attempts: step.publication.attempts, errorBytes: Buffer.byteLength(event.message) }, 'chain publication failed for good');
    }
    await repository.putChainPublication(request.id, step.publication, step.retryAtMs);
  };
}

/**
 * Nothing reaches the contract on the word of the store. The stored outcome must follow from the
 * signed votes (the sender's publication check, the same code), the request must reproduce its
 * ledger entry (which a store writer cannot rewrite unseen: later rounds commit to the ledger's
 * head), and the contract's pending request must carry the input that ran.
 */
function createChainResultCheck(repository: ChainPublisherDeps['repository'], logger: Logger): (request: RequestRecord, pending: PendingChainRequest) => Promise<ChainResultDecision> {
  const check = createPublicationCheck(repository, logger);
  return async (request, pending) => {
    const reason = await check(request);
    if (reason) return { kind: 'unverified', reason };
    let entry;
    try {
      entry = await repository.getLedgerEntryOf(request.id);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      return { kind: 'unverified', reason: 'its ledger entry is not JSON' };
    }
    return decideChainResult(request, entry, pending, parseChainInput(pending.input, Number.POSITIVE_INFINITY));
  };
}

/**
 * Saves a batch of results in one transaction: recorded as broadcast before the bytes leave, signed
 * again after a sequence mismatch, split into single results when the chain rejects the batch, and
 * retried later (with backoff) on any other error.
 */
function createBatchSender(deps: ChainPublisherDeps, advance: Advance): (chain: ChainWriter, batch: readonly Verified[]) => Promise<void> {
  const { logger, metrics } = deps;
  return async function send(chain, verified) {
    const results = verified.map((v) => v.result);
    const batch = verified.map((v) => v.request);
    for (let attempt = 0; ; attempt++) {
      let signedHash: string | undefined;
      try {
        const outcome = await chain.submit(results, async (txHash) => {
          signedHash = txHash;
          for (const r of batch) await advance(r, { kind: 'signed', txHash });
        });
        if (outcome.code === 0) {
          metrics.chainTxs.inc({ outcome: 'committed' });
          for (const r of batch) await advance(r, { kind: 'committed', txHash: outcome.txHash, height: outcome.height });
          logger.info({ txHash: outcome.txHash, height: outcome.height, results: batch.length, gasLimit: outcome.gasLimit }, 'chain results saved');
          return;
        }
        metrics.chainTxs.inc({ outcome: 'rejected' });
        // The chain's log may quote the results (user output): its length only.
        logger.warn({ txHash: outcome.txHash, code: outcome.code, logBytes: Buffer.byteLength(outcome.log ?? '') }, 'chain transaction rejected');
        // One bad result must not hold the others back: resend them one by one.
        if (verified.length > 1) {
          for (const v of verified) await send(chain, [v]);
          return;
        }
        return advance(batch[0], { kind: 'error', message: `transaction ${outcome.txHash} failed with code ${outcome.code}: ${outcome.log}` });
      } catch (error) {
        if (isSequenceMismatch(error) && attempt < SEQUENCE_RETRIES) {
          metrics.chainTxs.inc({ outcome: 'sequence_mismatch' });
          logger.warn({ attempt }, 'account sequence mismatch; signing again');
          continue;
        }
        metrics.chainTxs.inc({ outcome: 'error' });
        const message = (error as Error)?.message ?? String(error);
        for (const r of batch) await advance(r, { kind: 'error', message, ...(signedHash ? { txHash: signedHash } : {}) });
        throw error;
      }
    }
  };
}

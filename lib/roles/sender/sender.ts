// Sender: appends each agreed request to the ledger exactly once and marks it published.
import { UnrecoverableError } from 'bullmq';
import type { JobPayloads, JobResults } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import { randomUUID } from 'node:crypto';
import { chainSettingsOf, connectChainWriter } from '../../chain/archway-client.ts';
import { startChainPublisher } from './chain-publisher.ts';
import { requireSettings } from '../../config.ts';
import { once, startWorker, type RoleBase, type RoleHandle } from '../../runtime/common.ts';
import { decidePublication } from './decide-publication.ts';
import { createPublicationCheck } from './publication-check.ts';

export interface SenderDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'publishToLedger' | 'putChainOutbox' | 'listChainOutbox' | 'getRequests' | 'putChainPublication' | 'openLease' | 'failRequest' | 'getNode' | 'getRound' | 'listTickets' | 'getLedgerEntryOf'>;
}

export async function startSender(deps: SenderDeps): Promise<RoleHandle> {
  const { repository, clock, logger, config, metrics } = deps;
  const check = createPublicationCheck(repository, logger);
  const count = (outcome: string) => metrics.handlerOutcomes.inc({ role: 'sender', handler: 'publish', outcome });

  // Redis calls per publish job: one read of the request (its votes are what the check verifies), and
  // the ledger append with the transition to published (one script, batched with those of concurrent
  // jobs; on a cluster the append, then the transition).
  async function publish({ requestId }: JobPayloads['publish']): Promise<JobResults['publish']> {
    const request = await repository.getRequest(requestId);
    if (!request) throw new UnrecoverableError(`request ${requestId} does not exist`);
    const decision = decidePublication(request);
    switch (decision.kind) {
      case 'skip':
        count(`already_${decision.status}`);
        return `already ${decision.status}` as const;
      case 'requeue_outbox':
        await repository.putChainOutbox(requestId, clock.now());
        count('requeued_outbox');
        return 'already published';
      case 'publish': {
        // Nothing is published on the word of the store: the outcome must follow from the signed votes.
        const reason = await check(request);
        if (reason) {
          const { applied } = await repository.failRequest(requestId, ['agreed'], { code: 'unverified', message: `the stored outcome does not verify: ${reason}` }, clock.now());
          if (applied) {
            metrics.failures.inc({ code: 'unverified' });
            logger.error({ requestId, reasonBytes: Buffer.byteLength(reason) }, 'request failed: its stored outcome does not verify');
          }
          count('unverified');
          return 'unverified';
        }
        // A redelivery finds the entry the request has, so the ledger never holds a request twice.
        const { entry, applied, isRepeat } = await repository.publishToLedger(decision.entry, clock.now());
        count(isRepeat ? 'repeat' : applied ? 'appended' : 'already');
        if (applied) {
          metrics.acceptedToPublished.observe((clock.now() - Date.parse(request.createdAt)) / 1000);
          logger.info({ requestId, seq: entry.seq }, 'request published');
        }
        // Queued for the contract only after the ledger has it; the outbox entry is idempotent.
        if (decision.isChain) await repository.putChainOutbox(requestId, clock.now());
        return 'published';
      }
    }
  }

  const worker = startWorker(deps, 'publish', { publish }, { concurrency: config.workerConcurrency });
  const publisher = startPublisherIfConfigured(deps);
  return {
    name: 'sender',
    isReady: () => worker.isRunning(),
    stop: once(async () => {
      await worker.close();
      await publisher?.stop();
    }),
  };
}

function startPublisherIfConfigured(deps: SenderDeps): { stop(): Promise<void> } | null {
  const settings = chainSettingsOf(deps.config);
  if (!settings) return null;
  requireSettings(deps.config, ['chainMnemonic']);
  const lease = deps.repository.openLease('chain-publisher', randomUUID(), deps.config.chainPollMs * 4);
  const publisher = startChainPublisher({
    repository: deps.repository,
    clock: deps.clock,
    logger: deps.logger,
    metrics: deps.metrics,
    connect: () => connectChainWriter(settings, deps.config.chainMnemonic!),
    isLeader: () => lease.renew(),
    pollMs: deps.config.chainPollMs,
    batchSize: deps.config.chainBatchSize,
    maxAttempts: deps.config.chainMaxAttempts,
  });
  return {
    async stop() {
      await publisher.stop();
      await lease.release();
    },
  };
}

// Sender: appends each agreed request to the ledger exactly once and marks it published.
import { UnrecoverableError, type Job } from 'bullmq';
import { computeVotesDigest } from '../protocol/ledger.ts';
import type { JobPayloads } from '../queues.ts';
import type { Repository } from '../repository/index.ts';
import { once, startWorker, type RoleBase, type RoleHandle } from './common.ts';

export interface SenderDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'appendLedger' | 'publishRequest'>;
}

export async function startSender(deps: SenderDeps): Promise<RoleHandle> {
  const { repository, clock, logger, config, metrics } = deps;

  async function handle(job: Job<JobPayloads['publish']>): Promise<string> {
    const { requestId } = job.data;
    const request = await repository.getRequest(requestId);
    if (!request) throw new UnrecoverableError(`request ${requestId} does not exist`);
    if (request.status !== 'agreed' || !request.outcome) return `already ${request.status}`;
    // appendLedger returns the existing entry on a redelivery, so the ledger never holds a request twice.
    const entry = await repository.appendLedger({
      requestId,
      projectId: request.projectId,
      resultHash: request.outcome.resultHash,
      ok: request.outcome.ok,
      votesDigest: computeVotesDigest(request.votes),
    });
    const { applied } = await repository.publishRequest(requestId, { seq: entry.seq, hash: entry.hash }, clock.now());
    if (applied) {
      metrics.acceptedToPublished.observe((clock.now() - Date.parse(request.createdAt)) / 1000);
      logger.info({ requestId, seq: entry.seq }, 'request published');
    }
    return 'published';
  }

  const worker = startWorker(deps, 'publish', handle, { concurrency: config.workerConcurrency });
  return { name: 'sender', isReady: () => worker.isRunning(), stop: once(() => worker.close()) };
}

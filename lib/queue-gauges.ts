// Queue depths for /metrics, read with plain commands (LLEN, ZCARD, LINDEX, HGET) on BullMQ's keys:
// a role's Redis user may only read most queues, and BullMQ's own counting scripts run as EVALSHA,
// which Redis checks as a write of every key they name (opening a Queue object writes its meta too).
import { QueueKeys } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueSnapshot } from './metrics.ts';
import { PER_NODE_QUEUE_KINDS, SHARED_QUEUE_KINDS, queueName, queuePrefix, type QueueKind } from './queues.ts';
import type { Repository } from './repository/index.ts';

/** Which queues a process reports: every queue, or one executor node's own. */
export type QueueGaugeScope = { readonly kind: 'all' } | { readonly kind: 'node'; readonly nodeId: string };

/** Depth per state and oldest waiting age of the queues in `scope` (all: the shared ones and each active node's). */
export async function snapshotQueues(connection: Redis, keyPrefix: string, repository: Pick<Repository, 'listNodes'>, scope: QueueGaugeScope): Promise<QueueSnapshot[]> {
  const targets: [QueueKind, string | undefined][] = scope.kind === 'node'
    ? PER_NODE_QUEUE_KINDS.map((kind): [QueueKind, string] => [kind, scope.nodeId])
    : [
      ...SHARED_QUEUE_KINDS.map((kind): [QueueKind, undefined] => [kind, undefined]),
      ...(await repository.listNodes()).filter((n) => n.status === 'active').flatMap((n) => PER_NODE_QUEUE_KINDS.map((kind): [QueueKind, string] => [kind, n.id])),
    ];
  const now = Date.now();
  return Promise.all(targets.map(async ([kind, nodeId]) => {
    const name = queueName(kind, nodeId);
    const queueKeys = new QueueKeys(queuePrefix(keyPrefix, name));
    const key = (type: string) => queueKeys.toKey(name, type);
    const reply = await connection.multi()
      .llen(key('wait')).llen(key('active')).zcard(key('delayed')).zcard(key('failed')).zcard(key('completed'))
      // Workers take from the right end of the wait list: that is the oldest waiting job.
      .lindex(key('wait'), -1)
      .exec();
    const [waiting, active, delayed, failed, completed, oldestId] = (reply ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [number, number, number, number, number, string | null];
    const timestamp = oldestId ? Number(await connection.hget(key(oldestId), 'timestamp')) : NaN;
    return {
      queue: name,
      counts: { waiting, active, delayed, failed, completed },
      oldestWaitingSeconds: Number.isFinite(timestamp) ? Math.max(0, (now - timestamp) / 1000) : 0,
    };
  }));
}

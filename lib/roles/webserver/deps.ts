// What the webserver role and its route modules depend on (its own file, so routes and the app import no circle).
import type { Context } from 'koa';
import type { Metrics } from '../../metrics.ts';
import type { QueueSet } from '../../queues.ts';
import type { NodeUsers } from '../../redis-users.ts';
import type { FinalWaiters } from '../../repository/final-events.ts';
import type { Repository } from '../../repository/index.ts';
import type { RoleBase } from '../../runtime/common.ts';

export interface WebserverDeps extends RoleBase {
  readonly repository: Repository;
  readonly queues: QueueSet;
  readonly metrics: Metrics;
  /** Checks user code off this thread; rejects with GatewayError `invalid_code` (or `rate_limited` when too many wait). */
  readonly checkCode: (code: string) => Promise<void>;
  readonly counterPublicKey?: Uint8Array;
  /** Readiness of every role this process runs (the webserver's own is implied). */
  readonly isReady: () => boolean;
  /** With an admin Redis connection: registering a node creates its Redis user, removing it deletes the user. */
  readonly nodeUsers?: NodeUsers;
  /** Queues on the admin connection, for the queue dashboard (the webserver's own user may only read most queues). */
  readonly dashboardQueues?: QueueSet;
}

/** What route modules use. */
export interface WebDeps extends WebserverDeps {
  readonly waiters: FinalWaiters;
  readonly hasMasterKey: boolean;
  readBody(ctx: Context): Promise<unknown>;
  onAccepted?(): void;
}

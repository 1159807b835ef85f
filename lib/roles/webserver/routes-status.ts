// The operator's views: a public status summary (`/v1/status` and the page at `/`) and the
// BullMQ dashboard at `/admin/queues` behind the admin token.
import type { Router } from '@koa/router';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import { toHex } from '../../crypto/bytes.ts';
import { GatewayError } from '../../errors.ts';
import { PER_NODE_QUEUE_KINDS, SHARED_QUEUE_KINDS, type QueueKind } from '../../queues.ts';
import { createAdminCheck, type Principal } from './auth.ts';
import { computeRetentionLagSeconds, isMemoryNearLimit } from '../scheduler/retention-decide.ts';
import { STATUS_PAGE } from './status-page.ts';
import type { WebDeps } from './deps.ts';

const RECENT_SHOWN = 30;
const BOARD_PATH = '/admin/queues';

export function addStatusRoutes(router: Router, deps: WebDeps): void {
  const { repository, clock } = deps;
  const counterPublicKey = deps.counterPublicKey ? toHex(deps.counterPublicKey) : null;

  router.get('/', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Content-Security-Policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
    ctx.body = STATUS_PAGE;
  });

  // Public: what anyone can already verify (rounds, nodes, ledger) plus request states, never inputs or results.
  router.get('/v1/status', async (ctx) => {
    const now = clock.now();
    const [latest, nodes, ledger, recentIds, finished, memory, oldestFinishedMs, exportedThrough] = await Promise.all([
      repository.getLatestRoundNumber(), repository.listNodes(), repository.getLedgerHead(),
      repository.listRecentRequestIds(RECENT_SHOWN), repository.countFinishedSince(now - 60_000),
      repository.getMemoryUsage(), repository.getOldestFinishedMs(), repository.getExportThrough(),
    ]);
    const [round, tickets, frozen, recent, stats] = await Promise.all([
      latest > 0 ? repository.getRound(latest) : null,
      latest > 0 ? repository.listTickets(latest) : [],
      latest > 1 ? repository.listTickets(latest - 1) : [],
      repository.getRequests(recentIds),
      repository.listNodeStats(nodes.map((n) => n.id)),
    ]);
    const failures: Record<string, number> = {};
    for (const r of recent) if (r.failure) failures[r.failure.code] = (failures[r.failure.code] ?? 0) + 1;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      now: new Date(now).toISOString(),
      round: round ? { round: round.round, startedAt: round.startedAt, tickets: tickets.length, eligible: frozen.length } : null,
      nodes: nodes.map(({ id, name, status, lastTicketRound }, i) => ({ id, name, status, lastTicketRound: lastTicketRound ?? null, stats: stats[i] })),
      throughput: { finishedLastMinute: finished, perSecond: finished / 60 },
      failures,
      ledger,
      // Under `noeviction` a full Redis refuses every write: the page warns above 80% of maxmemory.
      memory: { usedBytes: memory.usedBytes, maxBytes: memory.maxBytes, isNearLimit: isMemoryNearLimit(memory.usedBytes, memory.maxBytes) },
      retention: { retentionMs: deps.config.retentionMs, lagSeconds: computeRetentionLagSeconds(now, deps.config.retentionMs, oldestFinishedMs), exportedThrough },
      // Published here too: verifiers pin it to check receipts (`gateway verify --counter-key`).
      counterPublicKey,
      // Published with `ok: false`: the committee agreed that the code failed (it threw, timed out,
      // hit a limit), which is the project's to fix, not the gateway's: shown apart from successes.
      codeFailures: recent.filter(isCodeFailure).length,
      recent: recent.map((r) => ({
        id: r.id, projectId: r.projectId, source: r.source, status: r.status, createdAt: r.createdAt,
        ...(r.failure ? { failureCode: r.failure.code } : {}),
        ...(isCodeFailure(r) ? { codeFailed: true } : {}),
        ...(r.finishedAt ? { finishedAt: r.finishedAt, durationMs: Date.parse(r.finishedAt) - Date.parse(r.createdAt) } : {}),
      })),
    };
  });
}

/** A request whose committee agreed that the code failed (`ok: false`). */
function isCodeFailure(request: { readonly outcome?: { readonly ok: boolean } }): boolean {
  return request.outcome?.ok === false;
}

/**
 * Mounts bull-board at `/admin/queues` for the admin token, sent as a Bearer token or as the
 * password of HTTP Basic auth (so a browser can open it); the node queues are refreshed per visit.
 * It runs on the admin Redis connection when there is one: bull-board counts and lists jobs with
 * scripts, which Redis checks as writes, and the webserver's own user may only read most queues.
 */
export function mountQueueBoard(app: Koa, deps: WebDeps): void {
  const queues = deps.dashboardQueues ?? deps.queues;
  const adapter = new KoaAdapter();
  adapter.setBasePath(BOARD_PATH);
  const fixed: readonly QueueKind[] = SHARED_QUEUE_KINDS;
  const board = createBullBoard({ queues: fixed.map((kind) => new BullMQAdapter(queues.get(kind))), serverAdapter: adapter });
  const isAdminToken = createAdminCheck(deps.config.adminToken);
  let shownNodes = '';
  const plugin = adapter.registerPlugin();
  app.use(async (ctx: Context, next: Next) => {
    if (ctx.path !== BOARD_PATH && !ctx.path.startsWith(`${BOARD_PATH}/`)) return next();
    if (!isAdmin(ctx, isAdminToken)) {
      ctx.set('WWW-Authenticate', 'Basic realm="gateway admin", charset="UTF-8"');
      throw new GatewayError('unauthorized', 'the queue dashboard needs the admin token (Bearer, or as the Basic auth password)');
    }
    const nodes = (await deps.repository.listNodes()).filter((n) => n.status === 'active').map((n) => n.id);
    if (nodes.join() !== shownNodes) {
      shownNodes = nodes.join();
      board.replaceQueues([...fixed.map((kind) => queues.get(kind)), ...nodes.flatMap((id) => PER_NODE_QUEUE_KINDS.map((kind) => queues.get(kind, id)))].map((q) => new BullMQAdapter(q)));
    }
    return plugin(ctx, next);
  });
}

function isAdmin(ctx: Context, isAdminToken: (token: string) => boolean): boolean {
  if ((ctx.state.principal as Principal | undefined)?.kind === 'admin') return true;
  const basic = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(ctx.get('Authorization'));
  if (!basic) return false;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const password = decoded.slice(decoded.indexOf(':') + 1);
  return isAdminToken(password);
}

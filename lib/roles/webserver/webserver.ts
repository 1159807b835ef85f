// Webserver: the Koa app of docs/api.md (errors → auth → routes) and the role that serves it.
import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import Router from '@koa/router';
import Koa from 'koa';
import { GatewayError } from '../../errors.ts';
import { once, type RoleHandle } from '../../runtime/common.ts';
import type { WebDeps, WebserverDeps } from './deps.ts';

export type { WebDeps, WebserverDeps } from './deps.ts';
import { createAuthMiddleware } from './auth.ts';
import { createErrorMiddleware } from './http-errors.ts';
import { readJsonBody } from './json-body.ts';
import { addExportRoutes } from './routes-exports.ts';
import { addOperationRoutes } from './routes-operations.ts';
import { addProjectRoutes } from './routes-projects.ts';
import { addReceiptRoutes } from './routes-receipts.ts';
import { addRequestRoutes } from './routes-requests.ts';
import { addScheduleRoutes } from './routes-schedules.ts';
import { addStatusRoutes, mountQueueBoard } from './routes-status.ts';
import { addVerificationRoutes } from './routes-verification.ts';

/** The Koa app, without listening (tests drive it through a real HTTP server too). */
export function createApp(deps: WebDeps): Koa {
  const app = new Koa({ proxy: false });
  app.silent = true;
  const router = new Router();
  addOperationRoutes(router, deps);
  addProjectRoutes(router, deps);
  addScheduleRoutes(router, deps);
  addRequestRoutes(router, deps);
  addReceiptRoutes(router, deps);
  addVerificationRoutes(router, deps);
  addExportRoutes(router, deps);
  addStatusRoutes(router, deps);
  app.use(createErrorMiddleware(deps.logger, () => deps.repository.isConnected()));
  // Without Redis every API call would wait in ioredis's offline queue: answer 503 at once instead.
  app.use(async (ctx, next) => {
    if (ctx.path.startsWith('/v1/') && !deps.repository.isConnected()) {
      throw new GatewayError('unavailable', 'the gateway cannot reach its store; try again shortly');
    }
    await next();
  });
  app.use(createAuthMiddleware(deps.config.adminToken, deps.repository));
  mountQueueBoard(app, deps);
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

export interface WebserverHandle extends RoleHandle {
  readonly url: string;
  readonly server: Server;
}

export async function startWebserver(deps: WebserverDeps): Promise<WebserverHandle> {
  const waiters = await deps.repository.openFinalWaiters();
  const app = createApp({
    ...deps,
    waiters,
    hasMasterKey: deps.config.masterKey !== undefined,
    readBody: (ctx) => readJsonBody(ctx, deps.config.bodyLimitBytes),
    onAccepted: () => deps.metrics.requestsAccepted.inc(),
  });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 60_000;
  server.on('clientError', answerUnparsable);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(deps.config.port, deps.config.host, () => resolve());
    });
  } catch (error) {
    await waiters.close();
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : deps.config.port;
  const host = deps.config.host === '0.0.0.0' || deps.config.host === '::' ? '127.0.0.1' : deps.config.host;
  let listening = true;
  return {
    name: 'webserver',
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    isReady: () => listening,
    stop: once(async () => {
      listening = false;
      await waiters.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
    }),
  };
}

// Requests Node's HTTP parser refuses never reach Koa: answer them in the same envelope, then close.
function answerUnparsable(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) return void socket.destroy();
  const isMethod = error.code === 'HPE_INVALID_METHOD';
  const body = JSON.stringify({ error: isMethod
    ? { code: 'not_implemented', message: 'this HTTP method is not supported' }
    : { code: 'invalid_body', message: 'the request is not valid HTTP' } });
  socket.end(`HTTP/1.1 ${isMethod ? '501 Not Implemented' : '400 Bad Request'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

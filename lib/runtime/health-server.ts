// `/healthz`, `/readyz` and `/metrics` for roles without the API, on HEALTH_PORT.
import { createServer, type Server } from 'node:http';
import type { Metrics } from '../metrics.ts';

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: { port: number; host: string; isReady: () => Promise<boolean>; metrics: Metrics }): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      return reply(405, 'application/json', JSON.stringify({ error: { code: 'method_not_allowed', message: 'GET only' } }));
    }
    if (path === '/healthz') return reply(200, 'application/json', '{"ok":true}');
    if (path === '/readyz') {
      void options.isReady().then((ok) => reply(ok ? 200 : 503, 'application/json', JSON.stringify({ ok })), () => reply(503, 'application/json', '{"ok":false}'));
      return;
    }
    if (path === '/metrics') {
      void options.metrics.registry.metrics().then((text) => reply(200, options.metrics.registry.contentType, text), () => reply(503, 'text/plain', 'metrics unavailable'));
      return;
    }
    reply(404, 'application/json', JSON.stringify({ error: { code: 'not_found', message: `no route for GET ${path.slice(0, 200)}` } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

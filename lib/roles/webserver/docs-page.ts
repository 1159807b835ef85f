// The API reference at `/docs`: Swagger UI (the swagger-ui-dist package) rendering /openapi.json,
// every asset served from here, so the page works offline and under a CSP that allows only 'self'.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Router } from '@koa/router';
import { GatewayError } from '../../errors.ts';

const DIST = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

// No inline script: the page's own setup is an asset too. Swagger UI sets style attributes, hence
// 'unsafe-inline' for styles only; its validator badge (a call to swagger.io) is off.
export const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INIT_SCRIPT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gateway API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

/** The assets `/docs/:asset` serves: a file of swagger-ui-dist, or the page's setup script. */
const ASSETS: Record<string, { readonly type: string; readonly file?: string; readonly text?: string }> = {
  'swagger-ui.css': { type: 'text/css; charset=utf-8', file: 'swagger-ui.css' },
  'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', file: 'swagger-ui-bundle.js' },
  'favicon-32x32.png': { type: 'image/png', file: 'favicon-32x32.png' },
  'init.js': { type: 'text/javascript; charset=utf-8', text: INIT_SCRIPT },
};

/** `GET /docs` and its assets (public). Files are read once, on first use (the bundle is ~1.7 MB). */
export function addDocsRoutes(router: Router): void {
  const cache = new Map<string, Promise<Buffer>>();
  const load = (file: string) => {
    let content = cache.get(file);
    if (!content) {
      content = readFile(join(DIST, file));
      content.catch(() => cache.delete(file));
      cache.set(file, content);
    }
    return content;
  };

  router.get('/docs', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Content-Security-Policy', DOCS_CSP);
    ctx.body = PAGE;
  });

  router.get('/docs/:asset', async (ctx) => {
    const asset = Object.hasOwn(ASSETS, ctx.params.asset) ? ASSETS[ctx.params.asset] : undefined;
    if (!asset) throw new GatewayError('not_found', `no asset ${ctx.params.asset.slice(0, 64)}`);
    ctx.type = asset.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = asset.file === undefined ? asset.text : await load(asset.file);
  });
}

// A local stand-in for the three exchanges, for the tutorial on a machine without internet: it
// answers the recorded responses of fixtures.json, each under `/<host><path>` (the oracle's `mirror`
// input). Plain JavaScript, so it runs on any Node: `node examples/price-oracle/serve-fixtures.mjs [port]`.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 8090);
const fixtures = JSON.parse(readFileSync(new URL('./fixtures.json', import.meta.url), 'utf8'));
const byPath = new Map(fixtures.map((f) => {
  const url = new URL(f.url);
  return [`/${url.host}${url.pathname}${url.search}`, f];
}));

const server = createServer((req, res) => {
  const fixture = byPath.get(req.url ?? '');
  if (!fixture) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no recorded answer"}');
    return;
  }
  res.writeHead(fixture.status ?? 200, { 'content-type': 'application/json', ...fixture.headers });
  res.end(typeof fixture.body === 'string' ? fixture.body : JSON.stringify(fixture.body));
});
server.listen(port, '127.0.0.1', () => console.log(`recorded exchange answers on http://127.0.0.1:${server.address().port} (Ctrl-C stops)`));

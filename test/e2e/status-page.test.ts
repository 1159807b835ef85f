// The status page and the queue dashboard in real headless Chromium (Debian's, driven by
// playwright-core), against the real webserver and pipeline; the screenshot is kept as an artifact.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { createSandbox, startExecutorNode, startRole, type ProcessContext } from '../../lib/process.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import type { SandboxRunner } from '../../lib/sandbox/runner.ts';
import { ADMIN_TOKEN, openTestProcess, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('status page in Chromium', function () {
  this.timeout(90_000);
  // The browser and the gateway live across both tests; their sockets are checked when the run ends.
  allowSharedFixtures(this);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  let browser: Browser;
  let dir: string;
  const handles: RoleHandle[] = [];
  let url = '';

  before(async () => {
    redis = await startTestRedis();
    dir = mkdtempSync(join(tmpdir(), 'gw-status-'));
    ctx = await openTestProcess(redis.url, { GATEWAY_ROUND_MS: '200', GATEWAY_SANDBOX_PROCESSES: '1' });
    sandbox = createSandbox(ctx);
    for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    for (let i = 0; i < 3; i++) handles.push(await startExecutorNode(ctx, join(dir, `node-${i}.key`), { sandbox, name: `browser-${i}` }));
    const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
    handles.push(web);
    url = web.url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  });

  after(async () => {
    await browser?.close();
    for (const handle of handles.reverse()) await handle.stop();
    await sandbox?.close();
    await ctx?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows live rounds, nodes with their last ticket, recent requests, throughput and failures', async () => {
    const call = createClient(url);
    await waitFor(async () => {
      const latest = await call('GET', '/v1/rounds/latest');
      if (latest.status !== 200) return undefined;
      return (await call('GET', `/v1/rounds/${latest.body.round - 1}`)).body.tickets?.length === 3 ? true : undefined;
    }, 20_000, 'three ticketed nodes');
    const project = (await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'page', code: 'export default (input) => { if (input.fail) throw new Error("bad input"); return input.n; }' } })).body;
    const sent = [];
    for (let n = 0; n < 4; n++) sent.push((await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: { n } } })).body.id);
    // One whose code throws: the committee agrees on the error, and it is published with ok: false.
    sent.push((await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: { fail: true } } })).body.id);
    for (const id of sent) expect((await call('GET', `/v1/requests/${id}?wait=15000`, { token: project.apiKey })).body.status).to.equal('published');

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${url}/`);
    await page.waitForFunction("document.querySelectorAll('#requests tr').length >= 5 && document.querySelectorAll('#nodes tr').length === 3", undefined, { timeout: 15_000 });
    expect(await page.title()).to.equal('Gateway status');
    expect(Number(await page.textContent('#nodes-active'))).to.equal(3);
    expect(Number(await page.textContent('#round'))).to.be.at.least(2);
    expect(Number(await page.textContent('#ledger'))).to.equal(5);
    const statuses = await page.$$eval('#requests .badge', (badges) => badges.map((b) => b.textContent));
    expect(statuses.slice(0, 5)).to.deep.equal(['published: code failed', 'published', 'published', 'published', 'published']);
    expect(Number(await page.textContent('#code-failures'))).to.equal(1);
    // Each row links to its request.
    const links = await page.$$eval('#requests tr td:first-child a', (anchors) => anchors.map((a) => a.getAttribute('href')));
    expect(links.slice(0, 5)).to.deep.equal([...sent].reverse().map((id) => `/v1/requests/${id}`));
    const nodeNames = await page.$$eval('#nodes tr td:nth-child(2)', (cells) => cells.map((c) => c.textContent).sort());
    expect(nodeNames).to.deep.equal(['browser-0', 'browser-1', 'browser-2']);
    expect(Number(await page.textContent('#throughput'))).to.be.greaterThan(0);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('asks for the admin token before showing the queue dashboard', async () => {
    const refused = await createClient(url)('GET', '/admin/queues');
    expect(refused.status).to.equal(401);
    expect(refused.headers.get('www-authenticate')).to.equal('Basic realm="gateway admin", charset="UTF-8"');
    expect(refused.body.error.code).to.equal('unauthorized');
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN_TOKEN } });
    const admin = await context.newPage();
    const shown = await admin.goto(`${url}/admin/queues`);
    expect(shown?.status()).to.equal(200);
    await admin.waitForFunction("document.body.innerText.includes('incoming')", undefined, { timeout: 15_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await admin.screenshot({ path: join(ARTIFACTS, 'queue-dashboard.png') });
    await context.close();
  });
});

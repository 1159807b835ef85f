// Logs: one JSON line per state change with requestId, role and nodeId; never secrets, keys, code or payloads.
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createLogger } from '../../lib/logger.ts';
import { createSandbox, openProcess, startExecutorNode, startRole, stopAll } from '../../lib/process.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { ADMIN_TOKEN, MASTER_KEY, testConfig, waitFor } from '../support/gateway.ts';
import { createClient } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

describe('logs', function () {
  this.timeout(30_000);
  let redis: TestRedis;

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it('logs each state change as JSON with its ids and nothing secret, and counts it in /metrics', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _encoding, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done(); } });
    const config = testConfig({ GATEWAY_LOG_LEVEL: 'debug', GATEWAY_SANDBOX_PROCESSES: '0', GATEWAY_ROUND_MS: '150' });
    const ctx = await openProcess('logs', config, redis.url, createLogger('logs', 'debug', sink));
    const sandbox = createSandbox(ctx);
    const dir = mkdtempSync(join(tmpdir(), 'gw-logs-'));
    const handles: RoleHandle[] = [];
    try {
      for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
      handles.push(await startExecutorNode(ctx, join(dir, 'node.key'), { sandbox }));
      const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
      handles.push(web);
      const call = createClient(web.url);
      const code = 'export default (input, ctx) => { ctx.log(`using ${ctx.secrets.API_SECRET}`); return { echoed: input.marker.length + ctx.secrets.API_SECRET.length }; } // CODE-MARKER';
      const project = (await call('POST', '/v1/projects', { token: ADMIN_TOKEN, body: { name: 'logs', code, committee: { size: 1, quorum: 1 } } })).body;
      await call('PUT', `/v1/projects/${project.id}/secrets`, { token: project.apiKey, body: { API_SECRET: 'SECRET-MARKER-value' } });
      await waitFor(async () => ((await ctx.repository.getLatestRoundNumber()) >= 3 ? true : undefined), 10_000, 'round 3');
      const sent = (await call('POST', `/v1/projects/${project.id}/requests`, { token: project.apiKey, body: { input: { marker: 'PAYLOAD-MARKER' } } })).body;
      const done = (await call('GET', `/v1/requests/${sent.id}?wait=10000`, { token: project.apiKey })).body;
      expect(done.status).to.equal('published');
      // The code logged its secret: the stored log line has it masked.
      expect(done.votes.map((v: { logs?: string[] }) => v.logs)).to.deep.equal([['using ***']]);
      // The sender logs the publication right after the transition the reader saw: wait for its line.
      await waitFor(async () => (lines.some((line) => line.includes('"request published"') && line.includes(sent.id)) ? true : undefined), 10_000, 'the publication logged');
      const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      const forRequest = records.filter((r) => r.requestId === sent.id);
      expect(forRequest.map((r) => r.msg)).to.include.members(['request accepted', 'request assigned', 'vote sent', 'vote accepted', 'request agreed', 'request published']);
      expect(forRequest.find((r) => r.msg === 'vote sent')).to.have.property('nodeId').that.matches(/^node_/);
      for (const record of forRequest) expect(record).to.have.property('role').that.is.a('string');
      const metrics = (await call('GET', '/metrics')).body as string;
      const sample = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? NaN);
      expect(sample(/^gateway_votes_total\{result="accepted",reason=""\} (\d+)$/m)).to.equal(1);
      expect(sample(/^gateway_executions_total\{outcome="ok"\} (\d+)$/m)).to.equal(1);
      expect(sample(/^gateway_request_agreed_seconds_count (\d+)$/m)).to.equal(1);
      expect(sample(/^gateway_request_published_seconds_count (\d+)$/m)).to.equal(1);
      expect(sample(/^gateway_job_duration_seconds_count\{queue="publish",outcome="done"\} (\d+)$/m)).to.equal(1);
      expect(sample(/^gateway_queue_jobs\{queue="incoming",state="waiting"\} (\d+)$/m)).to.equal(0);
      expect(metrics).to.match(/^gateway_queue_oldest_waiting_seconds\{queue="exec\.node_[0-9a-f]{20}"\} 0$/m);
      const all = lines.join('\n');
      for (const secret of ['SECRET-MARKER', 'PAYLOAD-MARKER', 'CODE-MARKER', ADMIN_TOKEN, MASTER_KEY, project.apiKey]) expect(all).to.not.include(secret);
    } finally {
      await stopAll(handles, ctx);
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

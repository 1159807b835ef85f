// The CLI's API commands (deploy, invoke, logs, secrets, schedules, requests) run as `gateway` runs
// them, against every role in one process: a real Koa app, two executor nodes, a private Redis.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { findFreePort } from '../../lib/embedded-redis.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { CliError, EXIT } from '../../cli/exit-codes.ts';
import { registerDeployCommand } from '../../cli/commands/deploy.ts';
import { registerInvokeCommand } from '../../cli/commands/invoke.ts';
import { followLogs, registerLogsCommand, type RequestLogs } from '../../cli/commands/logs.ts';
import { registerRequestsCommand } from '../../cli/commands/requests.ts';
import { registerSchedulesCommand } from '../../cli/commands/schedules.ts';
import { registerSecretsCommand } from '../../cli/commands/secrets.ts';
import { resolveConnection } from '../../cli/profile.ts';
import { createGatewayClient } from '../../lib/client/client.ts';
import { createLogger } from '../../lib/logger.ts';
import { createSandbox, openProcess, startExecutorNode, startRole, stopAll, type ProcessContext } from '../../lib/process.ts';
import type { SandboxRunner } from '../../lib/sandbox/runner.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { ADMIN_TOKEN, testConfig, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

const CODE_TS = `interface Input { readonly name: string }
interface Ctx { log(...args: unknown[]): void; readonly round: number }

export default async (input: Input, ctx: Ctx) => {
  ctx.log('hello from', input.name);
  console.log('second line', { n: 2 });
  return { greeting: \`hi \${input.name}\` };
};
`;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `gateway <args>` in this process as cli/main.ts does, capturing its output and exit status. */
async function runCli(args: readonly string[]): Promise<Run> {
  const program = new Command('gateway').version('0.0.0-test').exitOverride();
  for (const register of [registerDeployCommand, registerInvokeCommand, registerLogsCommand, registerSecretsCommand, registerSchedulesCommand, registerRequestsCommand]) register(program);
  let stdout = '';
  let stderr = '';
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  program.configureOutput({ writeOut: (text) => (stdout += text), writeErr: (text) => (stderr += text) });
  let code: number = EXIT.ok;
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) code = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    else if (error instanceof CliError) {
      stderr += `gateway: ${error.message}\n`;
      code = error.exitCode;
    } else throw error;
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
  return { code, stdout, stderr };
}

describe('gateway CLI against a running gateway', function () {
  this.timeout(60_000);
  allowSharedFixtures(this);
  let redis: TestRedis;
  let ctx: ProcessContext;
  let sandbox: SandboxRunner;
  let url: string;
  let dir: string;
  const handles: RoleHandle[] = [];
  const savedConfig = process.env.GATEWAY_CONFIG;
  // Filled by the deploy test; the later tests use the project it made.
  let projectId: string;
  let apiKey: string;
  let requestId: string;

  before(async () => {
    redis = await startTestRedis();
    dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
    // No developer's real profile file takes part.
    process.env.GATEWAY_CONFIG = join(dir, 'no-config.json');
    const config = testConfig({ GATEWAY_SANDBOX_PROCESSES: '0', GATEWAY_ROUND_MS: '150' });
    ctx = await openProcess('cli', config, redis.url, createLogger('cli', 'silent'));
    sandbox = createSandbox(ctx);
    for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    handles.push(await startExecutorNode(ctx, join(dir, 'node-a.key'), { sandbox, name: 'node-a' }));
    handles.push(await startExecutorNode(ctx, join(dir, 'node-b.key'), { sandbox, name: 'node-b' }));
    const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
    handles.push(web);
    url = web.url;
    // Both nodes hold frozen tickets once round 4 has started: a committee of two can be drawn.
    await waitFor(async () => ((await ctx.repository.getLatestRoundNumber()) >= 4 ? true : undefined), 20_000, 'round 4');
  });
  after(async () => {
    if (savedConfig === undefined) delete process.env.GATEWAY_CONFIG;
    else process.env.GATEWAY_CONFIG = savedConfig;
    if (ctx) await stopAll(handles, ctx);
    await sandbox?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deploy creates the project from gateway.json and index.ts, writes its id back, and prints the key once', async () => {
    const project = join(dir, 'hello');
    mkdirSync(project);
    writeFileSync(join(project, 'index.ts'), CODE_TS);
    writeFileSync(join(project, 'gateway.json'), JSON.stringify({ name: 'hello', committee: { size: 2, quorum: 2 }, aggregation: 'exact', limits: { timeoutMs: 2000 }, schedules: [{ cron: '0 0 * * *', input: { name: 'daily' } }] }, null, 2));

    const created = await runCli(['deploy', project, '--url', url, '--token', ADMIN_TOKEN, '--json']);
    expect(created.stderr).to.equal('');
    expect(created.code).to.equal(EXIT.ok);
    const report = JSON.parse(created.stdout) as { projectId: string; isCreated: boolean; version: number; codeCid: string; apiKey: string; schedulesAdded: string[] };
    expect(report).to.deep.include({ isCreated: true, version: 1 });
    expect(report.apiKey).to.match(/^gwk_/);
    expect(report.schedulesAdded).to.have.length(1);
    ({ projectId, apiKey } = report);
    const manifest = JSON.parse(readFileSync(join(project, 'gateway.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).to.deep.include({ projectId, name: 'hello' });
    // The stored code is the JavaScript, types stripped.
    const stored = await createGatewayClient({ url }).getCode(report.codeCid);
    expect(stored).to.not.include('interface Input');
    expect(stored).to.include("ctx.log('hello from', input.name);");

    // Deploying the same code again adds no version; a change adds version 2 (people's output, no key).
    const unchanged = await runCli(['deploy', project, '--url', url, '--token', apiKey]);
    expect(unchanged.code).to.equal(EXIT.ok);
    expect(unchanged.stdout).to.include(`unchanged project ${projectId} from index.ts`);
    expect(unchanged.stdout).to.include('version   1\n');
    expect(unchanged.stdout).to.not.include(apiKey);
    writeFileSync(join(project, 'index.ts'), CODE_TS.replace('second line', 'second  line'));
    const updated = await runCli(['deploy', project, '--url', url, '--token', apiKey]);
    expect(updated.stdout).to.include(`updated project ${projectId} from index.ts`);
    expect(updated.stdout).to.include('version   2\n');
  });

  it('invoke --wait prints the result, the committee, the votes and the ledger seq; logs prints each node\'s lines', async () => {
    const invoked = await runCli(['invoke', '--project', projectId, '--input', '{"name":"world"}', '--wait', '--url', url, '--token', apiKey]);
    expect(invoked.stderr).to.equal('');
    expect(invoked.code).to.equal(EXIT.ok);
    expect(invoked.stdout).to.match(/^status +published \(round \d+\)$/m);
    expect(invoked.stdout).to.include('result     {"greeting":"hi world"}');
    expect(invoked.stdout).to.match(/^committee +node_[0-9a-f]{20} node_[0-9a-f]{20} \(quorum 2, exact\)$/m);
    expect(invoked.stdout).to.include('votes      2 of 2: 2 agree, 0 differ, 0 late');
    expect(invoked.stdout).to.match(/^ledger +seq 1 [0-9a-f]{64}$/m);
    requestId = /^request +(req_[a-z0-9]{26})$/m.exec(invoked.stdout)![1]!;

    const logs = await runCli(['logs', requestId, '--url', url, '--token', apiKey]);
    expect(logs.code).to.equal(EXIT.ok);
    const nodeBlocks = logs.stdout.split('── ').slice(1);
    expect(nodeBlocks).to.have.length(2);
    for (const block of nodeBlocks) {
      expect(block).to.match(/^node_[0-9a-f]{20} \(ok, agreed\)\n {3}hello from world\n {3}second {2}line \{"n":2\}\n$/);
    }
    const json = JSON.parse((await runCli(['logs', requestId, '--json', '--url', url, '--token', apiKey])).stdout) as RequestLogs;
    expect(json.status).to.equal('published');
    expect(json.nodes.map((n) => n.logs)).to.deep.equal([['hello from world', 'second  line {"n":2}'], ['hello from world', 'second  line {"n":2}']]);
    expect(json.silent).to.deep.equal([]);
  });

  it('logs --follow prints the logs of a project\'s new requests as they finish', async () => {
    const client = createGatewayClient({ url, token: apiKey });
    const controller = new AbortController();
    const printed: RequestLogs[] = [];
    const following = followLogs(client, projectId, { intervalMs: 50, signal: controller.signal }, (logs) => {
      printed.push(logs);
      controller.abort();
    });
    // The request sent before following began is history: only the new one is printed.
    await waitFor(async () => ((await client.listRequests(projectId)).items.length >= 1 ? true : undefined));
    const sent = await client.createRequest(projectId, { input: { name: 'follow' } });
    await following;
    expect(printed.map((p) => [p.requestId, p.status])).to.deep.equal([[sent.id, 'published']]);
    expect(printed[0]!.nodes.map((n) => n.logs![0])).to.deep.equal(['hello from follow', 'hello from follow']);
  });

  it('requests list shows the newest first with its status and ledger seq', async () => {
    const listed = await runCli(['requests', 'list', '--project', projectId, '--limit', '1', '--url', url, '--token', apiKey]);
    expect(listed.code).to.equal(EXIT.ok);
    const lines = listed.stdout.trim().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^req_[a-z0-9]{26} {2}published {2}ok {6}v2 {2}api {7}\S+ {2}seq 2$/);
    expect(lines[1]).to.match(/^more: --cursor \S+$/);
    const page = JSON.parse((await runCli(['requests', 'list', '--project', projectId, '--json', '--url', url, '--token', apiKey])).stdout) as { items: { id: string }[]; nextCursor: null };
    expect(page.items.map((r) => r.id)).to.include(requestId);
    expect(page.nextCursor).to.equal(null);
  });

  it('invoke takes ./input.json as the input when --input is not given, as simulate does', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'gw-cli-input-'));
    const previous = process.cwd();
    writeFileSync(join(folder, 'input.json'), '{"name":"file"}');
    try {
      process.chdir(folder);
      const invoked = await runCli(['invoke', '--project', projectId, '--wait', '--url', url, '--token', apiKey]);
      expect(invoked.code, invoked.stderr).to.equal(EXIT.ok);
      expect(invoked.stdout).to.include('result     {"greeting":"hi file"}');
    } finally {
      process.chdir(previous);
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('secrets set, list and rm, refusing to drop a secret it cannot give back', async () => {
    const base = ['--project', projectId, '--url', url, '--token', apiKey];
    expect((await runCli(['secrets', 'set', 'API_KEY=one', 'WEBHOOK=two', ...base])).stdout).to.equal('set API_KEY, WEBHOOK\n');
    expect((await runCli(['secrets', 'list', ...base])).stdout).to.equal('API_KEY\nWEBHOOK\n');
    const dropping = await runCli(['secrets', 'set', 'API_KEY=three', ...base]);
    expect(dropping.code).to.equal(EXIT.failed);
    expect(dropping.stderr).to.include('would drop WEBHOOK');
    expect(dropping.stderr).to.not.include('three');
    const rmWithoutKept = await runCli(['secrets', 'rm', 'API_KEY', ...base]);
    expect(rmWithoutKept.code).to.equal(EXIT.failed);
    expect(rmWithoutKept.stderr).to.include('would also drop WEBHOOK');
    const envFile = join(dir, 'kept.env');
    writeFileSync(envFile, '# kept\nWEBHOOK="two"\n');
    const removed = await runCli(['secrets', 'rm', 'API_KEY', '--env-file', envFile, ...base]);
    expect([removed.code, removed.stdout]).to.deep.equal([EXIT.ok, 'removed API_KEY (kept WEBHOOK)\n']);
    expect(JSON.parse((await runCli(['secrets', 'list', '--json', ...base])).stdout)).to.deep.equal({ projectId, names: ['WEBHOOK'] });
    expect((await runCli(['secrets', 'rm', 'WEBHOOK', ...base])).code).to.equal(EXIT.ok);
    expect((await runCli(['secrets', 'list', ...base])).stdout).to.equal('no secrets\n');
  });

  it('schedules add, list and rm', async () => {
    const base = ['--project', projectId, '--url', url, '--token', apiKey];
    const added = await runCli(['schedules', 'add', '*/5  * * * *', '--input', '{"name":"tick"}', '--json', ...base]);
    expect(added.code).to.equal(EXIT.ok);
    const schedule = JSON.parse(added.stdout) as { id: string; cron: string; input: unknown };
    expect(schedule).to.deep.include({ cron: '*/5 * * * *', input: { name: 'tick' } });
    const listed = await runCli(['schedules', 'list', ...base]);
    expect(listed.stdout).to.match(new RegExp(`^${schedule.id} {2}\\*/5 \\* \\* \\* \\* {7}next \\S+Z {2}input \\{"name":"tick"\\}$`, 'm'));
    // The daily schedule deploy added from gateway.json comes first.
    expect(listed.stdout).to.match(/^sch_[a-z0-9]{26} {2}0 0 \* \* \* {9}next \S+T00:00:00\.000Z {2}input \{"name":"daily"\}$/m);
    expect(listed.stdout.trim().split('\n')).to.have.length(2);
    const bad = await runCli(['schedules', 'add', '0 25 * * *', ...base]);
    expect([bad.code, bad.stderr]).to.deep.equal([EXIT.failed, `gateway: add a schedule to ${projectId}: invalid_body: cron: hour value 25 is outside 0-23\n`]);
    const pinned = await runCli(['schedules', 'add', '0 9 * * 1', '--code-version', '1', '--timezone', 'Europe/Berlin', ...base]);
    expect([pinned.code, pinned.stderr]).to.deep.equal([EXIT.ok, '']);
    const pinnedId = /^added (sch_[a-z0-9]{26}) 0 9 \* \* 1 \(next run \S+Z\)$/m.exec(pinned.stdout)![1]!;
    expect((await runCli(['schedules', 'list', ...base])).stdout).to.match(new RegExp(`^${pinnedId} .+ input null {2}Europe/Berlin v1$`, 'm'));
    expect((await runCli(['schedules', 'rm', pinnedId, '--url', url, '--token', apiKey])).code).to.equal(EXIT.ok);
    const removed = await runCli(['schedules', 'rm', schedule.id, '--url', url, '--token', apiKey]);
    expect([removed.code, removed.stdout]).to.deep.equal([EXIT.ok, `removed ${schedule.id}\n`]);
    expect((await runCli(['schedules', 'list', ...base])).stdout).to.not.include(schedule.id);
    const again = await runCli(['schedules', 'rm', schedule.id, '--url', url, '--token', apiKey]);
    expect([again.code, again.stderr]).to.deep.equal([EXIT.failed, `gateway: remove ${schedule.id}: not_found: schedule ${schedule.id} not found\n`]);
  });

  it('exits 1 with the API\'s code on a bad token and a missing project, 2 without a URL, 3 when unreachable', async () => {
    const badToken = await runCli(['invoke', '--project', projectId, '--url', url, '--token', 'gwk_wrong']);
    expect(badToken.code).to.equal(EXIT.failed);
    expect(badToken.stderr).to.match(/^gateway: invoke prj_[a-z0-9]{26}: unauthorized: .+ \(check --token, GATEWAY_TOKEN or the profile\)\n$/);
    expect(badToken.stderr).to.not.include('gwk_wrong');
    const missing = await runCli(['invoke', '--project', 'prj_00000000000000000000000000', '--url', url, '--token', ADMIN_TOKEN]);
    expect([missing.code, missing.stderr]).to.deep.equal([EXIT.failed, 'gateway: invoke prj_00000000000000000000000000: not_found: project prj_00000000000000000000000000 not found\n']);
    const noUrl = await runCli(['requests', 'list', '--project', projectId, '--token', apiKey]);
    expect(noUrl.code).to.equal(EXIT.usage);
    const port = await findFreePort();
    const unreachable = await runCli(['requests', 'list', '--project', projectId, '--url', `http://127.0.0.1:${port}`, '--token', apiKey]);
    expect([unreachable.code, unreachable.stderr]).to.deep.equal([EXIT.environment, `gateway: list the requests of ${projectId}: http://127.0.0.1:${port} is unreachable (ECONNREFUSED)\n`]);
    const noProject = await runCli(['logs', '--follow', '--url', url, '--token', apiKey]);
    expect(noProject.code).to.equal(EXIT.usage);
    expect((await runCli(['invoke', '--help'])).stdout).to.include('--code-version <n>');
  });

  it('resolves profiles: flags over an explicit --profile over GATEWAY_URL/GATEWAY_TOKEN over the default profile', () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ defaultProfile: 'local', profiles: { local: { url: 'http://local:1', token: 'local-token', project: 'prj_local' }, prod: { url: 'https://prod', token: 'prod-token' } } }), { mode: 0o600 });
    const env = { GATEWAY_CONFIG: file };
    expect(resolveConnection({}, env)).to.deep.equal({ url: 'http://local:1', token: 'local-token', tokenSource: 'profile', project: 'prj_local', profile: 'local' });
    expect(resolveConnection({}, { ...env, GATEWAY_URL: 'http://env', GATEWAY_TOKEN: 'env-token' })).to.deep.include({ url: 'http://env', token: 'env-token', tokenSource: 'env' });
    expect(resolveConnection({ profile: 'prod' }, { ...env, GATEWAY_URL: 'http://env', GATEWAY_TOKEN: 'env-token' })).to.deep.include({ url: 'https://prod', token: 'prod-token', tokenSource: 'profile', profile: 'prod' });
    expect(resolveConnection({ profile: 'prod', url: 'http://flag', token: 'flag-token' }, env)).to.deep.include({ url: 'http://flag', token: 'flag-token', tokenSource: 'flag' });
    expect(() => resolveConnection({ profile: 'staging' }, env)).to.throw(CliError, `profile staging is not in ${file} (it has: local, prod)`);
    expect(() => resolveConnection({}, { GATEWAY_CONFIG: join(dir, 'none.json') })).to.throw(CliError, 'no gateway URL');
  });
});

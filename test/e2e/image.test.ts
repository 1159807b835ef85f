// The container image without Docker: the Dockerfile's shape, and every role started from a production-only install.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, parse } from 'node:path';
import { expect } from 'chai';
import { findFreePort } from '../../lib/embedded-redis.ts';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.ts';

const ROOT = join(import.meta.dirname, '../..');
const ROLES = readdirSync(join(ROOT, 'entrypoints')).filter((f) => f.endsWith('.ts') && f !== 'all.ts').map((f) => f.slice(0, -3));
/** Node 24 (the test's own node) first on PATH, as in the image. */
const PATH = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter);

interface Instruction { readonly op: string; readonly args: string }

/** Dockerfile → instructions (comments dropped, continuation lines joined), grouped by stage. */
function parseDockerfile(text: string): Instruction[][] {
  const logical = text.split('\n').filter((line) => !line.trim().startsWith('#')).join('\n').replace(/\\\n/g, ' ');
  const stages: Instruction[][] = [];
  for (const line of logical.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op.toUpperCase() === 'FROM') stages.push([]);
    stages.at(-1)!.push({ op: op.toUpperCase(), args: args.replace(/\s+/g, ' ').trim() });
  }
  return stages;
}

const STAGES = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const FINAL = STAGES.at(-1)!;
const all = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op).map((i) => i.args);
/** The stage that installs node_modules, and its `npm ci` flags (the install the test reproduces). */
const DEPS = STAGES.find((stage) => all(stage, 'RUN').some((r) => /\bnpm ci\b/.test(r)));
const NPM_CI_FLAGS = (/\bnpm ci((?: --[\w=-]+)*)/.exec(all(DEPS ?? [], 'RUN').join(' '))?.[1] ?? ' --omit=dev').trim().split(' ');
const last = (stage: Instruction[], op: string) => all(stage, op).at(-1);
/** The HEALTHCHECK's shell command (CMD-SHELL form), options stripped. */
const HEALTHCHECK = /^(?:--\S+ )*CMD (?!\[)(.+)$/.exec(last(FINAL, 'HEALTHCHECK') ?? '')?.[1];

interface Run { readonly code: number | null; readonly output: string }

/** Runs a command to its end, collecting stdout and stderr together. */
function run(command: string, args: string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d; });
    child.stderr!.on('data', (d: Buffer) => { output += d; });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** One GET on loopback without keep-alive; the status, or 0 when nothing answers. */
function status(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
  });
}

/** Resolves with the exit code, or 'timeout' when the child is still running after `ms`. */
function exited(child: ChildProcess, ms: number): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve(code ?? signal); });
  });
}

describe('container image', function () {
  describe('Dockerfile', () => {
    it('builds on Node 24 Debian slim images, in a deps stage and a final stage', () => {
      expect(STAGES.length).to.be.at.least(2);
      for (const stage of STAGES) expect(stage[0].args).to.match(/^node:24(\.\d+)*-[a-z]+-slim(@sha256:[0-9a-f]{64})?( AS \S+)?$/i);
    });

    it('installs production dependencies with npm ci --omit=dev from package.json and the lock file only', () => {
      expect(DEPS, 'a stage running npm ci').to.exist;
      expect(all(DEPS!, 'RUN').join(' && ')).to.match(/\bnpm ci --omit=dev\b/);
      expect(all(DEPS!, 'COPY').join(' | ')).to.equal('package.json package-lock.json ./');
    });

    it('copies only node_modules and the runtime sources into the final stage', () => {
      const copies = all(FINAL, 'COPY');
      expect(copies.filter((c) => c.startsWith('--from='))).to.have.length(1).and.to.match(/node_modules/);
      const sources = copies.filter((c) => !c.startsWith('--')).flatMap((c) => c.split(' ').slice(0, -1).map((s) => s.replace(/^\.\/|\/$/g, '')));
      expect(sources).to.have.members(['package.json', 'lib', 'entrypoints', 'cli']);
      const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
      expect(ignored).to.include.members(['node_modules', 'data', 'test-artifacts', '.git', 'test', 'bench', 'deploy', '*.log']);
    });

    it('runs as uid 10001 under tini, with production env, a healthcheck and the webserver by default', () => {
      expect(last(FINAL, 'USER')).to.equal('10001:10001');
      expect(JSON.parse(last(FINAL, 'ENTRYPOINT') ?? 'null')).to.deep.equal(['tini', '--']);
      expect(JSON.parse(last(FINAL, 'CMD') ?? 'null')).to.deep.equal(['node', 'entrypoints/webserver.ts']);
      expect(last(FINAL, 'WORKDIR')).to.equal('/app');
      expect(all(FINAL, 'EXPOSE')).to.include('8080');
      expect(all(FINAL, 'ENV').join(' ')).to.match(/\bNODE_ENV=production\b/).and.to.match(/\bTZ=UTC\b/);
      expect(all(FINAL, 'RUN').join(' ')).to.match(/apt-get install -y --no-install-recommends tini/).and.to.match(/rm -rf \/var\/lib\/apt\/lists/)
        .and.to.match(/useradd .*--uid 10001/).and.to.match(/chown 10001:10001 \/var\/lib\/gateway/);
      expect(HEALTHCHECK, 'HEALTHCHECK CMD in shell form').to.be.a('string').and.to.match(/^node -e .*\/healthz/);
    });
  });

  describe(`every role from a production install (npm ci ${NPM_CI_FLAGS.join(' ')})`, function () {
    let dir: string;
    let app: string;
    let redis: TestRedis | undefined;
    const prefix = uniquePrefix();
    const children: ChildProcess[] = [];

    before(async function () {
      this.timeout(240_000);
      dir = mkdtempSync(join(tmpdir(), 'gw-image-'));
      app = join(dir, 'app');
      mkdirSync(app);
      // Nothing above the copy may hold a node_modules, or a missing package would resolve from there.
      for (let d = dirname(app); d !== parse(d).root; d = dirname(d)) expect(existsSync(join(d, 'node_modules')), `${d}/node_modules`).to.equal(false);
      for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, file), join(app, file));
      for (const folder of ['lib', 'entrypoints']) cpSync(join(ROOT, folder), join(app, folder), { recursive: true });
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE_PATH'));
      // The Dockerfile's own `npm ci` flags, install scripts on as in the image build.
      const install = await run('npm', ['ci', ...NPM_CI_FLAGS, '--ignore-scripts=false'], { cwd: app, env: { ...env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`, NODE_ENV: 'production' } });
      expect(install.code, `npm ci failed:\n${install.output.slice(-4000)}`).to.equal(0);
      redis = await startTestRedis();
    });

    after(async function () {
      this.timeout(30_000);
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all(children.map((child) => exited(child, 10_000)));
      await redis?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('holds the runtime dependencies and none of the dev-only ones', () => {
      for (const dev of ['node', 'typescript', 'mocha', 'chai', '@types/koa']) expect(existsSync(join(app, 'node_modules', dev)), `node_modules/${dev}`).to.equal(false);
      for (const runtime of ['isolated-vm', 'bullmq', 'koa', 'ioredis', 'pino']) expect(existsSync(join(app, 'node_modules', runtime, 'package.json')), `node_modules/${runtime}`).to.equal(true);
    });

    it('loads the isolated-vm native addon without a compiler and runs a script in an isolate', async () => {
      const script = "const ivm = (await import('isolated-vm')).default; const i = new ivm.Isolate(); console.log(i.compileScriptSync('6 * 7').runSync(i.createContextSync()))";
      const result = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env: { PATH } });
      expect(result.output.trim(), result.output).to.equal('42');
    });

    it('finds the role entrypoints to start (all but all.ts)', () => {
      expect(ROLES).to.include.members(['webserver', 'receiver', 'executor', 'consensus', 'sender', 'scheduler']);
    });

    for (const role of ROLES) {
      it(`${role}: \`node entrypoints/${role}.ts\` starts, is healthy and ready, passes the HEALTHCHECK and exits 0 on SIGTERM`, async function () {
        this.timeout(90_000);
        const [gatewayPort, healthPort] = [await findFreePort(), await findFreePort()];
        const env: NodeJS.ProcessEnv = {
          PATH, HOME: dir, NODE_ENV: 'production', TZ: 'UTC',
          REDIS_URL: redis!.url, GATEWAY_KEY_PREFIX: prefix, GATEWAY_HOST: '127.0.0.1',
          GATEWAY_ADMIN_TOKEN: randomBytes(24).toString('hex'), GATEWAY_MASTER_KEY: randomBytes(32).toString('hex'), GATEWAY_COUNTER_KEY: randomBytes(32).toString('hex'),
          GATEWAY_PORT: String(gatewayPort), HEALTH_PORT: String(healthPort), NODE_KEY_FILE: join(dir, 'data', `${role}.key`),
          GATEWAY_SANDBOX_PROCESSES: '1', GATEWAY_LOG_LEVEL: 'warn',
        };
        const child = spawn(process.execPath, [`entrypoints/${role}.ts`], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        const closed = new Promise((resolve) => child.once('close', resolve));
        let output = '';
        child.stdout!.on('data', (d: Buffer) => { output += d; });
        child.stderr!.on('data', (d: Buffer) => { output += d; });
        const log = () => `${role} output:\n${output.slice(-4000) || '(none)'}`;
        const port = role === 'webserver' ? gatewayPort : healthPort;

        for (const path of ['/healthz', '/readyz']) {
          const deadline = Date.now() + 20_000;
          let got = 0;
          while ((got = await status(port, path)) !== 200 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
          if (got !== 200) await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]); // the whole output of a crash
          expect(got, `GET ${path} on port ${port} (exit code ${child.exitCode}); ${log()}`).to.equal(200);
        }
        const healthy = await run('/bin/sh', ['-c', HEALTHCHECK!], { env });
        expect(healthy.code, `HEALTHCHECK while running: ${healthy.output}`).to.equal(0);

        child.kill('SIGTERM');
        expect(await exited(child, 20_000), `exit after SIGTERM; ${log()}`).to.equal(0);
        const stopped = await run('/bin/sh', ['-c', HEALTHCHECK!], { env });
        expect(stopped.code, 'HEALTHCHECK once stopped').to.equal(1);
      });
    }
  });
});

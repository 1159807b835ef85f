// Operator logs never show a secret-named field: at the top of a line's object, one level down, or
// in a child logger's bindings; the logged object itself is left as it was.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createBufferedOutput, createLogger, errorForLog, LOG_FLUSH_MS, redactSecrets } from '../../lib/logger.ts';
import { waitFor } from '../support/gateway.ts';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _encoding, done) { chunks.push(chunk.toString()); done(); } });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('logger', () => {
  it('redacts secret-named fields at the top and one level down, in lines and bindings', async () => {
    const out = capture();
    const logger = createLogger('test', 'info', out.stream).child({ role: 'webserver', config: { adminToken: 'admin-secret', port: 1 } });
    const logged = { apiKey: 'gk_live_secret', project: { id: 'prj_1', secrets: { TOKEN: 'abc' }, apiKey: 'k' }, counterKey: 'c', list: [{ apiKey: 'kept-in-array' }], nested: { deeper: { mnemonic: 'two levels down' } } };
    logger.info(logged, 'project created');
    await new Promise((resolve) => setImmediate(resolve));
    const [line] = out.lines();
    expect(line).to.deep.include({
      msg: 'project created', process: 'test', role: 'webserver',
      config: { adminToken: '[redacted]', port: 1 },
      apiKey: '[redacted]', counterKey: '[redacted]',
      project: { id: 'prj_1', secrets: '[redacted]', apiKey: '[redacted]' },
    });
    // Two levels down and inside arrays are out of the guard's reach (no role logs secrets there).
    expect(line.nested).to.deep.equal({ deeper: { mnemonic: 'two levels down' } });
    expect(line.list).to.deep.equal([{ apiKey: 'kept-in-array' }]);
    expect(logged.apiKey).to.equal('gk_live_secret');
    expect(logged.project.secrets).to.deep.equal({ TOKEN: 'abc' });
    // A child of a child redacts its bindings too.
    logger.child({ nodeId: 'node_1', mnemonic: 'twelve words' }).warn('grandchild');
    await new Promise((resolve) => setImmediate(resolve));
    expect(out.lines()[1]).to.deep.include({ msg: 'grandchild', role: 'webserver', nodeId: 'node_1', mnemonic: '[redacted]' });
  });

  it('returns an object without secret-named fields as it is', () => {
    const object = { requestId: 'req_1', round: 3, err: errorForLog(new TypeError('x')) };
    expect(redactSecrets(object)).to.equal(object);
    expect(redactSecrets({ masterKey: 'm', mnemonic: 'w' })).to.deep.equal({ masterKey: '[redacted]', mnemonic: '[redacted]' });
  });
});

describe('logger output', () => {
  const ROOT = join(import.meta.dirname, '..', '..');
  const messages = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg);

  it('buffers lines below warn briefly, writes a warning at once with what came before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-log-'));
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'w');
    try {
      const logger = createLogger('test', 'info', createBufferedOutput(fd));
      logger.info('first');
      expect(messages(file)).to.deep.equal([]);
      logger.warn('trouble');
      expect(messages(file)).to.deep.equal(['first', 'trouble']);
      logger.info('later');
      expect(messages(file)).to.deep.equal(['first', 'trouble']);
      // The flush timer writes it within LOG_FLUSH_MS.
      expect(await waitFor(async () => (messages(file).length === 3 ? messages(file) : undefined), 5000, 'the buffered line')).to.deep.equal(['first', 'trouble', 'later']);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('makes no write call while no line comes: the flush timer skips an empty buffer', async () => {
    // sonic-boom calls writeSync on node's fs module object at the time of each write.
    const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'gw-log-'));
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'w');
    const realWriteSync = fs.writeSync;
    let writes = 0;
    fs.writeSync = ((...args: Parameters<typeof fs.writeSync>) => {
      if (args[0] === fd) writes++;
      return realWriteSync(...args);
    }) as typeof fs.writeSync;
    try {
      const logger = createLogger('test', 'info', createBufferedOutput(fd));
      logger.info('only line');
      expect(await waitFor(async () => (messages(file).length === 1 ? messages(file) : undefined), 5000, 'the buffered line')).to.deep.equal(['only line']);
      const writesForTheLine = writes;
      expect(writesForTheLine).to.be.greaterThan(0);
      // Five timer periods with nothing to write (before, each was an empty write call).
      await new Promise((resolve) => setTimeout(resolve, 5 * LOG_FLUSH_MS));
      expect(writes).to.equal(writesForTheLine);
      logger.info('another');
      expect(await waitFor(async () => (messages(file).length === 2 ? messages(file) : undefined), 5000, 'the next line')).to.deep.equal(['only line', 'another']);
    } finally {
      fs.writeSync = realWriteSync;
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes what is buffered when the process exits, by process.exit or an uncaught error', () => {
    const logThenExit = `import { createLogger } from './lib/logger.ts'; const log = createLogger('t'); log.info('before exit'); process.exit(0);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', logThenExit], { cwd: ROOT, encoding: 'utf8' });
    expect(out.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg)).to.deep.equal(['before exit']);
    const logThenThrow = `import { createLogger } from './lib/logger.ts'; const log = createLogger('t'); log.info('before the error'); setImmediate(() => { throw new Error('boom') });`;
    let stdout = '';
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', logThenThrow], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (error) {
      stdout = (error as { stdout: string }).stdout;
    }
    expect(stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg)).to.deep.equal(['before the error']);
  });
});

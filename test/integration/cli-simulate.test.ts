// `gateway simulate` and `gateway init` as a developer runs them: the real CLI (cli/main.ts's main) in
// a child process, its stdout, stderr and exit status.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Runs cli/main.ts's main with simulate and init in the program (a no-op once cli/commands/index.ts lists them).
const DRIVER = `const root = ${JSON.stringify(new URL('../../', import.meta.url).href)};
const { COMMANDS } = await import(root + 'cli/commands/index.ts');
const { registerSimulateCommand } = await import(root + 'cli/commands/simulate.ts');
const { registerInitCommand } = await import(root + 'cli/commands/init.ts');
for (const register of [registerSimulateCommand, registerInitCommand]) if (!COMMANDS.includes(register)) COMMANDS.push(register);
const { main } = await import(root + 'cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('gateway simulate and init (CLI)', () => {
  let dir: string;
  let driver: string;
  const gateway = (args: readonly string[], cwd = dir) => run(driver, args, cwd);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-simulate-'));
    driver = join(dir, 'gateway-driver.mjs');
    writeFileSync(driver, DRIVER);
    mkdirSync(join(dir, 'app'));
    writeFileSync(join(dir, 'app', 'index.ts'), `export default async (input: { asset: string }, ctx: any): Promise<number> => {
  const response = await ctx.fetch('https://api.example.com/price?asset=' + input.asset);
  ctx.log('fetched', response.status);
  return response.json().price;
};
`);
    writeFileSync(join(dir, 'app', 'input.json'), '{ "asset": "ATOM" }');
    writeFileSync(join(dir, 'app', 'fixtures.json'), JSON.stringify([{ url: 'https://api.example.com/price?asset=ATOM', body: { price: 4.2 } }]));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the simulation result with --json and exits 0 when the committee agrees', async () => {
    const result = await gateway(['simulate', '--nodes', '3', '--byzantine', '1', '--json'], join(dir, 'app'));
    expect(result.stderr).to.equal('');
    expect(result.code).to.equal(0);
    const parsed = JSON.parse(result.stdout);
    expect(parsed.outcome).to.include({ status: 'agreed', ok: true, value: 4.2 });
    expect(parsed.nodes.map((n: { behaviour: string; value: unknown; agreed: boolean; logs: string[] }) => [n.behaviour, n.value, n.agreed, n.logs])).to.deep.equal([
      ['honest', 4.2, true, ['fetched 200']],
      ['honest', 4.2, true, ['fetched 200']],
      ['byzantine', 43, false, ['fetched 200']],
    ]);
  });

  it('prints each node and the agreed value for people, reading gateway.json', async () => {
    writeFileSync(join(dir, 'app', 'gateway.json'), JSON.stringify({ name: 'p', committee: { size: 3, quorum: 2 }, aggregation: 'median', limits: {}, schedules: [] }));
    const result = await gateway(['simulate', 'app/index.ts', '--slow', '1', '--diverge-fetch']);
    expect(result.code).to.equal(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).to.equal('app/index.ts: a committee of 3, quorum 2, median, production limits, fetch from app/fixtures.json');
    expect(lines[1]).to.match(/^ {2}node-1 {2}honest {5}ok {5}4\.1958 {2}[\d.]+ ms \(CPU [\d.]+ ms, heap [\d.]+ MB\) {2}node_[0-9a-f]{20} {2}counted, agreed$/);
    expect(lines[2]).to.equal('      log fetched 200');
    expect(lines[5]).to.match(/^ {2}node-3 {2}slow {7}ok {5}4\.2042 .* late: not counted$/);
    // The slow vote is not counted: the lower median of the two counted numbers.
    expect(lines[7]).to.equal('agreed: 4.1958');
    expect(result.stdout).to.not.include('\u001b[');
  });

  it('exits 1 with "no quorum" when byzantine nodes hold the majority', async () => {
    const result = await gateway(['simulate', 'app/index.ts', '--nodes', '3', '--byzantine', '2']);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.include('no quorum: 3 of 3 votes counted and no value can reach the quorum of 2');
  });

  it('exits 1 when the code throws, keeping its message', async () => {
    writeFileSync(join(dir, 'app', 'throws.js'), `export default () => { throw new Error('no price today'); }`);
    const result = await gateway(['simulate', 'app/throws.js', '--json']);
    expect(result.code).to.equal(1);
    expect(JSON.parse(result.stdout).outcome).to.deep.include({ status: 'agreed', ok: false, value: { error: 'no price today' } });
  });

  it('exits 2 for bad flags and 3 for a missing file', async () => {
    const zero = await gateway(['simulate', 'app/index.ts', '--nodes', '0']);
    expect(zero).to.include({ code: 2, stderr: 'gateway: --nodes must be an integer of at least 1, got 0\n' });
    const mode = await gateway(['simulate', 'app/index.ts', '--aggregation', 'mean']);
    expect(mode.code).to.equal(2);
    expect(mode.stderr).to.include("argument 'mean' is invalid. Allowed choices are exact, median.");
    const faults = await gateway(['simulate', 'app/index.ts', '--nodes', '2', '--byzantine', '3']);
    expect(faults).to.include({ code: 2, stderr: 'gateway: byzantine (3) and slow (0) nodes exceed the committee of 2\n' });
    const missing = await gateway(['simulate', 'app/nothing.ts']);
    expect(missing).to.include({ code: 3, stderr: 'gateway: app/nothing.ts cannot be read (ENOENT)\n' });
    const input = await gateway(['simulate', 'app/index.ts', '--input', '{nope']);
    expect(input.code).to.equal(2);
  });

  it('describes simulate in --help', async () => {
    const result = await gateway(['simulate', '--help']);
    expect(result.code).to.equal(0);
    for (const flag of ['--input <json|@file>', '--secrets <file>', '--nodes <n>', '--quorum <q>', '--aggregation <mode>', '--limits <which>', '--byzantine <n>', '--slow <n>', '--diverge-fetch', '--fetch-fixtures <file>', '--json']) {
      expect(result.stdout).to.include(flag);
    }
  });

  it('scaffolds a project whose code simulates and whose own test passes', async () => {
    const init = await gateway(['init', 'project', '--json']);
    expect(init.code).to.equal(0);
    expect(JSON.parse(init.stdout).files).to.deep.equal(['index.ts', 'input.json', 'gateway.json', 'fixtures.json', 'tsconfig.json', '.env.example', 'index.test.mjs']);
    const simulated = await gateway(['simulate', '--json'], join(dir, 'project'));
    expect(simulated.code).to.equal(0);
    const parsed = JSON.parse(simulated.stdout);
    expect(parsed.nodes).to.have.length(3);
    expect(parsed.outcome).to.include({ status: 'agreed', ok: true });
    expect(parsed.outcome.value).to.deep.equal({ asset: 'ATOM', price: 4.2 });
    const test = await run('--test', [join(dir, 'project', 'index.test.mjs')], join(dir, 'project'), { GATEWAY_BIN: driver });
    expect(test.code, test.stdout + test.stderr).to.equal(0);
    expect(test.stdout).to.match(/ℹ pass 2\n/);
    const again = await gateway(['init', 'project']);
    expect(again).to.include({ code: 2, stderr: 'gateway: project is not empty; pass --force to write into it\n' });
  });
});

// `gateway simulate [file]`: runs project code locally in the executors' sandbox, on a simulated
// committee that signs votes and goes through the real tally (lib/simulate/), with faults on demand.
// Exit 0 when the committee agreed on an ok result, 1 when the code failed or there was no quorum,
// 2 for a usage error, 3 when a file cannot be read.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Option, type Command } from 'commander';
import { isGatewayError } from '../../lib/errors.ts';
import type { ProjectLimits } from '../../lib/limits.ts';
import { compileUserSource, loadFetchFixtures, simulate, type SimulateOptions, type SimulationResult } from '../../lib/simulate/simulate.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { readTextFile } from '../files.ts';
import { createOutput, type Output } from '../output.ts';
import { readSecretsFile } from '../verify/receipt-sources.ts';

interface SimulateFlags {
  readonly input?: string;
  readonly secrets?: string;
  readonly nodes?: number;
  readonly quorum?: number;
  readonly aggregation?: 'exact' | 'median';
  readonly limits: 'production' | 'none';
  readonly byzantine: number;
  readonly slow: number;
  readonly divergeFetch?: boolean;
  readonly fetchFixtures?: string;
  readonly network?: boolean;
  readonly json?: boolean;
}

/** What `gateway.json` says about the committee (the rest of the file is for `deploy`). */
interface ProjectFile {
  readonly size?: number;
  readonly quorum?: number;
  readonly aggregation?: 'exact' | 'median';
  readonly limits?: Partial<ProjectLimits>;
}

const VALUE_CHARS = 80;

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('Run project code locally in the same isolated-vm sandbox, bootstrap and limits as an executor, on a simulated committee whose nodes sign votes that go through the real tally; no Redis, no gateway. Faults on demand: byzantine nodes, slow nodes, diverging fetch responses.')
    .argument('[file]', 'the code: a .ts file (types are stripped as on deploy) or .js/.mjs, or a project folder (its index.ts, else index.js); default the current folder')
    .option('--input <json|@file>', 'the request input: JSON text, or @file to read it; default input.json beside the code when it exists, else null')
    .option('--secrets <file>', 'ctx.secrets from .env lines (NAME=value) or a JSON object of strings')
    .option('--nodes <n>', 'committee size; default gateway.json committee.size, else 1', integer('--nodes', 1))
    .option('--quorum <q>', 'votes needed to agree; default gateway.json committee.quorum, else a strict majority', integer('--quorum', 1))
    .addOption(new Option('--aggregation <mode>', 'exact: the same value; median: the lower median of numbers (default gateway.json, else exact)').choices(['exact', 'median']))
    .addOption(new Option('--limits <which>', 'production: the gateway\'s default project limits with gateway.json limits applied; none: generous limits').choices(['production', 'none']).default('production'))
    .option('--byzantine <n>', 'nodes that sign a different value than the code returned (they vote first)', integer('--byzantine', 0), 0)
    .option('--slow <n>', 'nodes whose vote arrives after the tally closed: recorded late, never counted', integer('--slow', 0), 0)
    .option('--diverge-fetch', 'each node sees the numbers of JSON fetch responses scaled by its own factor (0.999, 1, 1.001, …)')
    .option('--fetch-fixtures <file>', 'answer ctx.fetch from recorded responses (a JSON array of { url, method, status, headers, body }); default fixtures.json beside the code when it exists')
    .option('--network', 'send ctx.fetch to the network (through the gateway\'s address guard) even when fixtures.json exists')
    .option('--json', 'print the simulation result as one JSON document')
    .addHelpText('after', '\nExit status: 0 the committee agreed on an ok result; 1 the code failed, or no quorum; 2 usage error; 3 a file cannot be read.\nExample: gateway simulate index.ts --nodes 3 --byzantine 1 --fetch-fixtures fixtures.json')
    .action((file: string | undefined, flags: SimulateFlags) => runSimulate(file, flags));
}

function integer(flag: string, min: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) throw new CliError(`${flag} must be an integer of at least ${min}, got ${text}`, EXIT.usage);
    return value;
  };
}

async function runSimulate(file: string | undefined, flags: SimulateFlags): Promise<void> {
  const out = createOutput(flags);
  // A project folder (what `init` made, what `deploy` takes) stands for its index.ts or index.js.
  const folder = file !== undefined && existsSync(file) && statSync(file).isDirectory() ? file : file === undefined ? '.' : undefined;
  const path = folder === undefined ? file : ['index.ts', 'index.js'].map((name) => join(folder, name)).find((name) => existsSync(name));
  if (!path) throw new CliError('no code to run: pass a file or a project folder, or run where index.ts or index.js is', EXIT.usage);
  const dir = dirname(path);
  const project = readProjectFile(join(dir, 'gateway.json'));
  const fixturesPath = flags.fetchFixtures ?? (!flags.network && existsSync(join(dir, 'fixtures.json')) ? join(dir, 'fixtures.json') : undefined);
  if (flags.fetchFixtures && flags.network) throw new CliError('--fetch-fixtures and --network exclude each other', EXIT.usage);
  const nodes = flags.nodes ?? project.size ?? 1;
  // A quorum from gateway.json may not fit a committee resized with --nodes: then a majority of the new size.
  const quorum = flags.quorum ?? (project.quorum !== undefined && project.quorum <= nodes ? project.quorum : undefined);
  const options: SimulateOptions = {
    code: withCliErrors(() => compileUserSource(path)),
    input: readInput(flags.input, join(dir, 'input.json')),
    nodes,
    ...(quorum === undefined ? {} : { quorum }),
    aggregation: flags.aggregation ?? project.aggregation ?? 'exact',
    secrets: flags.secrets ? readSecretsFile(flags.secrets) : {},
    limits: flags.limits,
    ...(project.limits ? { projectLimits: project.limits } : {}),
    byzantine: flags.byzantine,
    slow: flags.slow,
    divergeFetch: flags.divergeFetch === true,
    ...(fixturesPath ? { fetchFixtures: withCliErrors(() => loadFetchFixtures(fixturesPath)) } : {}),
  };
  const result = await withCliErrorsAsync(() => simulate(options));
  print(out, result, { path, fixturesPath, limits: flags.limits });
  const isOk = result.outcome.status === 'agreed' && result.outcome.ok === true;
  if (!isOk) process.exitCode = EXIT.failed;
}

// Library errors become one-line CLI errors with the exit status they mean.
function toCliError(error: unknown): unknown {
  if (isGatewayError(error, 'not_found')) return new CliError(error.message, EXIT.environment);
  if (isGatewayError(error, 'invalid_value')) return new CliError(error.message, EXIT.usage);
  if (isGatewayError(error, 'invalid_code')) return new CliError(`the gateway would refuse this code: ${error.message}`, EXIT.failed);
  return error;
}

function withCliErrors<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw toCliError(error);
  }
}

async function withCliErrorsAsync<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toCliError(error);
  }
}

function readJsonFile(path: string, what: string): unknown {
  const text = readTextFile(path);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${what} ${path} is not valid JSON (${(error as Error).message})`, EXIT.usage);
  }
}

function readInput(flag: string | undefined, besideCode: string): unknown {
  if (flag === undefined) return existsSync(besideCode) ? readJsonFile(besideCode, 'input') : null;
  if (flag.startsWith('@')) return readJsonFile(flag.slice(1), 'input');
  try {
    return JSON.parse(flag);
  } catch (error) {
    throw new CliError(`--input is not JSON (${(error as Error).message}); pass JSON text or @file`, EXIT.usage);
  }
}

function readProjectFile(path: string): ProjectFile {
  if (!existsSync(path)) return {};
  const raw = readJsonFile(path, 'project file');
  const fail = (problem: string): never => {
    throw new CliError(`${path}: ${problem}`, EXIT.usage);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('must be a JSON object');
  const { committee, aggregation, limits } = raw as Record<string, unknown>;
  const file: { -readonly [K in keyof ProjectFile]: ProjectFile[K] } = {};
  if (committee !== undefined) {
    if (typeof committee !== 'object' || committee === null) return fail('"committee" must be an object { size, quorum }');
    const { size, quorum } = committee as Record<string, unknown>;
    if (size !== undefined && (!Number.isSafeInteger(size) || (size as number) < 1)) fail('"committee.size" must be a positive integer');
    if (quorum !== undefined && (!Number.isSafeInteger(quorum) || (quorum as number) < 1)) fail('"committee.quorum" must be a positive integer');
    if (size !== undefined) file.size = size as number;
    if (quorum !== undefined) file.quorum = quorum as number;
  }
  if (aggregation !== undefined) {
    if (aggregation !== 'exact' && aggregation !== 'median') fail('"aggregation" must be "exact" or "median"');
    file.aggregation = aggregation as 'exact' | 'median';
  }
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits) || Object.values(limits).some((v) => !Number.isSafeInteger(v))) fail('"limits" must be an object of integers');
    file.limits = limits as Partial<ProjectLimits>;
  }
  return file;
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > VALUE_CHARS ? `${text.slice(0, VALUE_CHARS)}…` : text;
}

function print(out: Output, result: SimulationResult, run: { path: string; fixturesPath?: string; limits: string }): void {
  const { nodes, quorum, aggregation, outcome } = result;
  out.line(`${run.path}: a committee of ${nodes.length}, quorum ${quorum}, ${aggregation}, ${run.limits} limits, fetch ${run.fixturesPath ? `from ${run.fixturesPath}` : 'to the network'}`);
  const nameWidth = Math.max(...nodes.map((n) => n.name.length));
  for (const node of nodes) {
    const verdict = node.ok ? out.ok('ok   ') : out.fail('error');
    const shown = node.error !== undefined && node.behaviour !== 'byzantine' ? node.error : preview(node.value);
    const vote = !node.counted
      ? node.behaviour === 'slow' ? 'late: not counted' : 'arrived after the result was final: not counted'
      : node.agreed ? 'counted, agreed' : 'counted, disagreed';
    out.line(`  ${node.name.padEnd(nameWidth)}  ${node.behaviour.padEnd(9)}  ${verdict}  ${shown}  ${out.dim(`${node.durationMs.toFixed(1)} ms${node.cpuMs === undefined ? '' : ` (CPU ${node.cpuMs.toFixed(1)} ms, heap ${(node.heapBytes! / 1048576).toFixed(1)} MB)`}  ${node.nodeId}`)}  ${node.agreed || !node.counted ? vote : out.fail(vote)}`);
    if (node.behaviour === 'byzantine' && node.error !== undefined) out.line(`      ${out.dim(`(its run failed: ${node.error})`)}`);
    for (const line of node.logs) out.line(`      ${out.dim('log')} ${line}`);
  }
  if (outcome.status === 'agreed') {
    const label = outcome.ok ? out.ok('agreed') : out.fail('agreed on an error');
    out.line(`${label}: ${outcome.ok ? JSON.stringify(outcome.value) : (outcome.value as { error: string }).error}`);
    out.line(out.dim(`  result hash ${outcome.resultHash}, supported by ${outcome.supporters.map((id) => nodes.find((n) => n.nodeId === id)?.name ?? id).join(', ')}`));
  } else {
    out.line(`${out.fail('no quorum')}: ${outcome.reason}`);
  }
  out.json(result);
}

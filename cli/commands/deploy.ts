// `gateway deploy [dir]`: creates the project from gateway.json and its code (writing the new
// projectId back), or uploads the code as a new version; adds the schedules gateway.json lists.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { GatewayClient } from '../../lib/client/client.ts';
import { createGatewayClient } from '../../lib/client/client.ts';
import type { Aggregation, ProjectLimits, ScheduleDraft } from '../../lib/client/types.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { createOutput } from '../output.ts';
import { addApiOptions, callApi, connect, type ApiOptions } from '../profile.ts';

/** gateway.json: what `deploy` reads (and `projectId`, which it writes after creating the project). */
export interface Manifest {
  readonly projectId?: string;
  readonly name: string;
  readonly description?: string;
  readonly committee?: { readonly size: number; readonly quorum?: number };
  readonly aggregation?: Aggregation;
  readonly limits?: Partial<ProjectLimits>;
  readonly schedules?: readonly ScheduleDraft[];
  /** The code file, relative to the directory; default index.ts, else index.js. */
  readonly code?: string;
}

const MANIFEST = 'gateway.json';
const CODE_FILES = ['index.ts', 'index.js'] as const;
const KNOWN_FIELDS = new Set(['$schema', 'projectId', 'name', 'description', 'committee', 'aggregation', 'limits', 'schedules', 'code']);

export function registerDeployCommand(program: Command): void {
  addApiOptions(program
    .command('deploy')
    .description('Create the project from gateway.json and index.ts/index.js (the admin token; writes projectId to gateway.json and prints the project key once), or upload the code as a new version. Adds the schedules gateway.json lists. Prints the version and code CID.')
    .argument('[dir]', 'the project directory', '.'))
    .action(async (dir: string, options: ApiOptions) => {
      await runDeploy(dir, options);
    });
}

/** What a deploy did, as `--json` prints it. */
export interface DeployReport {
  readonly projectId: string;
  readonly isCreated: boolean;
  readonly version: number;
  readonly codeCid: string;
  readonly isCodeChanged: boolean;
  /** Only when the project was created now: shown this once. */
  readonly apiKey?: string;
  readonly schedulesAdded: readonly string[];
  /** Schedules of the project that gateway.json does not list (left alone). */
  readonly schedulesUnlisted: readonly string[];
  /** Settings in gateway.json that differ from the project's: the API cannot change them after creation. */
  readonly drift: readonly string[];
}

export async function runDeploy(dir: string, options: ApiOptions, env: NodeJS.ProcessEnv = process.env): Promise<DeployReport> {
  const out = createOutput(options);
  const root = resolve(dir);
  const manifestPath = join(root, MANIFEST);
  const { manifest, raw } = readManifest(manifestPath);
  const { code, file } = readCode(root, manifest.code);
  const { client, connection } = connect(options, env);
  let report: DeployReport;
  if (manifest.projectId === undefined) {
    const created = await callApi('create the project', () => client.createProject({
      name: manifest.name, code,
      ...(manifest.description !== undefined ? { description: manifest.description } : {}),
      ...(manifest.committee ? { committee: manifest.committee } : {}),
      ...(manifest.aggregation ? { aggregation: manifest.aggregation } : {}),
      ...(manifest.limits ? { limits: manifest.limits } : {}),
    }));
    try {
      writeManifest(manifestPath, { projectId: created.id, ...raw });
    } catch (error) {
      // The key is shown only once: a manifest that cannot be written must not swallow it.
      process.stderr.write(`gateway: warning: ${manifestPath} cannot be written (${(error as NodeJS.ErrnoException).code ?? 'error'}); add "projectId": "${created.id}" to it yourself\n`);
    }
    // The new project's own key adds its schedules: the admin token could, but the key is what the developer keeps.
    const projectClient = createGatewayClient({ url: connection.url, token: created.apiKey });
    const schedules = await syncSchedules(projectClient, created.id, manifest.schedules ?? []);
    report = { projectId: created.id, isCreated: true, version: created.version, codeCid: created.codeCid, isCodeChanged: true, apiKey: created.apiKey, ...schedules, drift: [] };
  } else {
    const projectId = manifest.projectId;
    const before = await callApi(`read project ${projectId}`, () => client.getProject(projectId));
    const uploaded = await callApi(`upload the code of ${projectId}`, () => client.updateCode(projectId, code));
    const schedules = await syncSchedules(client, projectId, manifest.schedules ?? []);
    report = {
      projectId, isCreated: false, version: uploaded.version, codeCid: uploaded.codeCid,
      isCodeChanged: uploaded.codeCid !== before.codeCid, ...schedules, drift: findDrift(manifest, before),
    };
  }
  out.json(report);
  printReport(out, report, file);
  return report;
}

function printReport(out: ReturnType<typeof createOutput>, report: DeployReport, file: string): void {
  out.line(`${out.ok(report.isCreated ? 'created' : report.isCodeChanged ? 'updated' : 'unchanged')} project ${report.projectId} from ${file}`);
  out.line(`version   ${report.version}`);
  out.line(`code CID  ${report.codeCid}`);
  for (const id of report.schedulesAdded) out.line(`schedule  ${id} added`);
  for (const id of report.schedulesUnlisted) out.line(out.dim(`schedule  ${id} is not in gateway.json (remove it with \`gateway schedules rm ${id}\`)`));
  for (const field of report.drift) out.line(out.fail(`warning: gateway.json's ${field} differs from the project's; the API cannot change it after creation`));
  if (report.apiKey !== undefined) {
    out.line('');
    out.line(`project key  ${report.apiKey}`);
    out.line('It is shown this once: store it as GATEWAY_TOKEN (or in a profile) to invoke the project.');
    out.line(`projectId written to ${MANIFEST}.`);
  }
}

/** Adds each schedule of gateway.json that the project lacks (same cron, input, version and zone); removes none. */
async function syncSchedules(client: GatewayClient, projectId: string, wanted: readonly ScheduleDraft[]): Promise<Pick<DeployReport, 'schedulesAdded' | 'schedulesUnlisted'>> {
  const existing = wanted.length === 0 ? [] : await callApi(`list the schedules of ${projectId}`, () => client.listSchedules(projectId));
  const keyOf = (s: ScheduleDraft) => JSON.stringify([s.cron.trim().replace(/\s+/g, ' '), s.input ?? null, s.version ?? null, s.timezone ?? null]);
  const have = new Map(existing.map((s) => [keyOf(s), s.id]));
  const added: string[] = [];
  const listed = new Set<string>();
  for (const draft of wanted) {
    const id = have.get(keyOf(draft));
    if (id !== undefined) {
      listed.add(id);
      continue;
    }
    const schedule = await callApi(`add the schedule ${draft.cron}`, () => client.createSchedule(projectId, draft));
    added.push(schedule.id);
  }
  return { schedulesAdded: added, schedulesUnlisted: existing.filter((s) => !listed.has(s.id)).map((s) => s.id) };
}

function findDrift(manifest: Manifest, project: { name: string; description: string; committee: { size: number; quorum: number }; aggregation: Aggregation; limits: ProjectLimits }): string[] {
  const drift: string[] = [];
  if (manifest.name !== project.name) drift.push('name');
  if (manifest.description !== undefined && manifest.description !== project.description) drift.push('description');
  if (manifest.committee && (manifest.committee.size !== project.committee.size || (manifest.committee.quorum !== undefined && manifest.committee.quorum !== project.committee.quorum))) drift.push('committee');
  if (manifest.aggregation && manifest.aggregation !== project.aggregation) drift.push('aggregation');
  for (const [name, value] of Object.entries(manifest.limits ?? {})) {
    if (project.limits[name as keyof ProjectLimits] !== value) drift.push(`limits.${name}`);
  }
  return drift;
}

function readManifest(path: string): { manifest: Manifest; raw: Record<string, unknown> } {
  if (!existsSync(path)) throw new CliError(`${path} not found (\`gateway init\` writes one)`, EXIT.environment);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`${path} is not JSON (${(error as Error).message})`, EXIT.environment);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CliError(`${path}: expected an object`, EXIT.environment);
  const record = raw as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof record.name !== 'string' || record.name === '') problems.push('name: a non-empty string is required');
  if (record.projectId !== undefined && (typeof record.projectId !== 'string' || !/^prj_[a-z0-9]{26}$/.test(record.projectId))) problems.push('projectId: a prj_… id');
  if (record.code !== undefined && typeof record.code !== 'string') problems.push('code: a file name');
  if (record.schedules !== undefined && (!Array.isArray(record.schedules) || record.schedules.some((s) => typeof s?.cron !== 'string'))) problems.push('schedules: a list of {cron, input?, version?, timezone?}');
  for (const name of Object.keys(record)) if (!KNOWN_FIELDS.has(name)) problems.push(`${name}: unknown field`);
  if (problems.length > 0) throw new CliError(`${path}: ${problems.join('; ')}`, EXIT.environment);
  // committee, aggregation and limits are checked by the API, which names each problem.
  return { manifest: record as unknown as Manifest, raw: record };
}

/** The code to upload: JavaScript as is, TypeScript with its types stripped (the stored code is the JavaScript). */
function readCode(root: string, named: string | undefined): { code: string; file: string } {
  const path = named !== undefined ? join(root, named) : CODE_FILES.map((f) => join(root, f)).find((p) => existsSync(p));
  if (path === undefined || !existsSync(path)) throw new CliError(`no code in ${root}: expected ${named ?? CODE_FILES.join(' or ')}`, EXIT.environment);
  const source = readFileSync(path, 'utf8');
  if (!/\.(ts|mts)$/.test(path)) return { code: source, file: basename(path) };
  try {
    return { code: stripTypes(source), file: basename(path) };
  } catch (error) {
    throw new CliError(`${basename(path)}: ${(error as Error).message} (only erasable TypeScript: no enum, namespace or parameter properties)`, EXIT.failed);
  }
}

// Node flags stripTypeScriptTypes as experimental; its warning is noise for a deploy, so it is dropped here only.
function stripTypes(source: string): string {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (!text.includes('stripTypeScriptTypes')) (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return stripTypeScriptTypes(source, { mode: 'strip' });
  } finally {
    process.emitWarning = emitWarning;
  }
}

function writeManifest(path: string, manifest: Record<string, unknown>): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(temp, path);
}

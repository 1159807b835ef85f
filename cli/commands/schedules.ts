// `gateway schedules add|list|rm`: a project's cron schedules (docs/api.md "Schedules").
import type { Command } from 'commander';
import { createOutput } from '../output.ts';
import { addApiOptions, type ApiOptions, callApi, connect, PROJECT_OPTION, resolveProjectId } from '../profile.ts';
import { parseInputOption, parsePositiveInteger } from './invoke.ts';

interface SchedulesOptions extends ApiOptions {
  readonly project?: string;
  readonly input?: string;
  readonly codeVersion?: string;
  readonly timezone?: string;
}

export function registerSchedulesCommand(program: Command): void {
  const schedules = program.command('schedules').description('Add, list and remove a project\'s cron schedules.');
  const withProject = (command: Command) => addApiOptions(command.option(...PROJECT_OPTION));
  withProject(schedules
    .command('add')
    .description('Add a schedule: each tick sends a request with the input.')
    .argument('<cron>', '5 fields (minute hour day month weekday) or 6 (a leading second), quoted: "*/5 * * * *"')
    .option('--input <json|@file>', 'the input of each tick (default null)')
    .option('--code-version <n>', 'pin the code version every tick runs (default: the latest at each tick); `--version` is the program\'s own flag')
    .option('--timezone <zone>', 'read the fields in this IANA zone, e.g. Europe/Berlin (default UTC)'))
    .action(async (cron: string, options: SchedulesOptions) => {
      await addSchedule(cron, options);
    });
  withProject(schedules.command('list').description('List the schedules with their next run and refused ticks.'))
    .action(async (options: SchedulesOptions) => {
      await listSchedules(options);
    });
  addApiOptions(schedules.command('rm').description('Remove a schedule.').argument('<id>', 'the schedule (sch_…)'))
    .action(async (id: string, options: ApiOptions) => {
      await removeSchedule(id, options);
    });
}

export async function addSchedule(cron: string, options: SchedulesOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const out = createOutput(options);
  const input = parseInputOption(options.input);
  const version = options.codeVersion === undefined ? undefined : parsePositiveInteger('--code-version', options.codeVersion);
  const { client, connection } = connect(options, env);
  const projectId = resolveProjectId(options.project, connection);
  const schedule = await callApi(`add a schedule to ${projectId}`, () => client.createSchedule(projectId, {
    cron, input, ...(version !== undefined ? { version } : {}), ...(options.timezone !== undefined ? { timezone: options.timezone } : {}),
  }));
  out.json(schedule);
  out.line(`${out.ok('added')} ${schedule.id} ${schedule.cron} ${out.dim(`(next run ${schedule.nextRunAt ?? 'never'})`)}`);
}

export async function listSchedules(options: SchedulesOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const out = createOutput(options);
  const { client, connection } = connect(options, env);
  const projectId = resolveProjectId(options.project, connection);
  const items = await callApi(`list the schedules of ${projectId}`, () => client.listSchedules(projectId));
  out.json({ projectId, items });
  if (items.length === 0) out.line(out.dim('no schedules'));
  for (const s of items) {
    const refused = s.refusedTicks > 0 ? out.fail(` refused ${s.refusedTicks}${s.lastRefusal ? ` (last ${s.lastRefusal.at}: ${s.lastRefusal.reason})` : ''}`) : '';
    const pins = [s.timezone, s.version === undefined ? undefined : `v${s.version}`].filter(Boolean).join(' ');
    out.line(`${s.id}  ${s.cron.padEnd(16)}  next ${s.nextRunAt ?? 'never'}  input ${JSON.stringify(s.input)}${pins ? `  ${pins}` : ''}${refused}`);
  }
}

export async function removeSchedule(id: string, options: ApiOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const out = createOutput(options);
  const { client } = connect(options, env);
  await callApi(`remove ${id}`, () => client.deleteSchedule(id));
  out.json({ removed: id });
  out.line(`${out.ok('removed')} ${id}`);
}

// `gateway requests list`: a project's requests, newest first, a page at a time.
import type { Command } from 'commander';
import { createOutput } from '../output.ts';
import { addApiOptions, type ApiOptions, callApi, connect, PROJECT_OPTION, resolveProjectId } from '../profile.ts';
import { parsePositiveInteger } from './invoke.ts';

interface RequestsOptions extends ApiOptions {
  readonly project?: string;
  readonly limit: string;
  readonly cursor?: string;
}

export function registerRequestsCommand(program: Command): void {
  const requests = program.command('requests').description('Read a project\'s requests.');
  addApiOptions(requests
    .command('list')
    .description('List the project\'s requests, newest first.')
    .option(...PROJECT_OPTION)
    .option('--limit <n>', 'how many (1..500)', '20')
    .option('--cursor <cursor>', 'the next page: the cursor the previous page printed'))
    .action(async (options: RequestsOptions) => {
      await listRequests(options);
    });
}

export async function listRequests(options: RequestsOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const out = createOutput(options);
  const limit = parsePositiveInteger('--limit', options.limit);
  const { client, connection } = connect(options, env);
  const projectId = resolveProjectId(options.project, connection);
  const page = await callApi(`list the requests of ${projectId}`, () => client.listRequests(projectId, { limit, ...(options.cursor ? { cursor: options.cursor } : {}) }));
  out.json(page);
  if (page.items.length === 0) out.line(out.dim('no requests'));
  for (const r of page.items) {
    const outcome = r.ok === true ? out.ok('ok') : r.ok === false ? out.fail('threw') : r.failure ? out.fail(r.failure.code) : '';
    const status = r.status === 'failed' ? out.fail(r.status) : r.status;
    out.line(`${r.id}  ${status.padEnd(9)}  ${outcome.padEnd(6)}  v${r.version}  ${r.source.padEnd(8)}  ${r.createdAt}${r.ledger ? `  seq ${r.ledger.seq}` : ''}`);
  }
  if (page.nextCursor !== null) out.line(out.dim(`more: --cursor ${page.nextCursor}`));
}

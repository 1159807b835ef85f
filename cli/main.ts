// The `gateway` command: one program, one module per command under cli/commands/.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CliError, EXIT } from './exit-codes.ts';
import { COMMANDS } from './commands/index.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('gateway')
    .description('Work with a Gateway: scaffold a project and run it on a simulated committee, deploy and invoke it, read its logs, secrets and schedules, verify receipts offline, export them, onboard nodes, prepare Redis users.')
    .version(version)
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

/** A reader that stopped reading (`gateway … | head`) ends the command quietly, not with a stack trace. */
function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode === undefined ? EXIT.ok : Number(process.exitCode));
    throw error;
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  endQuietlyOnClosedPipe(process.stdout);
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here too, with code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`gateway: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`gateway: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT.failed;
  }
}

if (import.meta.main) {
  // `npm run gateway -- …` runs this from the package root: work where the user typed it, as `npx gateway` does.
  if (process.env.npm_lifecycle_event === 'gateway' && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
  process.exitCode = await main(process.argv.slice(2));
}

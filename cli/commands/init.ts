// `gateway init [dir]`: scaffolds a project (cli/scaffold/templates.ts) that runs in the simulator
// as it is: `gateway simulate` in the new folder, and `node --test` for its test.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.ts';
import { createOutput } from '../output.ts';
import { scaffoldFiles, type ScaffoldPaths } from '../scaffold/templates.ts';

interface InitFlags {
  readonly name?: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('Scaffold a project: index.ts (a typed example whose ctx.fetch fixtures.json answers), input.json, gateway.json (name, committee, aggregation, limits, schedules), fixtures.json, tsconfig.json, .env.example and index.test.mjs, a test that runs the code in the simulator.')
    .argument('[dir]', 'the folder to create or fill; default the current folder', '.')
    .option('--name <name>', 'the project name in gateway.json; default the folder\'s name')
    .option('--force', 'write into a folder that is not empty (files of the same name are replaced)')
    .option('--json', 'print the files written as one JSON document')
    .addHelpText('after', '\nThen: cd <dir> && npx gateway simulate    (or node --test for its test)')
    .action((dir: string, flags: InitFlags) => runInit(dir, flags));
}

function runInit(dir: string, flags: InitFlags): void {
  const out = createOutput(flags);
  const target = resolve(dir);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new CliError(`${dir} exists and is not a folder`, EXIT.usage);
    if (readdirSync(target).length > 0 && !flags.force) throw new CliError(`${dir} is not empty; pass --force to write into it`, EXIT.usage);
  }
  const name = flags.name ?? (basename(target) || 'gateway-project');
  try {
    mkdirSync(target, { recursive: true });
    const files = scaffoldFiles(name, scaffoldPaths(target));
    for (const [file, content] of Object.entries(files)) writeFileSync(join(target, file), content);
    out.line(`created ${Object.keys(files).join(', ')} in ${dir}`);
    out.line(`next: cd ${dir} && npx gateway simulate --nodes 3 --byzantine 1   (node --test runs index.test.mjs)`);
    out.json({ dir: target, name, files: Object.keys(files) });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot write ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, EXIT.environment);
  }
}

// `import type … from 'gateway/types'` only where it resolves (inside this checkout by the package's
// own name, or with gateway installed); elsewhere a triple-slash reference to this checkout's file.
function scaffoldPaths(target: string): ScaffoldPaths {
  const toPosix = (path: string) => path.split(sep).join('/');
  const relativeTo = (path: string) => {
    const rel = toPosix(relative(target, path));
    return rel.startsWith('.') ? rel : `./${rel}`;
  };
  let isTypesPackage = false;
  try {
    isTypesPackage = existsSync(createRequire(join(target, 'index.js')).resolve('gateway/types'));
  } catch {
    isTypesPackage = false;
  }
  return { isTypesPackage, typesFile: relativeTo(join(ROOT, 'types', 'index.d.ts')), gatewayBin: relativeTo(join(ROOT, 'bin', 'gateway.mjs')) };
}

#!/usr/bin/env node
// The `gateway` command. It may start on any Node (a machine's PATH may hold Node 20); the CLI
// itself runs on the Node 24 the project pins (the `node` devDependency), which strips types.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'cli', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  const cli = await import(main);
  process.exitCode = await cli.main(process.argv.slice(2));
} else {
  const pinned = [join(root, 'node_modules', 'node', 'bin', 'node'), join(root, 'node_modules', '.bin', 'node')].find((p) => existsSync(p));
  if (!pinned) {
    process.stderr.write(`gateway: needs Node 24 (this is ${process.version}); run \`npm install\` in ${root} first\n`);
    process.exit(3);
  }
  const child = spawn(pinned, [main, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

// Every command the `gateway` program knows, each registering itself on the program.
import type { Command } from 'commander';
import { registerExportCommand } from './export.ts';
import { registerInitCommand } from './init.ts';
import { registerNodeCommand } from './node.ts';
import { registerRedisAclCommand } from './redis-acl.ts';
import { registerSimulateCommand } from './simulate.ts';
import { registerVerifyCommand } from './verify.ts';

export const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  registerInitCommand, registerSimulateCommand, registerExportCommand, registerNodeCommand, registerRedisAclCommand, registerVerifyCommand,
];

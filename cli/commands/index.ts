// Every command the `gateway` program knows, each registering itself on the program.
import type { Command } from 'commander';
import { registerDeployCommand } from './deploy.ts';
import { registerExportCommand } from './export.ts';
import { registerInitCommand } from './init.ts';
import { registerInvokeCommand } from './invoke.ts';
import { registerLogsCommand } from './logs.ts';
import { registerNodeCommand } from './node.ts';
import { registerRedisAclCommand } from './redis-acl.ts';
import { registerRequestsCommand } from './requests.ts';
import { registerSchedulesCommand } from './schedules.ts';
import { registerSecretsCommand } from './secrets.ts';
import { registerSimulateCommand } from './simulate.ts';
import { registerVerifyCommand } from './verify.ts';

export const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  registerInitCommand, registerSimulateCommand, registerDeployCommand, registerInvokeCommand, registerLogsCommand, registerRequestsCommand,
  registerSecretsCommand, registerSchedulesCommand, registerVerifyCommand, registerExportCommand, registerNodeCommand, registerRedisAclCommand,
];

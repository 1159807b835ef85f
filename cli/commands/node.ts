// `gateway node init`: a node's seed file and the signed registration the admin sends to
// `POST /v1/nodes` (protocol v2, docs/protocol.md "Node registration"). No gateway is contacted.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { deriveNodeKeys } from '../../lib/crypto/keys.ts';
import { GatewayError } from '../../lib/errors.ts';
import { loadOrCreateNodeSeed } from '../../lib/node-key-file.ts';
import { createNodeRegistration, type NodeRegistration } from '../../lib/roles/node-record.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { createOutput } from '../output.ts';

const DEFAULT_KEY_FILE = 'node.key';
const MAX_NAME_LENGTH = 100;

interface InitOptions {
  readonly keyFile: string;
  readonly name?: string;
  readonly json?: boolean;
}

export function registerNodeCommand(program: Command): void {
  const node = program.command('node').description('Onboard an executor node.');
  node
    .command('init')
    .description('Create the node\'s seed file (or read it: it is never overwritten) and print the node\'s registration: the body of POST /v1/nodes.')
    .option('--key-file <path>', 'the node\'s 32-byte seed (hex, mode 0600); the executor\'s NODE_KEY_FILE', DEFAULT_KEY_FILE)
    .option('--name <name>', 'the display name the registration signs (at most 100 characters)')
    .option('--json', 'print only the registration, as the JSON body of POST /v1/nodes')
    .action((options: InitOptions) => initNode(options));
}

/** What `node init` did: the registration, the seed file, and whether it was created now. */
interface NodeInit {
  readonly registration: NodeRegistration;
  readonly keyFile: string;
  readonly isCreated: boolean;
}

/** Reads or creates the seed file and signs the registration; a seed file is never overwritten. */
function createNodeInit(keyFile: string, name: string): NodeInit {
  if (name.length > MAX_NAME_LENGTH) throw new CliError(`--name is ${name.length} characters, at most ${MAX_NAME_LENGTH}`, EXIT.usage);
  const path = resolve(keyFile);
  const isCreated = !existsSync(path);
  let seed: Uint8Array;
  try {
    seed = loadOrCreateNodeSeed(path);
  } catch (error) {
    const reason = error instanceof GatewayError ? error.message : `${path} cannot be written (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new CliError(reason, EXIT.environment);
  }
  return { registration: createNodeRegistration(deriveNodeKeys(seed), name), keyFile: path, isCreated };
}

function initNode(options: InitOptions): void {
  const out = createOutput(options);
  const { registration, keyFile, isCreated } = createNodeInit(options.keyFile, options.name ?? '');
  if (!isCreated && (statSync(keyFile).mode & 0o077) !== 0) process.stderr.write(`gateway: warning: ${keyFile} is readable by other users; chmod 600 it\n`);
  out.json(registration);
  out.line(`${out.ok(isCreated ? 'created' : 'read')} ${keyFile} ${out.dim('(keep it: a new seed is a new node)')}`);
  out.line(`node id        ${registration.id}`);
  out.line(`name           ${registration.name === '' ? out.dim('(none)') : registration.name}`);
  out.line(`sign key       ${registration.signPublicKey}`);
  out.line(`VRF key        ${registration.vrfPublicKey}`);
  out.line(`registration   ${registration.registration}`);
  out.line('');
  out.line('The admin registers the node with this body (POST /v1/nodes, admin token):');
  out.line(JSON.stringify(registration));
}

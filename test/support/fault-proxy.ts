// A TCP proxy between ioredis clients and a real redis-server that injects one fault on request: it
// forwards a matching command, lets Redis apply it, and cuts the connection before the reply reaches
// the client. The client reconnects and re-sends what it had in flight (autoResendUnfulfilledCommands),
// so the command runs twice: what test/faults checks every write survives.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { parseCommand, skipValue, type RedisCommand } from './resp.ts';

export type { RedisCommand } from './resp.ts';

/** Picks the command to fault. Inside MULTI…EXEC a match makes the EXEC the faulted command. */
export type CommandMatcher = (command: RedisCommand) => boolean;

/** What was faulted: the command Redis applied and whose reply never reached the client. */
export interface InjectedFault {
  readonly command: RedisCommand;
  /** Resolves when the same command (name and arguments) reaches the proxy again: the client re-sent it. */
  readonly resent: Promise<void>;
}

export interface FaultProxy {
  /** `redisUrl` with the proxy's host and port (same credentials). */
  readonly url: string;
  /** Client connections accepted so far (a reconnect adds one). */
  connectionCount(): number;
  /**
   * Arms one fault: the next command that `matcher` picks and that Redis answers without an error
   * (a NOSCRIPT, for instance, leaves it armed) is applied, then its connection is cut before the
   * reply, together with the replies of the commands the client wrote in the same chunk (a pipeline
   * is left wholly unanswered, so ioredis re-sends all of it). Resolves once the fault happened.
   */
  dropReplyOnce(matcher: CommandMatcher): Promise<InjectedFault>;
  stop(): Promise<void>;
}

/** The declared keys and the arguments of an EVALSHA/EVAL; null for any other command. */
export function scriptArgs(command: RedisCommand): { keys: readonly string[]; argv: readonly string[] } | null {
  if (command.name !== 'evalsha' && command.name !== 'eval') return null;
  const count = Number(command.args[1]);
  return { keys: command.args.slice(2, 2 + count), argv: command.args.slice(2 + count) };
}

/** Matches EVALSHA/EVAL of a script by its declared keys and its arguments. */
export function scriptCall(match: (keys: readonly string[], argv: readonly string[]) => boolean): CommandMatcher {
  return (command) => {
    const call = scriptArgs(command);
    return call !== null && match(call.keys, call.argv);
  };
}

/** Matches EVALSHA/EVAL of a script one of whose declared keys contains `keyPart`. */
export function scriptWithKey(keyPart: string): CommandMatcher {
  return scriptCall((keys) => keys.some((key) => key.includes(keyPart)));
}

/** Matches a plain command by name whose first argument (its key) contains `keyPart`. */
export function commandOnKey(name: string, keyPart: string): CommandMatcher {
  return (command) => command.name === name && (command.args[0] ?? '').includes(keyPart);
}

interface Armed {
  readonly matcher: CommandMatcher;
  resolve(fault: InjectedFault): void;
  /** The connection whose matching command waits for its reply. */
  claimedBy?: ProxiedConnection;
}

interface ProxyState {
  armed: Armed | undefined;
  /** Faulted commands (by `commandKey`) not seen again yet, with what to call when they are. */
  readonly awaitingResend: Map<string, () => void>;
}

const commandKey = (command: RedisCommand): string => [command.name, ...command.args].join('\u0000');

interface Pending {
  readonly command: RedisCommand;
  /** The client data event the command arrived in. */
  readonly chunk: number;
  isTarget: boolean;
}

const SUBSCRIBING = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'monitor']);
const PUSH = 0x3e; // '>'
const ERROR = 0x2d; // '-'
const BLOB_ERROR = 0x21; // '!'

/** Starts the proxy on a free loopback port in front of `redisUrl`. */
export async function startFaultProxy(redisUrl: string): Promise<FaultProxy> {
  const target = new URL(redisUrl);
  const connections = new Set<ProxiedConnection>();
  let accepted = 0;
  const state: ProxyState = { armed: undefined, awaitingResend: new Map() };

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(Number(target.port), target.hostname);
    const connection = new ProxiedConnection(client, upstream, state, () => connections.delete(connection));
    connections.add(connection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('the fault proxy has no address');
  const url = new URL(redisUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);

  return {
    url: url.toString(),
    connectionCount: () => accepted,
    dropReplyOnce(matcher) {
      if (state.armed) throw new Error('a fault is armed already');
      return new Promise<InjectedFault>((resolve) => {
        state.armed = { matcher, resolve: (fault) => { state.armed = undefined; resolve(fault); } };
      });
    },
    async stop() {
      state.armed = undefined;
      for (const connection of connections) connection.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One client connection and its own upstream connection, with the client's commands in flight. */
class ProxiedConnection {
  private readonly client: Socket;
  private readonly upstream: Socket;
  private readonly state: ProxyState;
  private readonly onClose: () => void;
  private requestBuffer: Buffer = Buffer.alloc(0);
  private replyBuffer: Buffer = Buffer.alloc(0);
  /** The start of the first reply not parsed yet, in `replyBuffer` (the bytes not forwarded yet). */
  private parsedTo = 0;
  /** Where held replies start in `replyBuffer`: those of the commands written in the faulted command's chunk. */
  private holdFrom: number | undefined;
  private readonly pending: Pending[] = [];
  private chunk = 0;
  /** A subscribed connection gets pushes, not one reply per command: it is passed through untouched. */
  private isPassthrough = false;
  private multi: { hasMatch: boolean } | undefined;
  private isDestroyed = false;

  constructor(client: Socket, upstream: Socket, state: ProxyState, onClose: () => void) {
    this.client = client;
    this.upstream = upstream;
    this.state = state;
    this.onClose = onClose;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (data: Buffer) => this.fromClient(data));
    upstream.on('data', (data: Buffer) => this.fromUpstream(data));
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.destroy());
      socket.on('close', () => this.destroy());
    }
  }

  destroy(): void {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    if (this.state.armed?.claimedBy === this) this.state.armed.claimedBy = undefined;
    this.client.destroy();
    this.upstream.destroy();
    this.onClose();
  }

  private fromClient(data: Buffer): void {
    if (this.isDestroyed) return;
    this.upstream.write(data);
    if (this.isPassthrough) return;
    const chunk = ++this.chunk;
    this.requestBuffer = this.requestBuffer.length ? Buffer.concat([this.requestBuffer, data]) : data;
    let offset = 0;
    for (;;) {
      const parsed = parseCommand(this.requestBuffer, offset);
      if (!parsed) break;
      offset = parsed.end;
      const command = parsed.command;
      const key = commandKey(command);
      this.state.awaitingResend.get(key)?.();
      this.state.awaitingResend.delete(key);
      if (SUBSCRIBING.has(command.name)) {
        this.isPassthrough = true;
        return;
      }
      this.pending.push({ command, chunk, isTarget: this.isMatch(command) });
    }
    this.requestBuffer = this.requestBuffer.subarray(offset);
  }

  /** Claims the armed fault for this command when it matches (tracking MULTI…EXEC). */
  private isMatch(command: RedisCommand): boolean {
    const armed = this.state.armed;
    if (command.name === 'multi') {
      this.multi = { hasMatch: false };
      return false;
    }
    if (this.multi && command.name !== 'exec' && command.name !== 'discard') {
      if (armed && !armed.claimedBy && armed.matcher(command)) this.multi.hasMatch = true;
      return false;
    }
    if (this.multi) {
      const hasMatch = this.multi.hasMatch && command.name === 'exec';
      this.multi = undefined;
      if (!hasMatch || !armed || armed.claimedBy) return false;
      armed.claimedBy = this;
      return true;
    }
    if (!armed || armed.claimedBy || !armed.matcher(command)) return false;
    armed.claimedBy = this;
    return true;
  }

  private fromUpstream(data: Buffer): void {
    if (this.isDestroyed) return;
    if (this.isPassthrough) {
      // Whatever was buffered when the connection subscribed goes first.
      this.client.write(this.replyBuffer.length ? Buffer.concat([this.replyBuffer, data]) : data);
      this.replyBuffer = Buffer.alloc(0);
      this.parsedTo = 0;
      return;
    }
    this.replyBuffer = this.replyBuffer.length ? Buffer.concat([this.replyBuffer, data]) : data;
    for (;;) {
      const at = this.parsedTo;
      const end = skipValue(this.replyBuffer, at);
      if (end < 0) break;
      this.parsedTo = end;
      const type = this.replyBuffer[at];
      // Pushes answer no command.
      if (type === PUSH) continue;
      const next = this.pending.shift();
      if (!next) throw new Error('the fault proxy saw a reply to no command');
      if (next.isTarget) {
        const armed = this.state.armed;
        if (type !== ERROR && type !== BLOB_ERROR && armed?.claimedBy === this) {
          // Applied by Redis: neither this reply nor the held ones of its chunk reach the client.
          this.client.write(this.replyBuffer.subarray(0, this.holdFrom ?? at));
          const resent = new Promise<void>((resolve) => this.state.awaitingResend.set(commandKey(next.command), resolve));
          armed.resolve({ command: next.command, resent });
          this.destroy();
          return;
        }
        if (armed?.claimedBy === this) armed.claimedBy = undefined;
        this.holdFrom = undefined;
        continue;
      }
      if (this.holdFrom === undefined && this.pending.some((p) => p.isTarget && p.chunk === next.chunk)) this.holdFrom = at;
    }
    const forwardTo = this.holdFrom ?? this.parsedTo;
    if (forwardTo > 0) this.client.write(this.replyBuffer.subarray(0, forwardTo));
    this.replyBuffer = this.replyBuffer.subarray(forwardTo);
    this.parsedTo -= forwardTo;
    if (this.holdFrom !== undefined) this.holdFrom -= forwardTo;
  }
}

// A test stand-in for an Archway node: CometBFT 0.38 JSON-RPC over HTTP on 127.0.0.1, backed by a Cosmos SDK-like app with the D3LAB gateway contract.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChainApp, type StandinTx } from './app.ts';
import { statusJson } from './comet-json.ts';
import type { ContractModel } from './contract-model.ts';
import { RpcError, searchTxs } from './rpc.ts';

export { classicContractAddress, gasFor, type StandinMsg, type StandinTx } from './app.ts';

/** Options for `startChainStandin`. */
export interface ChainStandinOptions {
  /** Default 'archway-standin-1'. */
  chainId?: string;
  /** Bech32 prefix; default 'archway'. */
  prefix?: string;
  /** The gateway contract's address; default wasmd's classic address for code 1, instance 1 (`classicContractAddress(prefix, 1, 1)`). */
  contractAddress?: string;
  /** The contract owner `Config` reports; default a fixed address. */
  owner?: string;
  /** The node's minimum gas price, e.g. '0.001aarch'; CheckTx rejects lower fees (code 13). Default: any fee. */
  minGasPrice?: string;
}

/** A running stand-in. */
export interface ChainStandin {
  /** `http://127.0.0.1:<port>`, the RPC URL to hand to cosmjs. */
  readonly url: string;
  readonly chainId: string;
  readonly contractAddress: string;
  /** The live contract state (tests may create projects and requests on it directly). */
  readonly model: ContractModel;
  /** Every DeliverTx, in order. */
  readonly txs: readonly StandinTx[];
  /** CheckTx failures, in order. */
  readonly rejected: readonly { hash?: string; code: number; log: string }[];
  height(): number;
  accountSequence(address: string): number;
  /** Simulates another transaction from `address` landing first: its sequence goes up by one. */
  bumpSequence(address: string): void;
  /** The next DeliverTx whose messages include a SaveResultMsg fails with `code` and `log` (state unchanged, sequence still consumed, as on a real chain). */
  failNextDeliver(code: number, log: string): void;
  /** Requests received per RPC method (e.g. 'broadcast_tx_sync'); 'abci_query:<path>' counts one query path. */
  calls(method: string): number;
  close(): Promise<void>;
}

class Standin implements ChainStandin {
  readonly app: ChainApp;
  readonly server: http.Server;
  url = '';
  port = 0;
  closed: Promise<void> | undefined;

  constructor(app: ChainApp) {
    this.app = app;
    this.server = http.createServer((req, res) => void this.serve(req, res));
  }

  get chainId(): string {
    return this.app.chainId;
  }
  get contractAddress(): string {
    return this.app.contractAddress;
  }
  get model(): ContractModel {
    return this.app.model;
  }
  get txs(): readonly StandinTx[] {
    return this.app.txs;
  }
  get rejected(): readonly { hash?: string; code: number; log: string }[] {
    return this.app.rejected;
  }
  height(): number {
    return this.app.height();
  }
  accountSequence(address: string): number {
    return this.app.account(address).sequence;
  }
  bumpSequence(address: string): void {
    this.app.account(address).sequence += 1;
  }
  failNextDeliver(code: number, log: string): void {
    this.app.failNext = { code, log };
  }
  calls(method: string): number {
    return this.app.counts.get(method) ?? 0;
  }

  /** Answers one JSON-RPC call; the methods cosmjs 0.38's Comet38Client uses, plus `health`. */
  dispatch(method: string, params: Record<string, unknown>): object {
    const app = this.app;
    switch (method) {
      case 'status':
        return statusJson(app.chainId, this.port, app.blocks[0]!, app.blocks.at(-1)!);
      case 'abci_query':
        return app.abciQuery(params);
      case 'broadcast_tx_sync':
        return app.broadcastTxSync(params);
      case 'tx':
        return app.tx(params);
      case 'tx_search':
        return searchTxs([...app.committed.values()], params);
      case 'block':
        return app.block(params);
      case 'health':
        return {};
      default:
        throw new RpcError(-32601, 'Method not found', '');
    }
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  /** POST JSON-RPC 2.0: `{jsonrpc, id, method, params}` in, `{jsonrpc: '2.0', id, result | error}` out; each connection closes after its answer. */
  async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let id: unknown = null;
    let status = 200;
    let body: object;
    try {
      const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method?: unknown; params?: unknown };
      id = request.id ?? null;
      if (req.method !== 'POST' || typeof request.method !== 'string') throw new RpcError(-32600, 'Invalid Request', 'expected a POST with a JSON-RPC 2.0 request');
      this.app.count(request.method);
      const params = request.params && typeof request.params === 'object' && !Array.isArray(request.params) ? (request.params as Record<string, unknown>) : {};
      body = { jsonrpc: '2.0', id, result: this.dispatch(request.method, params) };
    } catch (error) {
      const parse = error instanceof SyntaxError;
      if (parse) status = 500; // CometBFT answers an unparsable body with HTTP 500
      const rpc = error instanceof RpcError ? error : new RpcError(parse ? -32700 : -32603, parse ? 'Parse error' : 'Internal error', (error as Error).message);
      body = { jsonrpc: '2.0', id, error: { code: rpc.code, message: rpc.message, data: rpc.data } };
    }
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify(body));
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closed;
  }
}

/** Starts a stand-in node on 127.0.0.1 (a free port) with an empty contract and one genesis block. */
export async function startChainStandin(options: ChainStandinOptions = {}): Promise<ChainStandin> {
  const standin = new Standin(new ChainApp(options));
  await standin.listen();
  return standin;
}

// The app side of the chain stand-in: accounts, blocks, CheckTx/DeliverTx of wasm execute txs, and the gRPC queries cosmjs routes through abci_query.
import { sha256 } from '@cosmjs/crypto';
import { fromBase64, fromHex, fromUtf8, toAscii, toBech32, toHex, toUtf8 } from '@cosmjs/encoding';
import { GasPrice } from '@cosmjs/stargate';
import { BaseAccount } from 'cosmjs-types/cosmos/auth/v1beta1/auth';
import { QueryAccountRequest, QueryAccountResponse } from 'cosmjs-types/cosmos/auth/v1beta1/query';
import { TxMsgData } from 'cosmjs-types/cosmos/base/abci/v1beta1/abci';
import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';
import { SimulateRequest, SimulateResponse } from 'cosmjs-types/cosmos/tx/v1beta1/service';
import { QuerySmartContractStateRequest, QuerySmartContractStateResponse } from 'cosmjs-types/cosmwasm/wasm/v1/query';
import { MsgExecuteContractResponse } from 'cosmjs-types/cosmwasm/wasm/v1/tx';
import { AbciError, ante, checkAddress, decodeTx, type DecodedTx } from './ante.ts';
import { abciQueryJson, blockJson, type AbciEvent, type BlockRecord, type ExecResult, fakeHash, txJson, type TxRecord } from './comet-json.ts';
import { ContractError, ContractModel } from './contract-model.ts';
import { RpcError } from './rpc.ts';

/** One MsgExecuteContract of a delivered tx. */
export interface StandinMsg {
  readonly sender: string;
  readonly contract: string;
  /** The parsed JSON message. */
  readonly msg: unknown;
}

/** One DeliverTx, successful or not. */
export interface StandinTx {
  readonly hash: string;
  readonly height: number;
  readonly code: number;
  readonly log: string;
  readonly signer: string;
  readonly sequence: number;
  readonly msgs: readonly StandinMsg[];
}

/** How the app is set up; documented on `ChainStandinOptions`, which has the same fields. */
export interface ChainAppOptions {
  chainId?: string;
  prefix?: string;
  contractAddress?: string;
  owner?: string;
  minGasPrice?: string;
}

/** An account as x/auth stores it. */
export interface Account {
  accountNumber: number;
  sequence: number;
  pubkey?: Uint8Array;
}

/** Gas the stand-in charges: 80000 per tx plus 25000 per message, in simulation and in DeliverTx alike. */
export function gasFor(messages: number): number {
  return 80_000 + 25_000 * messages;
}

/** wasmd's classic contract address: sha256(sha256("module") ‖ "wasm" ‖ 0 ‖ code id ‖ instance id), 32 bytes. */
export function classicContractAddress(prefix: string, codeId: number, instanceId: number): string {
  const key = new Uint8Array(16);
  const view = new DataView(key.buffer);
  view.setBigUint64(0, BigInt(codeId));
  view.setBigUint64(8, BigInt(instanceId));
  return toBech32(prefix, sha256(Uint8Array.from([...sha256(toAscii('module')), ...toAscii('wasm'), 0, ...key])));
}

const SIMULATE_GAS_WANTED = '18446744073709551615'; // simulation runs on an infinite gas meter

/** The chain: state plus the CheckTx/DeliverTx/query logic a Cosmos SDK app with wasmd would run. */
export class ChainApp {
  readonly chainId: string;
  readonly prefix: string;
  readonly contractAddress: string;
  readonly model: ContractModel;
  readonly txs: StandinTx[] = [];
  readonly rejected: { hash?: string; code: number; log: string }[] = [];
  readonly minGasPrice: GasPrice | undefined;
  readonly accounts = new Map<string, Account>();
  readonly blocks: BlockRecord[] = [];
  readonly committed = new Map<string, TxRecord>();
  /** CometBFT's mempool cache: successfully committed txs stay in it, so re-sending the same bytes is refused. */
  readonly cache = new Set<string>();
  /** Requests per RPC method, and per abci_query path as 'abci_query:<path>'. */
  readonly counts = new Map<string, number>();
  failNext: { code: number; log: string } | undefined;

  constructor(options: ChainAppOptions) {
    this.chainId = options.chainId ?? 'archway-standin-1';
    this.prefix = options.prefix ?? 'archway';
    this.contractAddress = options.contractAddress ?? classicContractAddress(this.prefix, 1, 1);
    checkAddress(this.contractAddress, this.prefix, 'contract');
    this.model = new ContractModel(options.owner ?? toBech32(this.prefix, sha256(toAscii('d3lab gateway owner')).slice(0, 20)));
    this.minGasPrice = options.minGasPrice ? GasPrice.fromString(options.minGasPrice) : undefined;
    this.addBlock([]);
  }

  /** The latest block height (the genesis block is height 1; every DeliverTx adds one block). */
  height(): number {
    return this.blocks.length;
  }

  /** The live account for an address, created (with the next account number, sequence 0) on first sight. */
  account(address: string): Account {
    let account = this.accounts.get(address);
    if (!account) this.accounts.set(address, (account = { accountNumber: 10 + this.accounts.size, sequence: 0 }));
    return account;
  }

  /** Counts one request under `key`. */
  count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Commits a block holding `txs`, with an app hash over the contract state. */
  addBlock(txs: Uint8Array[]): BlockRecord {
    const height = this.blocks.length + 1;
    const last = this.blocks.at(-1);
    const time = new Date(Math.max(Date.now(), (last?.time.getTime() ?? 0) + 1));
    const appHash = toHex(sha256(toUtf8(JSON.stringify([...this.model.projects.values()])))).toUpperCase();
    const block = { height, time, txs, hash: fakeHash(`block ${this.chainId} ${height} ${time.getTime()}`), appHash };
    this.blocks.push(block);
    return block;
  }

  /** Runs a tx's messages on `model` (a clone), as wasmd would; a failing message throws the AbciError DeliverTx reports. */
  run(model: ContractModel, tx: DecodedTx): AbciEvent[] {
    return tx.msgs.flatMap((m, i): AbciEvent[] => {
      const prefix = `failed to execute message; message index: ${i}`;
      if (m.contract !== this.contractAddress) throw new AbciError(22, 'wasm', `${prefix}: address ${m.contract}: no such contract`);
      let attributes;
      try {
        ({ attributes } = model.execute(m.msg, m.sender));
      } catch (error) {
        if (!(error instanceof ContractError)) throw error;
        throw new AbciError(5, 'wasm', `${prefix}: ${error.message}: execute wasm contract failed`);
      }
      const index = { key: 'msg_index', value: String(i) };
      return [
        { type: 'message', attributes: [{ key: 'action', value: '/cosmwasm.wasm.v1.MsgExecuteContract' }, { key: 'sender', value: m.sender }, { key: 'module', value: 'wasm' }, index] },
        { type: 'execute', attributes: [{ key: '_contract_address', value: m.contract }, index] },
        { type: 'wasm', attributes: [{ key: '_contract_address', value: m.contract }, ...attributes, index] },
      ];
    });
  }

  /** Success data: TxMsgData with one MsgExecuteContractResponse per message. */
  txData(tx: DecodedTx): Uint8Array {
    const response = { typeUrl: '/cosmwasm.wasm.v1.MsgExecuteContractResponse', value: MsgExecuteContractResponse.encode({ data: new Uint8Array() }).finish() };
    return TxMsgData.encode({ data: [], msgResponses: tx.msgs.map(() => response) }).finish();
  }

  /** DeliverTx in a new block: the ante handler already passed (sequence consumed); messages apply all-or-nothing. */
  deliver(tx: DecodedTx): void {
    const gasUsed = gasFor(tx.msgs.length);
    const fee = (tx.authInfo.fee?.amount ?? []).map((c) => `${c.amount}${c.denom}`).join(',');
    const anteEvents: AbciEvent[] = [
      { type: 'tx', attributes: [{ key: 'fee', value: fee }, { key: 'fee_payer', value: tx.signer }] },
      { type: 'tx', attributes: [{ key: 'acc_seq', value: `${tx.signer}/${tx.sequence}` }] },
    ];
    let result: ExecResult;
    const fail = (code: number, codespace: string, log: string): ExecResult => ({ code, codespace, log, data: new Uint8Array(), gasWanted: tx.gasLimit, gasUsed, events: anteEvents });
    const injected = this.failNext && tx.msgs.some((m) => typeof m.msg === 'object' && m.msg !== null && 'SaveResultMsg' in m.msg);
    if (injected) {
      result = fail(this.failNext!.code, 'sdk', this.failNext!.log);
      this.failNext = undefined;
    } else if (gasUsed > tx.gasLimit) {
      result = fail(11, 'sdk', `out of gas in location: wasm contract; gasWanted: ${tx.gasLimit}, gasUsed: ${gasUsed}: out of gas`);
    } else {
      const draft = this.model.clone();
      try {
        const events = this.run(draft, tx);
        this.model.adopt(draft);
        result = { code: 0, codespace: '', log: '', data: this.txData(tx), gasWanted: tx.gasLimit, gasUsed, events: [...anteEvents, ...events] };
      } catch (error) {
        if (!(error instanceof AbciError)) throw error;
        result = fail(error.code, error.codespace, error.message);
      }
    }
    const block = this.addBlock([tx.bytes]);
    this.committed.set(tx.hash, { hash: tx.hash, height: block.height, index: 0, bytes: tx.bytes, result });
    if (result.code === 0) this.cache.add(tx.hash);
    const msgs = tx.msgs.map(({ sender, contract, msg }) => ({ sender, contract, msg }));
    this.txs.push({ hash: tx.hash, height: block.height, code: result.code, log: result.log, signer: tx.signer, sequence: tx.sequence, msgs });
  }

  /** `broadcast_tx_sync`: CheckTx (ante), then DeliverTx at once; answers `{code, data, log, codespace, hash}` of CheckTx. */
  broadcastTxSync(params: Record<string, unknown>): object {
    if (typeof params.tx !== 'string') throw new RpcError(-32602, 'Invalid params', 'missing tx');
    const bytes = fromBase64(params.tx);
    const hash = toHex(sha256(bytes)).toUpperCase();
    if (this.cache.has(hash)) throw new RpcError(-32603, 'Internal error', 'tx already exists in cache');
    try {
      const tx = decodeTx(bytes, this.prefix);
      const account = this.account(tx.signer);
      const pubkey = ante(tx, { chainId: this.chainId, prefix: this.prefix, nextHeight: this.height() + 1, account, minGasPrice: this.minGasPrice, simulate: false });
      account.sequence += 1;
      account.pubkey ??= pubkey;
      this.deliver(tx);
      return { code: 0, data: '', log: '', codespace: '', hash };
    } catch (error) {
      if (!(error instanceof AbciError)) throw error;
      this.rejected.push({ hash, code: error.code, log: error.message });
      return { code: error.code, data: '', log: error.message, codespace: error.codespace, hash };
    }
  }

  /** One gRPC query routed through abci_query; failures come back as the node's code-6-wrapped query errors. */
  query(path: string, data: Uint8Array): { code: number; codespace?: string; log?: string; value?: Uint8Array } {
    const grpcError = (message: string) => new AbciError(6, 'sdk', `rpc error: code = Unknown desc = ${message}: unknown request`);
    if (path === '/cosmos.auth.v1beta1.Query/Account') {
      const { address } = QueryAccountRequest.decode(data);
      try {
        checkAddress(address, this.prefix, 'address');
      } catch (error) {
        throw new AbciError(18, 'sdk', `rpc error: code = InvalidArgument desc = ${(error as Error).message}: invalid request`);
      }
      const { accountNumber, sequence, pubkey } = this.account(address);
      const pubKey = pubkey ? { typeUrl: '/cosmos.crypto.secp256k1.PubKey', value: PubKey.encode({ key: pubkey }).finish() } : undefined;
      const value = BaseAccount.encode({ address, pubKey, accountNumber: BigInt(accountNumber), sequence: BigInt(sequence) }).finish();
      return { code: 0, value: QueryAccountResponse.encode({ account: { typeUrl: '/cosmos.auth.v1beta1.BaseAccount', value } }).finish() };
    }
    if (path === '/cosmwasm.wasm.v1.Query/SmartContractState') {
      const request = QuerySmartContractStateRequest.decode(data);
      if (request.address !== this.contractAddress) throw grpcError(`address ${request.address}: no such contract`);
      let answer: unknown;
      try {
        answer = this.model.query(JSON.parse(fromUtf8(request.queryData)));
      } catch (error) {
        throw grpcError(`${(error as Error).message}: query wasm contract failed`);
      }
      return { code: 0, value: QuerySmartContractStateResponse.encode({ data: toUtf8(JSON.stringify(answer)) }).finish() };
    }
    if (path === '/cosmos.tx.v1beta1.Service/Simulate') return this.simulate(SimulateRequest.decode(data).txBytes);
    throw new AbciError(6, 'sdk', `unknown query path: ${path}: unknown request`);
  }

  /** Simulate: the ante handler without signature and fee checks, then the messages on a throw-away clone. */
  simulate(bytes: Uint8Array): { code: number; value: Uint8Array } {
    const gasUsed = (n: number) => `With gas wanted: '${SIMULATE_GAS_WANTED}' and gas used: '${n}' `;
    let tx: DecodedTx | undefined;
    try {
      tx = decodeTx(bytes, this.prefix);
      ante(tx, { chainId: this.chainId, prefix: this.prefix, nextHeight: this.height() + 1, account: this.account(tx.signer), simulate: true });
      const events = this.run(this.model.clone(), tx);
      const gasInfo = { gasWanted: BigInt(SIMULATE_GAS_WANTED), gasUsed: BigInt(gasFor(tx.msgs.length)) };
      const result = { data: this.txData(tx), log: '', events: events.map((e) => ({ type: e.type, attributes: e.attributes.map((a) => ({ key: a.key, value: a.value, index: false })) })), msgResponses: [] };
      return { code: 0, value: SimulateResponse.encode({ gasInfo, result }).finish() };
    } catch (error) {
      if (!(error instanceof AbciError)) throw error;
      throw new AbciError(6, 'sdk', `rpc error: code = Unknown desc = ${error.message} ${gasUsed(tx ? gasFor(tx.msgs.length) : 0)}: unknown request`);
    }
  }

  /** `abci_query` with `path` and hex `data`; errors are answers with a non-zero code, not JSON-RPC errors. */
  abciQuery(params: Record<string, unknown>): object {
    const path = String(params.path ?? '');
    this.count(`abci_query:${path}`);
    try {
      return abciQueryJson(this.query(path, fromHex(String(params.data ?? ''))), this.height());
    } catch (error) {
      if (!(error instanceof AbciError)) throw error;
      return abciQueryJson({ code: error.code, codespace: error.codespace, log: error.message }, this.height());
    }
  }

  /** `block` at `height` (a string) or the latest. */
  block(params: Record<string, unknown>): object {
    const height = params.height === undefined || params.height === null ? this.height() : Number(params.height);
    const block = this.blocks[height - 1];
    if (!block) throw new RpcError(-32603, 'Internal error', `height ${height} must be less than or equal to the current blockchain height ${this.height()}`);
    return blockJson(this.chainId, block, this.blocks[height - 2]);
  }

  /** `tx` by hash: base64 bytes as cosmjs sends them, or hex. */
  tx(params: Record<string, unknown>): object {
    const raw = String(params.hash ?? '');
    const hash = /^(0x)?[0-9a-f]{64}$/i.test(raw) ? raw.replace(/^0x/, '').toUpperCase() : toHex(fromBase64(raw)).toUpperCase();
    const record = this.committed.get(hash);
    if (!record) throw new RpcError(-32603, 'Internal error', `tx (${hash}) not found`);
    return txJson(record);
  }
}

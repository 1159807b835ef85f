// The JSON shapes a CometBFT 0.38 RPC node answers with (status, block, tx, tx_search, abci_query), as cosmjs 0.38 parses them.
import { sha256 } from '@cosmjs/crypto';
import { toAscii, toBase64, toHex } from '@cosmjs/encoding';

/** The CometBFT version the stand-in reports; cosmjs's connectComet picks its Comet38Client on a "0.38." prefix. */
export const COMET_VERSION = '0.38.12';

/** An ABCI event; 0.38 sends attribute keys and values as plain strings. */
export interface AbciEvent {
  readonly type: string;
  readonly attributes: readonly { readonly key: string; readonly value: string; readonly index?: boolean }[];
}

/** A DeliverTx (FinalizeBlock ExecTxResult) outcome. */
export interface ExecResult {
  readonly code: number;
  readonly codespace: string;
  readonly log: string;
  readonly data: Uint8Array;
  readonly gasWanted: number;
  readonly gasUsed: number;
  readonly events: readonly AbciEvent[];
}

/** A committed block. */
export interface BlockRecord {
  readonly height: number;
  readonly time: Date;
  readonly txs: readonly Uint8Array[];
  /** Uppercase hex. */
  readonly hash: string;
  readonly appHash: string;
}

/** A committed tx and where it landed. */
export interface TxRecord {
  readonly hash: string;
  readonly height: number;
  readonly index: number;
  readonly bytes: Uint8Array;
  readonly result: ExecResult;
}

/** Uppercase hex SHA-256 of a string, for the made-up hashes and ids a node reports. */
export function fakeHash(seed: string, bytes = 32): string {
  return toHex(sha256(toAscii(seed)).slice(0, bytes)).toUpperCase();
}

/** RFC 3339 with nanoseconds, as Go's time.Time marshals. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, -1)}000000Z`;
}

/** `{hash, parts: {total, hash}}`; the empty form (hash '') is what a block at height 1 has as its last_block_id. */
function blockId(hash: string): object {
  return hash ? { hash, parts: { total: 1, hash: fakeHash(`parts ${hash}`) } } : { hash: '', parts: { total: 0, hash: '' } };
}

/** The `status` result: node_info (version picks the cosmjs client, network is the chain id), sync_info, validator_info. */
export function statusJson(chainId: string, port: number, genesis: BlockRecord, latest: BlockRecord): object {
  return {
    node_info: {
      protocol_version: { p2p: '8', block: '11', app: '0' },
      id: fakeHash(`node ${chainId}`, 20).toLowerCase(),
      listen_addr: 'tcp://127.0.0.1:26656',
      network: chainId,
      version: COMET_VERSION,
      channels: '40202122233038606100',
      moniker: 'chain-standin',
      other: { tx_index: 'on', rpc_address: `tcp://127.0.0.1:${port}` },
    },
    sync_info: {
      latest_block_hash: latest.hash,
      latest_app_hash: latest.appHash,
      latest_block_height: String(latest.height),
      latest_block_time: rfc3339(latest.time),
      earliest_block_hash: genesis.hash,
      earliest_app_hash: genesis.appHash,
      earliest_block_height: String(genesis.height),
      earliest_block_time: rfc3339(genesis.time),
      catching_up: false,
    },
    validator_info: {
      address: fakeHash(`validator ${chainId}`, 20),
      pub_key: { type: 'tendermint/PubKeyEd25519', value: toBase64(sha256(toAscii(`validator key ${chainId}`))) },
      voting_power: '10',
    },
  };
}

/** The `block` result for one block; `previous` is the block before it (absent at the first height). */
export function blockJson(chainId: string, block: BlockRecord, previous: BlockRecord | undefined): object {
  const h = (what: string) => fakeHash(`${what} ${chainId} ${block.height}`);
  return {
    block_id: blockId(block.hash),
    block: {
      header: {
        version: { block: '11', app: '0' },
        chain_id: chainId,
        height: String(block.height),
        time: rfc3339(block.time),
        last_block_id: blockId(previous?.hash ?? ''),
        last_commit_hash: h('last_commit'),
        data_hash: toHex(sha256(Uint8Array.from(block.txs.flatMap((tx) => [...sha256(tx)])))).toUpperCase(),
        validators_hash: fakeHash(`validators ${chainId}`),
        next_validators_hash: fakeHash(`validators ${chainId}`),
        consensus_hash: fakeHash(`consensus ${chainId}`),
        app_hash: previous?.appHash ?? block.appHash,
        last_results_hash: h('last_results'),
        evidence_hash: fakeHash('evidence'),
        proposer_address: fakeHash(`validator ${chainId}`, 20),
      },
      data: { txs: block.txs.map(toBase64) },
      evidence: { evidence: [] },
      last_commit: {
        height: String(Math.max(0, block.height - 1)),
        round: 0,
        block_id: blockId(previous?.hash ?? ''),
        signatures: [],
      },
    },
  };
}

/** ExecTxResult JSON: code is a number (uint32), gas amounts are strings (int64), data and tx bytes base64. */
export function execResultJson(result: ExecResult): object {
  return {
    code: result.code,
    data: result.data.length ? toBase64(result.data) : null,
    log: result.log,
    info: '',
    gas_wanted: String(result.gasWanted),
    gas_used: String(result.gasUsed),
    events: result.events.map((e) => ({ type: e.type, attributes: e.attributes.map((a) => ({ key: a.key, value: a.value, index: a.index ?? true })) })),
    codespace: result.codespace,
  };
}

/** A `tx` result (and one entry of `tx_search`): height a string, index a number, no proof unless asked. */
export function txJson(record: TxRecord): object {
  return { hash: record.hash, height: String(record.height), index: record.index, tx_result: execResultJson(record.result), tx: toBase64(record.bytes) };
}

/** The `abci_query` result: `{response: {...}}` with base64 value, string height and index, number code. */
export function abciQueryJson(answer: { code: number; codespace?: string; log?: string; value?: Uint8Array }, height: number): object {
  return {
    response: {
      code: answer.code,
      log: answer.log ?? '',
      info: '',
      index: '0',
      key: null,
      value: answer.value && answer.value.length ? toBase64(answer.value) : null,
      proofOps: null,
      height: String(height),
      codespace: answer.codespace ?? '',
    },
  };
}

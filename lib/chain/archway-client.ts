// The gateway's connection to Archway through @cosmjs: contract queries, and signed batches of
// results (gas from simulation times a margin, the tx hash known before broadcasting).
import { createHash } from 'node:crypto';
import { CosmWasmClient, SigningCosmWasmClient } from '@cosmjs/cosmwasm-stargate';
import { toUtf8 } from '@cosmjs/encoding';
import { DirectSecp256k1HdWallet, type EncodeObject } from '@cosmjs/proto-signing';
import { BroadcastTxError, GasPrice, calculateFee } from '@cosmjs/stargate';
import { TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { MsgExecuteContract } from 'cosmjs-types/cosmwasm/wasm/v1/tx';
import { GatewayError } from '../errors.ts';
import { SCHEMAS, type ChainProjectState, type ChainResult, type ContractSchema, type SchemaName } from './contract-schema.ts';

export interface ChainSettings {
  readonly rpcUrl: string;
  readonly chainId: string;
  readonly contract: string;
  readonly prefix: string;
  readonly gasPrice: string;
  readonly gasMargin: number;
  readonly schema: ContractSchema;
}

/** Reads the contract (the inputter needs nothing more). */
export interface ChainReader {
  queryProject(chainProjectId: number): Promise<ChainProjectState>;
  /** A committed transaction's outcome, or null while the chain does not know it. */
  getTx(txHash: string): Promise<{ code: number; height: number; log: string } | null>;
  disconnect(): void;
}

export interface SubmitOutcome {
  readonly txHash: string;
  readonly code: number;
  readonly height: number;
  readonly log: string;
  readonly gasLimit: number;
}

/** Signs and sends results; `onSigned` runs with the tx hash before the bytes leave the process. */
export interface ChainWriter extends ChainReader {
  readonly address: string;
  submit(results: readonly ChainResult[], onSigned: (txHash: string) => Promise<void>): Promise<SubmitOutcome>;
}

/** True for the ante handler's refusal of a stale sequence (code 32 in the SDK's codespace). */
export function isSequenceMismatch(error: unknown): boolean {
  return (error instanceof BroadcastTxError && error.code === 32) || /account sequence mismatch/i.test((error as Error)?.message ?? '');
}

async function checkChainId(client: CosmWasmClient, expected: string): Promise<void> {
  const actual = await client.getChainId();
  if (actual !== expected) {
    client.disconnect();
    throw new GatewayError('invalid_config', `the node at GATEWAY_CHAIN_RPC_URL is on chain ${actual}, not ${expected}`);
  }
}

function readerOf(client: CosmWasmClient, settings: ChainSettings): ChainReader {
  return {
    async queryProject(chainProjectId) {
      return settings.schema.parseProjectInfo(await client.queryContractSmart(settings.contract, settings.schema.projectInfoQuery(chainProjectId)));
    },
    async getTx(txHash) {
      const tx = await client.getTx(txHash);
      return tx ? { code: tx.code, height: tx.height, log: tx.rawLog ?? '' } : null;
    },
    disconnect: () => client.disconnect(),
  };
}

export async function connectChainReader(settings: ChainSettings): Promise<ChainReader> {
  const client = await CosmWasmClient.connect(settings.rpcUrl);
  await checkChainId(client, settings.chainId);
  return readerOf(client, settings);
}

const CONFIRM_TIMEOUT_MS = 60_000;
const CONFIRM_POLL_MS = 300;

export async function connectChainWriter(settings: ChainSettings, mnemonic: string): Promise<ChainWriter> {
  const wallet = await DirectSecp256k1HdWallet.fromMnemonic(mnemonic.trim(), { prefix: settings.prefix });
  const [{ address }] = await wallet.getAccounts();
  const gasPrice = GasPrice.fromString(settings.gasPrice);
  const client = await SigningCosmWasmClient.connectWithSigner(settings.rpcUrl, wallet, { gasPrice });
  await checkChainId(client, settings.chainId);
  const reader = readerOf(client, settings);
  return {
    ...reader,
    address,
    async submit(results, onSigned) {
      const messages: EncodeObject[] = results.map((result) => ({
        typeUrl: '/cosmwasm.wasm.v1.MsgExecuteContract',
        value: MsgExecuteContract.fromPartial({ sender: address, contract: settings.contract, msg: toUtf8(JSON.stringify(settings.schema.saveResultMsg(result))), funds: [] }),
      }));
      const memo = 'gateway results';
      const gasLimit = Math.ceil((await client.simulate(address, messages, memo)) * settings.gasMargin);
      const signed = await client.sign(address, messages, calculateFee(gasLimit, gasPrice), memo);
      const bytes = TxRaw.encode(signed).finish();
      const txHash = createHash('sha256').update(bytes).digest('hex').toUpperCase();
      await onSigned(txHash);
      await client.broadcastTxSync(bytes);
      const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
      for (;;) {
        const tx = await reader.getTx(txHash);
        if (tx) return { txHash, gasLimit, ...tx };
        if (Date.now() > deadline) throw new Error(`transaction ${txHash} was not included within ${CONFIRM_TIMEOUT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, CONFIRM_POLL_MS));
      }
    },
  };
}

/** The chain settings of a config, or null when no chain is configured. Throws if half-configured. */
export function chainSettingsOf(config: {
  chainRpcUrl?: string; chainId?: string; chainContract?: string; chainPrefix: string; chainGasPrice: string; chainGasMargin: number; chainSchema: SchemaName;
}): ChainSettings | null {
  if (!config.chainRpcUrl) return null;
  const missing = [!config.chainId && 'GATEWAY_CHAIN_ID', !config.chainContract && 'GATEWAY_CHAIN_CONTRACT'].filter(Boolean);
  if (missing.length > 0) throw new GatewayError('invalid_config', `GATEWAY_CHAIN_RPC_URL is set but ${missing.join(' and ')} is not`);
  return {
    rpcUrl: config.chainRpcUrl, chainId: config.chainId!, contract: config.chainContract!, prefix: config.chainPrefix,
    gasPrice: config.chainGasPrice, gasMargin: config.chainGasMargin, schema: SCHEMAS[config.chainSchema],
  };
}

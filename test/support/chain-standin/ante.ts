// Decodes a Cosmos SDK tx and runs the checks the SDK ante handler runs on it: signers, pubkey, fee, sequence, signature.
import { makeSignDoc, rawSecp256k1PubkeyToRawAddress, serializeSignDoc } from '@cosmjs/amino';
import { createWasmAminoConverters } from '@cosmjs/cosmwasm-stargate';
import { Secp256k1, Secp256k1Signature, sha256 } from '@cosmjs/crypto';
import { fromBech32, fromUtf8, toBech32, toHex } from '@cosmjs/encoding';
import { makeSignBytes } from '@cosmjs/proto-signing';
import { AminoTypes, calculateFee, type GasPrice } from '@cosmjs/stargate';
import { PubKey } from 'cosmjs-types/cosmos/crypto/secp256k1/keys';
import { SignMode } from 'cosmjs-types/cosmos/tx/signing/v1beta1/signing';
import { AuthInfo, TxBody, TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { MsgExecuteContract } from 'cosmjs-types/cosmwasm/wasm/v1/tx';

/** An ABCI error result: the code, codespace and log a real node reports for a failed CheckTx, DeliverTx or query. */
export class AbciError extends Error {
  override readonly name = 'AbciError';
  readonly code: number;
  readonly codespace: string;
  constructor(code: number, codespace: string, log: string) {
    super(log);
    this.code = code;
    this.codespace = codespace;
  }
}

/** One `MsgExecuteContract` of a tx, with its JSON message parsed. */
export interface DecodedMsg {
  readonly sender: string;
  readonly contract: string;
  readonly msg: unknown;
  readonly proto: MsgExecuteContract;
}

/** A decoded tx: its parts and what the ante handler reads from them. */
export interface DecodedTx {
  readonly bytes: Uint8Array;
  /** Uppercase hex SHA-256 of the tx bytes, as CometBFT names txs. */
  readonly hash: string;
  readonly body: TxBody;
  readonly authInfo: AuthInfo;
  readonly signatures: readonly Uint8Array[];
  readonly msgs: readonly DecodedMsg[];
  /** The single signer's address (the `sender` of every message). */
  readonly signer: string;
  readonly sequence: number;
  readonly gasLimit: number;
}

/** The signer's account as the ante handler sees it. */
export interface AnteAccount {
  readonly accountNumber: number;
  readonly sequence: number;
  readonly pubkey?: Uint8Array;
}

/** What the ante checks need besides the tx. */
export interface AnteContext {
  readonly chainId: string;
  readonly prefix: string;
  /** The height the tx would be included at (for timeout_height). */
  readonly nextHeight: number;
  readonly account: AnteAccount;
  /** Checked only in CheckTx, like a validator's `minimum-gas-prices`. */
  readonly minGasPrice?: GasPrice;
  /** Simulation: the signature is not checked and the fee is not compared. */
  readonly simulate: boolean;
}

const EXECUTE = '/cosmwasm.wasm.v1.MsgExecuteContract';
const SECP256K1 = '/cosmos.crypto.secp256k1.PubKey';
const aminoTypes = new AminoTypes(createWasmAminoConverters());

/** Checks a bech32 address with the chain's prefix; fails with code 7 (invalid address) like MsgExecuteContract.ValidateBasic. */
export function checkAddress(address: string, prefix: string, field: string): void {
  let decoded: { prefix: string; data: Uint8Array };
  try {
    decoded = fromBech32(address, 1023); // @scure/base 2 rejects cosmjs's default limit (Infinity)
  } catch (error) {
    throw new AbciError(7, 'sdk', `${field}: decoding bech32 failed: ${(error as Error).message}: invalid address`);
  }
  if (decoded.prefix !== prefix) throw new AbciError(7, 'sdk', `${field}: invalid Bech32 prefix; expected ${prefix}, got ${decoded.prefix}: invalid address`);
}

/** Decodes TxRaw (or the wire-identical Tx that simulate sends) into body, auth info and wasm messages; parse errors are code 2. */
export function decodeTx(bytes: Uint8Array, prefix: string): DecodedTx {
  let raw: TxRaw, body: TxBody, authInfo: AuthInfo;
  try {
    raw = TxRaw.decode(bytes);
    body = TxBody.decode(raw.bodyBytes);
    authInfo = AuthInfo.decode(raw.authInfoBytes);
  } catch (error) {
    throw new AbciError(2, 'sdk', `${(error as Error).message}: tx parse error`);
  }
  if (body.messages.length === 0) throw new AbciError(18, 'sdk', 'must contain at least one message: invalid request');
  const msgs = body.messages.map((any): DecodedMsg => {
    if (any.typeUrl !== EXECUTE) throw new AbciError(2, 'sdk', `unable to resolve type URL ${any.typeUrl}: tx parse error`);
    const proto = MsgExecuteContract.decode(any.value);
    checkAddress(proto.sender, prefix, 'sender');
    checkAddress(proto.contract, prefix, 'contract');
    let msg: unknown;
    try {
      msg = JSON.parse(fromUtf8(proto.msg));
    } catch {
      throw new AbciError(14, 'wasm', 'msg: invalid');
    }
    return { sender: proto.sender, contract: proto.contract, msg, proto };
  });
  const signers = [...new Set(msgs.map((m) => m.sender))];
  const infos = authInfo.signerInfos;
  if (raw.signatures.length === 0) throw new AbciError(15, 'sdk', 'no signatures supplied');
  if (raw.signatures.length !== infos.length) throw new AbciError(4, 'sdk', `invalid number of signer;  expected: ${infos.length}, got ${raw.signatures.length}: unauthorized`);
  if (signers.length !== raw.signatures.length) throw new AbciError(4, 'sdk', `invalid number of signer;  expected: ${signers.length}, got ${raw.signatures.length}: unauthorized`);
  return {
    bytes,
    hash: toHex(sha256(bytes)).toUpperCase(),
    body,
    authInfo,
    signatures: raw.signatures,
    msgs,
    signer: signers[0]!,
    sequence: Number(infos[0]!.sequence),
    gasLimit: Number(authInfo.fee?.gasLimit ?? 0n),
  };
}

/** The secp256k1 key in the tx's signer info, if any (other key types fail with code 8). */
export function txPubkey(tx: DecodedTx): Uint8Array | undefined {
  const any = tx.authInfo.signerInfos[0]?.publicKey;
  if (!any) return undefined;
  if (any.typeUrl !== SECP256K1) throw new AbciError(8, 'sdk', `unsupported public key type ${any.typeUrl}: invalid pubkey`);
  return PubKey.decode(any.value).key;
}

/** The bech32 account address of a compressed secp256k1 pubkey: ripemd160(sha256(pubkey)). */
export function addressOf(pubkey: Uint8Array, prefix: string): string {
  return toBech32(prefix, rawSecp256k1PubkeyToRawAddress(pubkey));
}

/** The bytes the signer signed: SIGN_MODE_DIRECT's SignDoc, or the legacy amino JSON sign doc. */
function signBytes(tx: DecodedTx, chainId: string, accountNumber: number): Uint8Array {
  const mode = tx.authInfo.signerInfos[0]?.modeInfo?.single?.mode;
  if (mode === SignMode.SIGN_MODE_DIRECT) {
    const raw = TxRaw.decode(tx.bytes);
    return makeSignBytes({ bodyBytes: raw.bodyBytes, authInfoBytes: raw.authInfoBytes, chainId, accountNumber: BigInt(accountNumber) });
  }
  if (mode === SignMode.SIGN_MODE_LEGACY_AMINO_JSON) {
    const fee = tx.authInfo.fee;
    const stdFee = {
      amount: (fee?.amount ?? []).map((c) => ({ denom: c.denom, amount: c.amount })),
      gas: String(tx.gasLimit),
      ...(fee?.granter ? { granter: fee.granter } : {}),
      ...(fee?.payer ? { payer: fee.payer } : {}),
    };
    const msgs = tx.msgs.map((m) => aminoTypes.toAmino({ typeUrl: EXECUTE, value: m.proto }));
    const timeout = tx.body.timeoutHeight > 0n ? tx.body.timeoutHeight : undefined;
    return serializeSignDoc(makeSignDoc(msgs, stdFee, chainId, tx.body.memo, accountNumber, tx.sequence, timeout));
  }
  throw new AbciError(4, 'sdk', `unsupported sign mode ${mode}: unauthorized`);
}

function verify(signature: Uint8Array, bytes: Uint8Array, pubkey: Uint8Array): boolean {
  try {
    return Secp256k1.verifySignature(Secp256k1Signature.fromFixedLength(signature), sha256(bytes), pubkey);
  } catch {
    return false;
  }
}

/** The fee the node wants at its minimum gas price, or undefined when it takes any fee. */
export function requiredFee(gasLimit: number, minGasPrice: GasPrice | undefined): { denom: string; amount: bigint } | undefined {
  if (!minGasPrice) return undefined;
  const [coin] = calculateFee(gasLimit, minGasPrice).amount;
  return { denom: coin!.denom, amount: BigInt(coin!.amount) };
}

/**
 * The ante handler, in the SDK's order: timeout height (30), fee vs. minimum gas price (13, CheckTx only),
 * pubkey ↔ signer address (8), sequence (32), signature (4, not in simulation). Returns the pubkey to store on the account.
 */
export function ante(tx: DecodedTx, ctx: AnteContext): Uint8Array | undefined {
  const timeout = Number(tx.body.timeoutHeight);
  if (timeout > 0 && ctx.nextHeight > timeout) throw new AbciError(30, 'sdk', `block height: ${ctx.nextHeight}, timeout height: ${timeout}: tx timeout height`);
  const required = ctx.simulate ? undefined : requiredFee(tx.gasLimit, ctx.minGasPrice);
  if (required) {
    const fee = tx.authInfo.fee?.amount ?? [];
    const paid = fee.filter((c) => c.denom === required.denom).reduce((sum, c) => sum + BigInt(c.amount), 0n);
    if (paid < required.amount) {
      const got = fee.map((c) => `${c.amount}${c.denom}`).join(',');
      throw new AbciError(13, 'sdk', `insufficient fees; got: ${got} required: ${required.amount}${required.denom}: insufficient fee`);
    }
  }
  const pubkey = txPubkey(tx) ?? ctx.account.pubkey;
  if (pubkey && addressOf(pubkey, ctx.prefix) !== tx.signer) {
    throw new AbciError(8, 'sdk', `pubKey does not match signer address ${tx.signer} with signer index: 0: invalid pubkey`);
  }
  if (!pubkey && !ctx.simulate) throw new AbciError(8, 'sdk', 'pubkey on account is not set: invalid pubkey');
  if (tx.sequence !== ctx.account.sequence) {
    throw new AbciError(32, 'sdk', `account sequence mismatch, expected ${ctx.account.sequence}, got ${tx.sequence}: incorrect account sequence`);
  }
  if (!ctx.simulate && !verify(tx.signatures[0]!, signBytes(tx, ctx.chainId, ctx.account.accountNumber), pubkey!)) {
    const { accountNumber, sequence } = ctx.account;
    throw new AbciError(4, 'sdk', `signature verification failed; please verify account number (${accountNumber}), sequence (${sequence}) and chain-id (${ctx.chainId}): unauthorized`);
  }
  return pubkey;
}

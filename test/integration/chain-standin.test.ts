// Real cosmjs 0.38 clients against the Archway chain stand-in: queries, executes, atomic multi-message txs, CheckTx/DeliverTx failures.
import { Secp256k1HdWallet } from '@cosmjs/amino';
import { SigningCosmWasmClient } from '@cosmjs/cosmwasm-stargate';
import { DirectSecp256k1HdWallet, makeCosmoshubPath, type OfflineSigner } from '@cosmjs/proto-signing';
import { BroadcastTxError, calculateFee, GasPrice, isDeliverTxFailure } from '@cosmjs/stargate';
import { Comet38Client, connectComet } from '@cosmjs/tendermint-rpc';
import { TxRaw } from 'cosmjs-types/cosmos/tx/v1beta1/tx';
import { expect } from 'chai';
import { classicContractAddress, gasFor, startChainStandin, type ChainStandin } from '../support/chain-standin/standin.ts';

const MNEMONIC = 'essay east sight notable token suit chimney shadow inspire gap raven file home oxygen filter mirror dawn distance dwarf layer grocery father property lonely';
const GAS_PRICE = GasPrice.fromString('0.001aarch');
const FEE = calculateFee(300_000, GAS_PRICE);

/** The dApp user named in seeded requests (any address will do; the contract does not check it). */
const USER_FOR_REQUESTS = 'archway1pa6c7hkfdjxmalkyhn0ecccwd6ktemc4fj3qwz';
const saveMsg = (reqId: number, result = `result ${reqId}`, request = `input ${reqId}`) => ({ SaveResultMsg: { project_id: 1, user: USER_FOR_REQUESTS, request, req_id: reqId, result } });

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('chain stand-in (real cosmjs against a fake Archway node)', function () {
  let gatewayWallet: DirectSecp256k1HdWallet;
  let userWallet: DirectSecp256k1HdWallet;
  let gateway: string;
  let user: string;
  let chain: ChainStandin;
  let clients: SigningCosmWasmClient[];

  async function connect(signer: OfflineSigner): Promise<SigningCosmWasmClient> {
    // cosmjs leaves its broadcast timeout timer running when CheckTx refuses a tx: keep it short.
    const client = await SigningCosmWasmClient.connectWithSigner(chain.url, signer, { gasPrice: GAS_PRICE, broadcastPollIntervalMs: 20, broadcastTimeoutMs: 1_000 });
    clients.push(client);
    return client;
  }

  /** A project with `pending` requests from USER_FOR_REQUESTS, created straight on the model. */
  function seedProject(pending: number): number {
    const id = chain.model.createProject(user, 'https://github.com/d3lab/example', 'an example project');
    for (let i = 1; i <= pending; i++) chain.model.requestResult(id, USER_FOR_REQUESTS, `input ${i}`);
    return id;
  }

  before(async function () {
    gatewayWallet = await DirectSecp256k1HdWallet.fromMnemonic(MNEMONIC, { prefix: 'archway', hdPaths: [makeCosmoshubPath(0)] });
    userWallet = await DirectSecp256k1HdWallet.fromMnemonic(MNEMONIC, { prefix: 'archway', hdPaths: [makeCosmoshubPath(1)] });
    [{ address: gateway }] = await gatewayWallet.getAccounts();
    [{ address: user }] = await userWallet.getAccounts();
  });

  beforeEach(async function () {
    clients = [];
    chain = await startChainStandin({});
  });

  afterEach(async function () {
    for (const client of clients) client.disconnect();
    await chain?.close();
  });

  it('is picked up as CometBFT 0.38 and reports its chain id, height and blocks', async function () {
    const comet = await connectComet(chain.url);
    expect(comet).to.be.instanceOf(Comet38Client);
    const block = await comet.block();
    comet.disconnect();
    expect(block.block.header.height).to.equal(1);
    expect(block.block.header.time.getTime()).to.be.closeTo(Date.now(), 60_000);
    const client = await connect(gatewayWallet);
    expect(await client.getChainId()).to.equal('archway-standin-1');
    expect(await client.getHeight()).to.equal(1);
    expect(chain.contractAddress).to.equal(classicContractAddress('archway', 1, 1));
    expect(classicContractAddress('wasm', 1, 1)).to.equal('wasm14hj2tavq8fpesdwxxcu44rty3hh90vhujrvcmstl4zr3txmfvw9s0phg4d');
    const reply = await fetch(chain.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'net_info', params: {} }) });
    expect(await reply.json()).to.deep.equal({ jsonrpc: '2.0', id: 7, error: { code: -32601, message: 'Method not found', data: '' } });
  });

  it('answers Config, ProjectInfo and RequestIDInfo, and fails bad queries like a node does', async function () {
    const id = seedProject(2);
    const client = await connect(gatewayWallet);
    expect(await client.queryContractSmart(chain.contractAddress, { Config: {} })).to.deep.equal({ owner: chain.model.owner, count: 1 });
    expect(await client.queryContractSmart(chain.contractAddress, { RequestIDInfo: { id } })).to.deep.equal({ project_id: 1, req_id: 2 });
    const project = await client.queryContractSmart(chain.contractAddress, { ProjectInfo: { id } });
    expect(project).to.deep.equal({
      id: 1,
      github_addr: 'https://github.com/d3lab/example',
      description: 'an example project',
      owner: user,
      request: [{ req_id: 1, user: USER_FOR_REQUESTS, input: 'input 1' }, { req_id: 2, user: USER_FOR_REQUESTS, input: 'input 2' }],
      result: [],
    });
    expect((await rejection(client.queryContractSmart(chain.contractAddress, { ProjectInfo: { id: 9 } }))).message).to.match(/^Query failed with \(6\): .*project 9 not found: query wasm contract failed/);
    expect((await rejection(client.queryContractSmart(chain.contractAddress, { Nope: {} }))).message).to.contain('unknown variant `Nope`');
    expect((await rejection(client.queryContractSmart(classicContractAddress('archway', 1, 2), { Config: {} }))).message).to.contain('no such contract');
  });

  it('runs CreateProjectMsg and ResultRequestMsg from a dApp user, then SaveResultMsg from the gateway', async function () {
    const dapp = await connect(userWallet);
    const created = await dapp.execute(user, chain.contractAddress, { CreateProjectMsg: { owner: user, github_addr: 'gh/x', description: 'd' } }, 'auto');
    const wasm = created.events.find((e) => e.type === 'wasm');
    expect(wasm?.attributes).to.deep.include({ key: 'id', value: '1' });
    await dapp.execute(user, chain.contractAddress, { ResultRequestMsg: { user, id: 1, input: '{"n":3}' } }, 'auto');
    expect((await dapp.queryContractSmart(chain.contractAddress, { ProjectInfo: { id: 1 } })).request).to.deep.equal([{ req_id: 1, user, input: '{"n":3}' }]);
    expect(chain.accountSequence(user)).to.equal(2);

    const gw = await connect(gatewayWallet);
    const msg = { SaveResultMsg: { project_id: 1, user, request: '{"n":3}', req_id: 1, result: '9' } };
    const saved = await gw.execute(gateway, chain.contractAddress, msg, 'auto');
    const project = await gw.queryContractSmart(chain.contractAddress, { ProjectInfo: { id: 1 } });
    expect(project.request).to.deep.equal([]);
    expect(project.result).to.deep.equal([{ req_id: 1, user, request: '{"n":3}', result: '9' }]);
    const last = chain.txs.at(-1)!;
    expect(last).to.deep.include({ hash: saved.transactionHash, height: saved.height, code: 0, signer: gateway, sequence: 0 });
    expect(last.msgs).to.deep.equal([{ sender: gateway, contract: chain.contractAddress, msg }]);
    expect(chain.height()).to.equal(4);
  });

  it('applies two SaveResultMsg in one tx atomically: both or neither', async function () {
    seedProject(4);
    const gw = await connect(gatewayWallet);
    await gw.executeMultiple(gateway, [1, 2].map((n) => ({ contractAddress: chain.contractAddress, msg: saveMsg(n) })), 'auto');
    expect(chain.model.project(1)!.result.map((r) => r.req_id)).to.deep.equal([1, 2]);

    const before = structuredClone(chain.model.project(1));
    const error = await rejection(gw.executeMultiple(gateway, [3, 99].map((n) => ({ contractAddress: chain.contractAddress, msg: saveMsg(n) })), FEE));
    expect(error.message).to.match(/Code: 5; Raw log: failed to execute message; message index: 1: request 99 of project 1 is not pending: execute wasm contract failed/);
    expect(chain.model.project(1)).to.deep.equal(before);
    expect(chain.accountSequence(gateway)).to.equal(2);
    expect(chain.txs.at(-1)).to.deep.include({ code: 5, sequence: 1 });
  });

  it('fails a SaveResultMsg for a non-pending req_id: in simulation, and in DeliverTx without touching state', async function () {
    seedProject(1);
    const gw = await connect(gatewayWallet);
    const simulated = await rejection(gw.execute(gateway, chain.contractAddress, saveMsg(5), 'auto'));
    expect(simulated.message).to.match(/^Query failed with \(6\): rpc error: code = Unknown desc = failed to execute message; message index: 0: request 5 of project 1 is not pending/);
    expect(chain.calls('broadcast_tx_sync')).to.equal(0);

    const result = await gw.signAndBroadcast(gateway, [{ typeUrl: '/cosmwasm.wasm.v1.MsgExecuteContract', value: { sender: gateway, contract: chain.contractAddress, msg: new TextEncoder().encode(JSON.stringify(saveMsg(5))), funds: [] } }], FEE);
    expect(isDeliverTxFailure(result)).to.equal(true);
    expect(result.code).to.equal(5);
    expect(result.rawLog).to.contain('request 5 of project 1 is not pending');
    expect(chain.model.project(1)!.request.map((r) => r.req_id)).to.deep.equal([1]);
    expect(chain.model.project(1)!.result).to.deep.equal([]);
    expect(chain.accountSequence(gateway)).to.equal(1);
  });

  it('rejects a stale sequence with code 32 after bumpSequence; a fresh getSequence and re-sign succeed', async function () {
    seedProject(1);
    const gw = await connect(gatewayWallet);
    const { accountNumber, sequence } = await gw.getSequence(gateway);
    chain.bumpSequence(gateway);
    const msgs = [{ typeUrl: '/cosmwasm.wasm.v1.MsgExecuteContract', value: { sender: gateway, contract: chain.contractAddress, msg: new TextEncoder().encode(JSON.stringify(saveMsg(1))), funds: [] } }];
    const stale = await gw.sign(gateway, msgs, FEE, '', { accountNumber, sequence, chainId: chain.chainId });
    const error = await rejection(gw.broadcastTx(TxRaw.encode(stale).finish(), 1_000, 20));
    expect(error).to.be.instanceOf(BroadcastTxError);
    expect((error as BroadcastTxError).code).to.equal(32);
    expect(error.message).to.equal('Broadcasting transaction failed with code 32 (codespace: sdk). Log: account sequence mismatch, expected 1, got 0: incorrect account sequence');
    expect(chain.rejected).to.have.length(1);
    expect(chain.txs).to.have.length(0);

    const fresh = await gw.getSequence(gateway);
    expect(fresh.sequence).to.equal(1);
    const signed = await gw.sign(gateway, msgs, FEE, '', { ...fresh, chainId: chain.chainId });
    const result = await gw.broadcastTx(TxRaw.encode(signed).finish(), 1_000, 20);
    expect(result.code).to.equal(0);
    expect(chain.model.project(1)!.request).to.deep.equal([]);
    expect(chain.accountSequence(gateway)).to.equal(2);
  });

  it('fails signature verification (code 4) for a tx signed for another chain id', async function () {
    seedProject(1);
    const online = await connect(gatewayWallet);
    const { accountNumber, sequence } = await online.getSequence(gateway);
    const offline = await SigningCosmWasmClient.offline(gatewayWallet);
    const msgs = [{ typeUrl: '/cosmwasm.wasm.v1.MsgExecuteContract', value: { sender: gateway, contract: chain.contractAddress, msg: new TextEncoder().encode(JSON.stringify(saveMsg(1))), funds: [] } }];
    const signed = await offline.sign(gateway, msgs, FEE, '', { accountNumber, sequence, chainId: 'other-chain' });
    const error = await rejection(online.broadcastTxSync(TxRaw.encode(signed).finish()));
    expect((error as BroadcastTxError).code).to.equal(4);
    expect((error as BroadcastTxError).log).to.equal(`signature verification failed; please verify account number (${accountNumber}), sequence (0) and chain-id (archway-standin-1): unauthorized`);
    expect(chain.accountSequence(gateway)).to.equal(0);
    expect(chain.model.project(1)!.result).to.deep.equal([]);
  });

  it('verifies legacy amino-signed txs too, and enforces a configured minimum gas price in CheckTx', async function () {
    await chain.close();
    chain = await startChainStandin({ minGasPrice: '0.002aarch' });
    seedProject(2);
    const amino = await Secp256k1HdWallet.fromMnemonic(MNEMONIC, { prefix: 'archway' });
    const client = await connect(amino);
    const cheap = await rejection(client.execute(gateway, chain.contractAddress, saveMsg(1), 'auto'));
    expect((cheap as BroadcastTxError).code).to.equal(13);
    expect(cheap.message).to.match(/insufficient fees; got: 147aarch required: 294aarch: insufficient fee/);
    await client.execute(gateway, chain.contractAddress, saveMsg(1), calculateFee(300_000, '0.002aarch'));
    expect(chain.model.project(1)!.result.map((r) => r.req_id)).to.deep.equal([1]);
  });

  it('simulates with gas = 80000 + 25000 per message', async function () {
    seedProject(2);
    const gw = await connect(gatewayWallet);
    const msg = (n: number) => ({ typeUrl: '/cosmwasm.wasm.v1.MsgExecuteContract', value: { sender: gateway, contract: chain.contractAddress, msg: new TextEncoder().encode(JSON.stringify(saveMsg(n))), funds: [] } });
    expect(await gw.simulate(gateway, [msg(1)], '')).to.equal(gasFor(1)).and.to.equal(105_000);
    expect(await gw.simulate(gateway, [msg(1), msg(2)], '')).to.equal(130_000);
    expect(chain.calls('abci_query:/cosmos.tx.v1beta1.Service/Simulate')).to.equal(2);
    expect(chain.model.project(1)!.request).to.have.length(2);
  });

  it('finds committed txs by hash (getTx via tx_search, and the tx method), refuses re-sent bytes, and honours failNextDeliver', async function () {
    seedProject(2);
    const gw = await connect(gatewayWallet);
    chain.failNextDeliver(11, 'out of gas in location: injected; gasWanted: 1, gasUsed: 2: out of gas');
    const failed = await rejection(gw.execute(gateway, chain.contractAddress, saveMsg(1), 'auto'));
    expect(failed.message).to.contain('Code: 11; Raw log: out of gas in location: injected');
    expect(chain.model.project(1)!.request).to.have.length(2);
    expect(chain.accountSequence(gateway)).to.equal(1);

    const done = await gw.execute(gateway, chain.contractAddress, saveMsg(1), 'auto');
    const found = await gw.getTx(done.transactionHash);
    expect(found).to.deep.include({ hash: done.transactionHash, height: done.height, code: 0, gasUsed: 105_000n, gasWanted: BigInt(Math.ceil(105_000 * 1.4)) });
    expect(found!.msgResponses).to.deep.equal([{ typeUrl: '/cosmwasm.wasm.v1.MsgExecuteContractResponse', value: new Uint8Array([]) }]);
    expect(found!.events.map((e) => e.type)).to.include('wasm');
    expect(await gw.getTx('00'.repeat(32))).to.equal(null);
    expect(chain.calls('tx_search')).to.be.greaterThan(0);

    const comet = await connectComet(chain.url);
    const byHash = await comet.tx({ hash: Buffer.from(done.transactionHash, 'hex') });
    expect(byHash.height).to.equal(done.height);
    const again = await rejection(comet.broadcastTxSync({ tx: byHash.tx }));
    comet.disconnect();
    expect(again.message).to.contain('tx already exists in cache');
  });
});

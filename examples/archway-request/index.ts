// Archway request: a dApp asks, through the gateway contract, whether an account holds at least
// `min` of a denom. The gateway hands the contract's request string to this code as `input`:
// parsed as JSON when it is JSON, else the string itself. The committee's agreed value goes back
// to the contract as its canonical JSON text.
import type { Ctx } from '../../types/index.d.ts';

/** The request as the dApp writes it: JSON `{"address", "denom"?, "min"?}`, or just the address. */
type Input = { address?: unknown; denom?: unknown; min?: unknown } | string;

export interface BalanceCheck {
  address: string;
  denom: string;
  /** Base units, as a decimal string (balances exceed 2^53). */
  amount: string;
  sufficient: boolean;
}

const LCD = 'https://api.mainnet.archway.io';
const DEFAULT_DENOM = 'aarch';

// Bech32 (BIP 173) checksum: a typo in an address fails here, before any fetch.
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function isBech32(address: string, prefix: string): boolean {
  if (!address.startsWith(`${prefix}1`)) return false;
  const data = [...address.slice(prefix.length + 1)].map((c) => CHARSET.indexOf(c));
  if (data.length < 7 || data.includes(-1)) return false;
  const codes = [...prefix].map((c) => c.charCodeAt(0));
  let chk = 1;
  for (const value of [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31), ...data]) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ value;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk === 1;
}

/** The request, checked: errors here are agreed by the committee and sent back to the contract. */
function parseRequest(input: Input): { address: string; denom: string; min: bigint } {
  const request = typeof input === 'string' ? { address: input.trim() } : input;
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw new Error('request must be an archway1… address or {"address", "denom", "min"}');
  }
  const { address, denom = DEFAULT_DENOM, min = '1' } = request;
  if (typeof address !== 'string' || !isBech32(address, 'archway')) throw new Error('address is not a valid archway1… address');
  if (typeof denom !== 'string' || !/^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/.test(denom)) throw new Error('denom is not a valid denom');
  if (typeof min !== 'string' || !/^[0-9]{1,40}$/.test(min)) throw new Error('min must be a decimal string of base units');
  return { address, denom, min: BigInt(min) };
}

export default async function archwayRequest(input: Input, ctx: Ctx): Promise<BalanceCheck> {
  const { address, denom, min } = parseRequest(input);
  const res = await ctx.fetch(`${LCD}/cosmos/bank/v1beta1/balances/${address}/by_denom?denom=${encodeURIComponent(denom)}`, {
    headers: { accept: 'application/json' },
  });
  if (res.status !== 200) throw new Error(`balance query answered ${res.status}`);
  const amount = res.json<{ balance?: { amount?: string } }>().balance?.amount ?? '0';
  if (!/^[0-9]+$/.test(amount)) throw new Error('balance query answered a non-integer amount');
  ctx.log('balance of', address, amount, denom);
  return { address, denom, amount, sufficient: BigInt(amount) >= min };
}

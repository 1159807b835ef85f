// Price oracle: every member takes the median of three exchanges' spot prices, and the committee
// agrees on the median of the members' answers (aggregation "median" in gateway.json).
import type { Ctx } from '../../types/index.d.ts';

interface Input {
  /** Ticker symbol, e.g. "BTC"; priced in USD. */
  asset: string;
  /**
   * A base URL standing in for every exchange (a caching proxy, or the tutorial's local copy of the
   * recorded answers): `https://api.coinbase.com/v2/…` is then fetched as `<mirror>/api.coinbase.com/v2/…`.
   */
  mirror?: string;
}

interface Source {
  name: string;
  url(asset: string): string;
  /** The last trade price in the source's own JSON shape. */
  read(body: unknown): unknown;
}

const COINGECKO_IDS: Readonly<Record<string, string>> = { BTC: 'bitcoin', ETH: 'ethereum', ATOM: 'cosmos', ARCH: 'archway' };

const SOURCES: readonly Source[] = [
  {
    name: 'coinbase',
    url: (asset) => `https://api.coinbase.com/v2/prices/${asset}-USD/spot`,
    read: (body) => (body as { data: { amount: string } }).data.amount,
  },
  {
    // Kraken names the pair its own way in the answer (BTCUSD → XXBTZUSD): take the only entry.
    name: 'kraken',
    url: (asset) => `https://api.kraken.com/0/public/Ticker?pair=${asset}USD`,
    read: (body) => Object.values((body as { result: Record<string, { c: [string, string] }> }).result)[0]?.c[0],
  },
  {
    // CoinGecko names coins, not tickers, and answers numbers rather than strings.
    name: 'coingecko',
    url: (asset) => `https://api.coingecko.com/api/v3/simple/price?ids=${COINGECKO_IDS[asset] ?? asset.toLowerCase()}&vs_currencies=usd`,
    read: (body) => Object.values(body as Record<string, { usd: number }>)[0]?.usd,
  },
];

// A source that fails or answers nonsense is left out; the others still make a price.
async function priceFrom(source: Source, asset: string, mirror: string | undefined, ctx: Ctx): Promise<number | undefined> {
  try {
    const url = mirror === undefined ? source.url(asset) : `${mirror.replace(/\/+$/, '')}/${source.url(asset).slice('https://'.length)}`;
    const res = await ctx.fetch(url, { headers: { accept: 'application/json' } });
    if (res.status !== 200) {
      ctx.log(source.name, 'answered', res.status);
      return undefined;
    }
    const price = Number(source.read(res.json()));
    if (!Number.isFinite(price) || price <= 0) {
      ctx.log(source.name, 'gave no usable price');
      return undefined;
    }
    return price;
  } catch (error) {
    ctx.log(source.name, 'failed:', (error as Error).message);
    return undefined;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export default async function priceOracle(input: Input, ctx: Ctx): Promise<number> {
  const asset = input?.asset;
  if (typeof asset !== 'string' || !/^[A-Z]{2,10}$/.test(asset)) throw new Error('input.asset must be a ticker symbol such as "BTC"');
  const mirror = input.mirror;
  if (mirror !== undefined && (typeof mirror !== 'string' || !/^https?:\/\/[^/]+\/?$/.test(mirror))) throw new Error('input.mirror must be a base URL such as "http://127.0.0.1:8090"');
  const prices = (await Promise.all(SOURCES.map((source) => priceFrom(source, asset, mirror, ctx)))).filter((p) => p !== undefined);
  // One source alone is no better than trusting that exchange: refuse rather than publish it.
  if (prices.length < 2) throw new Error(`only ${prices.length} of ${SOURCES.length} sources answered`);
  ctx.log('prices', prices.join(' '));
  return Math.round(median(prices) * 100) / 100;
}

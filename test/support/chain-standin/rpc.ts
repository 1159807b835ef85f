// JSON-RPC errors and CometBFT's tx_search (query language subset, pagination) for the chain stand-in.
import { txJson, type TxRecord } from './comet-json.ts';

/** A JSON-RPC error as CometBFT sends it: `{code, message, data}` (-32601 method not found, -32603 internal error, …). */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  readonly code: number;
  readonly data: string;
  constructor(code: number, message: string, data: string) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

interface Condition {
  readonly key: string;
  readonly op: string;
  readonly value: string;
}

/** Parses `a.b='x' AND tx.height>=5`: CometBFT's query language minus CONTAINS/EXISTS. */
export function parseQuery(query: string): Condition[] {
  return query.split(/\s+AND\s+/i).map((part) => {
    const match = /^\s*([\w.\-]+)\s*(<=|>=|=|<|>)\s*(?:'([^']*)'|(-?\d+))\s*$/.exec(part);
    if (!match) throw new RpcError(-32603, 'Internal error', `failed to parse query: ${query}`);
    return { key: match[1]!, op: match[2]!, value: match[3] ?? match[4]! };
  });
}

function compare(actual: string, op: string, wanted: string): boolean {
  if (op === '=') return actual === wanted;
  const [a, b] = [Number(actual), Number(wanted)];
  return op === '<' ? a < b : op === '>' ? a > b : op === '<=' ? a <= b : a >= b;
}

function matches(record: TxRecord, condition: Condition): boolean {
  if (condition.key === 'tx.hash') return record.hash === condition.value.toUpperCase();
  if (condition.key === 'tx.height') return compare(String(record.height), condition.op, condition.value);
  return record.result.events.some((event) =>
    event.attributes.some((a) => `${event.type}.${a.key}` === condition.key && compare(a.value, condition.op, condition.value)),
  );
}

/** The `tx_search` result: `{txs, total_count}` for one page (per_page default 30, at most 100), ordered by height. */
export function searchTxs(records: readonly TxRecord[], params: Record<string, unknown>): object {
  if (typeof params.query !== 'string' || !params.query) throw new RpcError(-32602, 'Invalid params', 'missing query');
  const conditions = parseQuery(params.query);
  const found = records.filter((r) => conditions.every((c) => matches(r, c)));
  if (params.order_by === 'desc') found.reverse();
  const perPage = Math.min(100, Math.max(1, Number(params.per_page ?? 30) || 30));
  const pages = Math.max(1, Math.ceil(found.length / perPage));
  const page = Number(params.page ?? 1) || 1;
  if (page < 1 || page > pages) throw new RpcError(-32603, 'Internal error', `page should be within [1, ${pages}] range, given ${page}`);
  return { txs: found.slice((page - 1) * perPage, page * perPage).map(txJson), total_count: String(found.length) };
}

// Where `gateway verify` gets what it checks: receipts from a JSON file, from JSON Lines (one per
// line, as exports write them), or from a gateway's API; and for --replay, code and project limits.
import { utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { readTextFile } from '../files.ts';

/** One item to verify: a receipt, a ledger entry (an export's ledger file), or why the line holds neither. */
export type ReceiptItem =
  | { readonly label: string; readonly receipt: unknown }
  | { readonly label: string; readonly ledgerEntry: unknown }
  | { readonly label: string; readonly error: string };

const HTTP_TIMEOUT_MS = 30_000;

/** The receipts in a file: one JSON document, or JSON Lines. */
export function readReceiptFile(path: string): ReceiptItem[] {
  const text = readTextFile(path);
  try {
    return [toItem(path, JSON.parse(text))];
  } catch {
    // Not one JSON document: JSON Lines.
  }
  const items: ReceiptItem[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const label = `${path}:${index + 1}`;
    try {
      items.push(toItem(label, JSON.parse(line)));
    } catch {
      items.push({ label, error: 'not JSON' });
    }
  });
  if (items.length === 0) throw new CliError(`${path} holds no receipt`, EXIT.failed);
  return items;
}

// A receipt, a line that wraps one (`{"receipt": …}`), or a ledger entry.
function toItem(label: string, value: unknown): ReceiptItem {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    if ('request' in record || 'version' in record) return { label, receipt: value };
    if (typeof record.receipt === 'object' && record.receipt !== null) return { label, receipt: record.receipt };
    if ('seq' in record && 'hash' in record) return { label, ledgerEntry: value };
  }
  return { label, receipt: value };
}

/** A gateway's API: the receipt of a request, code by content id, a project's limits. */
export function createGatewayClient(baseUrl: string, token: string | undefined) {
  async function get(path: string, what: string, isPublic = false): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(path, baseUrl), {
        headers: token && !isPublic ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
    } catch (error) {
      const { cause } = error as { cause?: { code?: string; message?: string } };
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CliError(`${baseUrl} is unreachable (${reason})`, EXIT.environment);
    }
    if (response.ok) return response;
    const body = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    const retry = response.headers.get('retry-after');
    const detail = body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`;
    throw new CliError(`${what}: ${detail}${retry ? ` (retry after ${retry} s)` : ''}`, EXIT.failed);
  }

  return {
    async getReceipt(requestId: string): Promise<unknown> {
      return (await get(`/v1/requests/${encodeURIComponent(requestId)}/receipt`, `the receipt of ${requestId}`)).json();
    },
    /** The code under `cid`, refused unless its SHA-256 is the one the content id names. */
    async getCode(cid: string): Promise<string> {
      const bytes = new Uint8Array(await (await get(`/v1/code/${encodeURIComponent(cid)}`, `code ${cid}`, true)).arrayBuffer());
      if (computeContentId(bytes) !== cid) throw new CliError(`the code served under ${cid} does not hash to it`, EXIT.failed);
      return new TextDecoder().decode(bytes);
    },
    /** The project's limits, or undefined when the token cannot read the project. */
    async getProjectLimits(projectId: string): Promise<Record<string, number> | undefined> {
      if (!token) return undefined;
      try {
        const project = (await (await get(`/v1/projects/${encodeURIComponent(projectId)}`, `project ${projectId}`)).json()) as { limits?: Record<string, number> };
        return project.limits;
      } catch (error) {
        if (error instanceof CliError && error.exitCode === EXIT.failed) return undefined;
        throw error;
      }
    },
  };
}

/** Code from a file, refused unless it hashes to the receipt's content id. */
export function readCodeFile(path: string, cid: string): string {
  const text = readTextFile(path);
  if (computeContentId(utf8(text)) !== cid) throw new CliError(`${path} is not the code the receipt ran: its content id is ${computeContentId(utf8(text))}, not ${cid}`, EXIT.failed);
  return text;
}

/** Secrets from a JSON object of strings, or `.env` lines (`NAME=value`, `#` comments, optional quotes). */
export function readSecretsFile(path: string): Record<string, string> {
  const text = readTextFile(path);
  if (text.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(`${path} is not valid JSON`, EXIT.usage);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
      throw new CliError(`${path} must be a JSON object of string values`, EXIT.usage);
    }
    return parsed as Record<string, string>;
  }
  const secrets: Record<string, string> = {};
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new CliError(`${path}:${index + 1}: not NAME=value`, EXIT.usage);
    const value = match[2];
    const quoted = /^(['"])(.*)\1$/.exec(value);
    secrets[match[1]] = quoted ? quoted[2] : value;
  });
  return secrets;
}

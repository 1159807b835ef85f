// Decides which addresses ctx.fetch may reach: special-purpose IPv4/IPv6 ranges, the operator allow-list, canonical host spellings.
import { isIP } from 'node:net';
import { GatewayError } from '../errors.ts';

/** Why an address is refused, e.g. "loopback"; it reads as "<ip> is a <reason> address". */
export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

/** A parsed operator allow-list: exact host names (lowercase) and IP ranges. */
export interface AllowList {
  readonly hosts: ReadonlySet<string>;
  readonly ranges: readonly IpRange[];
}

interface IpRange {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
}

interface Ip {
  readonly family: 4 | 6;
  readonly value: bigint;
}

type Named = IpRange & { readonly reason: string };

// First match wins: single addresses come before the ranges that contain them.
const V4_SPECIAL = named([
  ['169.254.169.254/32', 'metadata'], // AWS, GCP, Azure, Oracle instance metadata
  ['100.100.100.200/32', 'metadata'], // Alibaba Cloud metadata, inside CGNAT
  ['168.63.129.16/32', 'metadata'], // Azure WireServer: public-looking, host-local
  ['0.0.0.0/8', 'this-network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
]);

const V6_SPECIAL = named([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fd00:ec2::254/128', 'metadata'], // AWS instance metadata over IPv6
  ['100::/64', 'discard'],
  ['64:ff9b:1::/48', 'reserved'], // local-use NAT64
  ['2001::/23', 'reserved'], // IETF protocol assignments, Teredo among them
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
]);

// Prefixes whose low bits carry an IPv4 address: the embedded address decides.
const MAPPED = parseCidr('::ffff:0:0/96')!;
const NAT64 = parseCidr('64:ff9b::/96')!;
const COMPATIBLE = parseCidr('::/96')!;
const SIX_TO_FOUR = parseCidr('2002::/16')!;
const GLOBAL_UNICAST = parseCidr('2000::/3')!;

/**
 * Classifies an IP address (v4, or v6 with an optional zone) for an outbound fetch. Refuses every
 * special-purpose range; IPv4-mapped, NAT64, 6to4 and IPv4-compatible IPv6 addresses are judged by
 * the IPv4 address they embed, and IPv6 outside 2000::/3 is "reserved". Non-IP input is refused.
 */
export function classifyAddress(ip: string): AddressVerdict {
  const parsed = parseIp(ip);
  if (!parsed) return { allowed: false, reason: 'invalid' };
  return parsed.family === 4 ? classifyV4(parsed.value) : classifyV6(parsed.value);
}

/**
 * Canonical form of a URL host name for the guard: lowercase, IPv6 brackets and one trailing dot
 * removed. Odd IPv4 spellings (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) must already have
 * gone through WHATWG URL parsing, which rewrites them to dotted decimal.
 */
export function normalizeHost(hostname: string): string {
  let host = hostname.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.') && !host.endsWith('..')) host = host.slice(0, -1);
  return host;
}

/**
 * Parses the operator allow-list: exact host names (case-insensitive), IP addresses, or CIDRs in
 * canonical form (no host bits set). Throws GatewayError('invalid_config') naming the first bad entry.
 */
export function parseAllowList(entries: readonly string[]): AllowList {
  const hosts = new Set<string>();
  const ranges: IpRange[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    const bad = (why: string) => new GatewayError('invalid_config', `invalid fetch allow-list entry ${JSON.stringify(raw)}: ${why}`);
    if (entry.includes('/')) {
      const range = parseCidr(entry);
      if (!range) throw bad('expected an IP address, an IP/prefix CIDR or a host name');
      if (range.base !== mask(range.base, range.family, range.prefix)) throw bad('the address has bits set beyond the prefix');
      ranges.push(range);
      continue;
    }
    const ip = parseIp(normalizeHost(entry));
    if (ip) {
      ranges.push({ family: ip.family, base: ip.value, prefix: ip.family === 4 ? 32 : 128 });
      continue;
    }
    const host = normalizeHost(entry);
    if (!isHostName(host)) throw bad('expected an IP address, an IP/prefix CIDR or a host name');
    if (/^(0x[0-9a-f]*|\d+)$/.test(host.slice(host.lastIndexOf('.') + 1))) throw bad('write IPv4 addresses in dotted decimal');
    hosts.add(host);
  }
  return { hosts, ranges };
}

/**
 * True when `host` is listed by name, or `ip` equals a listed address or lies in a listed CIDR.
 * An IPv4-mapped IPv6 address also matches the IPv4 entries. A listed name is trusted with whatever
 * it resolves to, so list only names whose DNS the operator controls.
 */
export function isAllowListed(list: AllowList, host: string, ip: string): boolean {
  if (list.hosts.has(normalizeHost(host))) return true;
  const parsed = parseIp(ip);
  if (!parsed) return false;
  const candidates = [parsed];
  if (parsed.family === 6 && inRange(parsed.value, 6, MAPPED)) candidates.push({ family: 4, value: parsed.value & 0xffffffffn });
  return list.ranges.some((range) => candidates.some((c) => c.family === range.family && inRange(c.value, c.family, range)));
}

function classifyV4(value: bigint): AddressVerdict {
  const hit = V4_SPECIAL.find((range) => inRange(value, 4, range));
  return hit ? { allowed: false, reason: hit.reason } : { allowed: true };
}

function classifyV6(value: bigint): AddressVerdict {
  const hit = V6_SPECIAL.find((range) => inRange(value, 6, range));
  if (hit) return { allowed: false, reason: hit.reason };
  if (inRange(value, 6, MAPPED) || inRange(value, 6, NAT64)) return classifyV4(value & 0xffffffffn);
  if (inRange(value, 6, COMPATIBLE)) {
    const embedded = classifyV4(value & 0xffffffffn);
    return embedded.allowed ? { allowed: false, reason: 'reserved' } : embedded;
  }
  if (inRange(value, 6, SIX_TO_FOUR)) return classifyV4((value >> 80n) & 0xffffffffn);
  return inRange(value, 6, GLOBAL_UNICAST) ? { allowed: true } : { allowed: false, reason: 'reserved' };
}

function inRange(value: bigint, family: 4 | 6, range: IpRange): boolean {
  return family === range.family && mask(value, family, range.prefix) === range.base;
}

function mask(value: bigint, family: 4 | 6, prefix: number): bigint {
  const shift = BigInt((family === 4 ? 32 : 128) - prefix);
  return (value >> shift) << shift;
}

function named(entries: readonly (readonly [string, string])[]): readonly Named[] {
  return entries.map(([cidr, reason]) => ({ ...parseCidr(cidr)!, reason }));
}

function parseCidr(text: string): IpRange | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!match || match[1].includes('%')) return undefined;
  const ip = parseIp(normalizeHost(match[1]));
  const prefix = Number(match[2]);
  if (!ip || prefix > (ip.family === 4 ? 32 : 128) || String(prefix) !== match[2]) return undefined;
  return { family: ip.family, base: ip.value, prefix };
}

// Accepts exactly what net.isIP accepts (dotted-decimal IPv4 without leading zeros; IPv6 with an optional zone).
function parseIp(text: string): Ip | undefined {
  const family = isIP(text);
  if (family === 4) return { family, value: parseV4(text) };
  if (family !== 6) return undefined;
  let rest = text.includes('%') ? text.slice(0, text.indexOf('%')) : text;
  const lastColon = rest.lastIndexOf(':');
  if (rest.includes('.', lastColon)) {
    const v4 = parseV4(rest.slice(lastColon + 1));
    rest = `${rest.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = rest.split('::');
  const words = (part: string | undefined) => (part ? part.split(':') : []);
  const headWords = words(head);
  const tailWords = words(tail);
  const gap = tail === undefined ? 0 : 8 - headWords.length - tailWords.length;
  const all = [...headWords, ...Array<string>(gap).fill('0'), ...tailWords];
  if (all.length !== 8) return undefined;
  return { family: 6, value: all.reduce((acc, word) => (acc << 16n) | BigInt(parseInt(word, 16)), 0n) };
}

function parseV4(text: string): bigint {
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function isHostName(host: string): boolean {
  return host.length <= 253 && host.split('.').every((label) => /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label));
}

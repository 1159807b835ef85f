// The fetch address guard as a pure function: every special-purpose range, odd host spellings, and the operator allow-list.
import { expect } from 'chai';
import { GatewayError } from '../../lib/errors.ts';
import { classifyAddress, isAllowListed, normalizeHost, parseAllowList } from '../../lib/sandbox/address-guard.ts';

const REFUSED: readonly (readonly [string, string])[] = [
  ['0.0.0.0', 'this-network'],
  ['0.1.2.3', 'this-network'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.254', 'cgnat'],
  ['100.100.100.200', 'metadata'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['169.254.0.1', 'link-local'],
  ['169.254.169.254', 'metadata'],
  ['168.63.129.16', 'metadata'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.0.0.8', 'reserved'],
  ['192.0.2.1', 'documentation'],
  ['192.88.99.1', 'reserved'],
  ['192.168.1.1', 'private'],
  ['198.18.0.1', 'benchmarking'],
  ['198.19.255.255', 'benchmarking'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.9', 'documentation'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.254', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:169.254.169.254', 'metadata'],
  ['::ffff:0.0.0.0', 'this-network'],
  ['64:ff9b::7f00:1', 'loopback'],
  ['64:ff9b::192.168.0.1', 'private'],
  ['64:ff9b:1::1', 'reserved'],
  ['::127.0.0.1', 'loopback'],
  ['::7f00:1', 'loopback'],
  ['::8.8.8.8', 'reserved'],
  ['100::1', 'discard'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation'],
  ['2001::1', 'reserved'],
  ['2002:7f00:1::1', 'loopback'],
  ['2002:a00:1::', 'private'],
  ['fc00::1', 'unique-local'],
  ['fd12:3456::1', 'unique-local'],
  ['fd00:ec2::254', 'metadata'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['fec0::1', 'site-local'],
  ['ff02::1', 'multicast'],
  ['ff05::1:3', 'multicast'],
  ['::ffff:0:7f00:1', 'reserved'],
  ['4000::1', 'reserved'],
];

const ALLOWED = ['8.8.8.8', '1.1.1.1', '93.184.215.14', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.167.255.255', '198.17.255.255', '223.255.255.255', '2606:4700:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'];

describe('address guard', () => {
  describe('classifyAddress', () => {
    for (const [ip, reason] of REFUSED) {
      it(`refuses ${ip} as ${reason}`, () => {
        expect(classifyAddress(ip)).to.deep.equal({ allowed: false, reason });
      });
    }

    for (const ip of ALLOWED) {
      it(`allows the public address ${ip}`, () => {
        expect(classifyAddress(ip)).to.deep.equal({ allowed: true });
      });
    }

    it('refuses what is not an IP address, including non-canonical IPv4 spellings', () => {
      for (const text of ['localhost', '', '127.1', '0x7f000001', '2130706433', '0177.0.0.1', '127.000.0.1', '[::1]', '1.2.3.4.5']) {
        expect(classifyAddress(text), text).to.deep.equal({ allowed: false, reason: 'invalid' });
      }
    });
  });

  describe('normalizeHost over WHATWG URL parsing', () => {
    const spellings: readonly (readonly [string, string])[] = [
      ['2130706433', '127.0.0.1'],
      ['0x7f000001', '127.0.0.1'],
      ['0177.0.0.1', '127.0.0.1'],
      ['127.1', '127.0.0.1'],
      ['0x7f.1', '127.0.0.1'],
      ['127.0.0.1.', '127.0.0.1'],
      ['0', '0.0.0.0'],
      ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
      ['[0:0:0:0:0:0:0:1]', '::1'],
      ['[::127.0.0.1]', '::7f00:1'],
      ['LOCALHOST.', 'localhost'],
    ];
    for (const [spelling, host] of spellings) {
      it(`reads http://${spelling}/ as ${host} and refuses it`, () => {
        const normalized = normalizeHost(new URL(`http://${spelling}/`).hostname);
        expect(normalized).to.equal(host);
        if (host !== 'localhost') expect(classifyAddress(normalized).allowed).to.equal(false);
      });
    }

    it('classifies the loopback spellings as loopback', () => {
      for (const spelling of ['2130706433', '0x7f000001', '0177.0.0.1', '127.1', '[::ffff:127.0.0.1]']) {
        expect(classifyAddress(normalizeHost(new URL(`http://${spelling}:8080/`).hostname)), spelling).to.deep.equal({ allowed: false, reason: 'loopback' });
      }
    });
  });

  describe('allow-list', () => {
    const list = parseAllowList(['localhost', 'API.Example.com.', '127.0.0.2', '10.0.0.0/8', 'fd00::/8', '[::1]', ' 192.168.1.0/24 ']);

    it('matches host names exactly and case-insensitively', () => {
      expect(isAllowListed(list, 'LocalHost', '127.0.0.1')).to.equal(true);
      expect(isAllowListed(list, 'api.example.com', '203.0.113.1')).to.equal(true);
      expect(isAllowListed(list, 'evil.api.example.com', '203.0.113.1')).to.equal(false);
      expect(isAllowListed(list, 'example.com', '203.0.113.1')).to.equal(false);
    });

    it('matches addresses equal to an entry or inside a CIDR', () => {
      expect(isAllowListed(list, '127.0.0.2', '127.0.0.2')).to.equal(true);
      expect(isAllowListed(list, '127.0.0.1', '127.0.0.1')).to.equal(false);
      expect(isAllowListed(list, 'a.test', '10.200.3.4')).to.equal(true);
      expect(isAllowListed(list, 'a.test', '11.0.0.1')).to.equal(false);
      expect(isAllowListed(list, 'a.test', 'fd12::1')).to.equal(true);
      expect(isAllowListed(list, 'a.test', 'fc00::1')).to.equal(false);
      expect(isAllowListed(list, 'a.test', '::1')).to.equal(true);
      expect(isAllowListed(list, 'a.test', '192.168.1.77')).to.equal(true);
      expect(isAllowListed(list, 'a.test', '192.168.2.1')).to.equal(false);
    });

    it('matches an IPv4-mapped IPv6 address against IPv4 entries, and never across families otherwise', () => {
      expect(isAllowListed(list, 'a.test', '::ffff:127.0.0.2')).to.equal(true);
      expect(isAllowListed(list, 'a.test', '::ffff:a01:203')).to.equal(true);
      expect(isAllowListed(list, 'a.test', '::a01:203')).to.equal(false);
      expect(isAllowListed(parseAllowList(['0.0.0.0/0']), 'a.test', '::1')).to.equal(false);
    });

    it('matches nothing when empty', () => {
      expect(isAllowListed(parseAllowList([]), 'localhost', '127.0.0.1')).to.equal(false);
    });

    const bad: readonly (readonly [string, RegExp])[] = [
      ['', /invalid fetch allow-list entry "": expected an IP address/],
      ['*.example.com', /entry "\*\.example\.com": expected/],
      ['10.0.0.1/8', /entry "10\.0\.0\.1\/8": the address has bits set beyond the prefix/],
      ['10.0.0.0/33', /entry "10\.0\.0\.0\/33": expected/],
      ['fd00::/129', /entry "fd00::\/129": expected/],
      ['10.0.0.0/08', /entry "10\.0\.0\.0\/08": expected/],
      ['example.com/8', /entry "example\.com\/8": expected/],
      ['0x7f000001', /entry "0x7f000001": write IPv4 addresses in dotted decimal/],
      ['127.1', /entry "127\.1": write IPv4 addresses in dotted decimal/],
      ['http://example.com', /entry "http:\/\/example\.com": expected/],
      ['exa mple.com', /entry "exa mple\.com": expected/],
    ];
    for (const [entry, message] of bad) {
      it(`rejects the entry ${JSON.stringify(entry)} with invalid_config`, () => {
        let error: unknown;
        try {
          parseAllowList(['localhost', entry]);
        } catch (caught) {
          error = caught;
        }
        expect(error).to.be.instanceOf(GatewayError);
        expect((error as GatewayError).code).to.equal('invalid_config');
        expect((error as GatewayError).message).to.match(message);
      });
    }
  });
});

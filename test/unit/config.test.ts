// Unit tests for the configuration table: parsing, every problem at once, secrets never echoed, README in sync.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig, renderConfigTable } from '../../lib/config.ts';
import { isGatewayError, type GatewayError } from '../../lib/errors.ts';

describe('config', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).to.deep.include({ port: 8080, host: '0.0.0.0', roundMs: 2000, dataDir: './data', localNodes: 3, nodeAutoRegister: true, keyPrefix: 'gw' });
    expect(config.fetchAllow).to.deep.equal([]);
    expect(config.redisUrl).to.equal(undefined);
  });

  it('refuses a fetch allow-list entry the sandbox could not read, at start', () => {
    expect(loadConfig({ GATEWAY_FETCH_ALLOW: ' example.test, 10.0.0.0/8 ' }).fetchAllow).to.deep.equal(['example.test', '10.0.0.0/8']);
    try {
      loadConfig({ GATEWAY_FETCH_ALLOW: 'example.test,10.0.0.1/8' });
      expect.fail('expected invalid_config');
    } catch (error) {
      expect(isGatewayError(error, 'invalid_config')).to.equal(true);
      expect((error as GatewayError).details).to.deep.equal([
        'GATEWAY_FETCH_ALLOW: invalid fetch allow-list entry "10.0.0.1/8": the address has bits set beyond the prefix (got "example.test,10.0.0.1/8")',
      ]);
    }
  });

  it('lists every bad variable at once and never echoes a secret', () => {
    try {
      loadConfig({ GATEWAY_PORT: 'eighty', GATEWAY_ROUND_MS: '-1', GATEWAY_MASTER_KEY: 'super-secret-but-short', GATEWAY_NODE_AUTO_REGISTER: 'maybe' });
      expect.fail('expected invalid_config');
    } catch (error) {
      expect(isGatewayError(error, 'invalid_config')).to.equal(true);
      const { details, message } = error as GatewayError;
      expect(details).to.have.length(4);
      expect(details![0]).to.equal('GATEWAY_PORT: must be an integer in 0..65535 (got "eighty")');
      expect(message).to.include('GATEWAY_MASTER_KEY: must be 32 bytes of hex');
      expect(message).to.not.include('super-secret-but-short');
    }
  });

  it('reads secrets from *_FILE variables', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    try {
      writeFileSync(join(dir, 'token'), 'from-a-file-0123456789\n');
      expect(loadConfig({ GATEWAY_ADMIN_TOKEN_FILE: join(dir, 'token') }).adminToken).to.equal('from-a-file-0123456789');
      expect(() => loadConfig({ GATEWAY_ADMIN_TOKEN_FILE: join(dir, 'missing') })).to.throw('GATEWAY_ADMIN_TOKEN_FILE: cannot read');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the README configuration table generated from the settings (npm run docs:config)', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    expect(readme).to.include(renderConfigTable());
  });
});

// Unit tests for node registration v2 against the fixed vectors in test/fixtures/node-v2.json,
// rebuilt from the byte layout alone and checked with an independent Ed25519 implementation.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from '../../lib/crypto/bytes.ts';
import { deriveNodeKeys } from '../../lib/crypto/keys.ts';
import { findRegistrationProblem, registrationBytes, signRegistration } from '../../lib/protocol/node-registration.ts';
import { createNodeRecord, createNodeRegistration } from '../../lib/roles/node-record.ts';
import { parseNodeBody } from '../../lib/roles/webserver/parse-body.ts';

interface Vector {
  nodeSeed: string; signPublicKey: string; vrfPublicKey: string; nodeId: string;
  cases: Array<{ name: string; message: string; registration: string }>;
}
const vectors = JSON.parse(readFileSync(new URL('../fixtures/node-v2.json', import.meta.url), 'utf8')) as Vector;

describe('node registration v2', () => {
  const keys = deriveNodeKeys(fromHex(vectors.nodeSeed));

  it('derives the fixture keys and id from the seed', () => {
    expect(toHex(keys.signPublicKey)).to.equal(vectors.signPublicKey);
    expect(toHex(keys.vrfPublicKey)).to.equal(vectors.vrfPublicKey);
    const idHash = createHash('sha256').update('gw/node-id').update(keys.signPublicKey).digest('hex');
    expect(vectors.nodeId).to.equal(`node_${idHash.slice(0, 20)}`);
  });

  for (const vector of vectors.cases) {
    it(`rebuilds the message and signature for the name ${JSON.stringify(vector.name)} from the layout alone`, () => {
      const name = Buffer.from(vector.name, 'utf8');
      const length = Buffer.alloc(8);
      length.writeBigUInt64BE(BigInt(name.length));
      const byHand = Buffer.concat([Buffer.from('gw/node/v2'), Buffer.from(vectors.vrfPublicKey, 'hex'), length, name]);
      expect(byHand.toString('hex')).to.equal(vector.message);
      expect(toHex(registrationBytes(keys.vrfPublicKey, vector.name))).to.equal(vector.message);
      expect(signRegistration(keys.signSecretKey, keys.vrfPublicKey, vector.name)).to.equal(vector.registration);
      expect(ed25519.verify(fromHex(vector.registration), byHand, keys.signPublicKey)).to.equal(true);
    });
  }

  const record = { id: vectors.nodeId, name: vectors.cases[0]!.name, signPublicKey: vectors.signPublicKey, vrfPublicKey: vectors.vrfPublicKey, registration: vectors.cases[0]!.registration };

  it('accepts the fixture record', () => {
    expect(findRegistrationProblem(record)).to.equal(null);
  });

  it('builds the fixture record from the seed, as `gateway node init` prints it and the executor stores it', () => {
    expect(createNodeRegistration(keys, record.name)).to.deep.equal(record);
    expect(createNodeRecord(keys, record.name, 0)).to.deep.equal({ ...record, status: 'active', createdAt: '1970-01-01T00:00:00.000Z' });
  });

  it('parses the POST /v1/nodes body: lowercase hex, an absent name as "", every problem named', () => {
    const { id: _id, name: _name, ...upper } = { ...record, registration: record.registration.toUpperCase() };
    expect(parseNodeBody(upper)).to.deep.equal({ name: '', signPublicKey: record.signPublicKey, vrfPublicKey: record.vrfPublicKey, registration: record.registration });
    expect(parseNodeBody(record)).to.deep.equal(record);
    const refusal = (body: unknown) => {
      try {
        parseNodeBody(body);
      } catch (error) {
        const { code, details } = error as { code: string; details: readonly string[] };
        return { code, fields: details.map((d) => d.split(':')[0]) };
      }
      return null;
    };
    expect(refusal({ ...record, status: 'active' })).to.deep.equal({ code: 'invalid_body', fields: ['status'] });
    expect(refusal({ signPublicKey: 'ab', registration: 7 })).to.deep.equal({ code: 'invalid_body', fields: ['signPublicKey', 'vrfPublicKey', 'registration'] });
    expect(refusal({ ...record, id: 5, name: 'x'.repeat(101) })).to.deep.equal({ code: 'invalid_body', fields: ['id', 'name'] });
  });

  it('refuses a swapped VRF key, a changed name, a foreign id and garbage, without throwing', () => {
    const other = deriveNodeKeys(new Uint8Array(32).fill(7));
    expect(findRegistrationProblem({ ...record, vrfPublicKey: toHex(other.vrfPublicKey) })).to.equal('bad_registration');
    expect(findRegistrationProblem({ ...record, name: 'node-eu-2' })).to.equal('bad_registration');
    expect(findRegistrationProblem({ ...record, id: 'node_00000000000000000000' })).to.equal('id_mismatch');
    expect(findRegistrationProblem({ ...record, registration: 'zz' })).to.equal('malformed_key');
    expect(findRegistrationProblem({ ...record, signPublicKey: null as unknown as string })).to.equal('malformed_key');
    expect(findRegistrationProblem({ ...record, name: 5 as unknown as string })).to.equal('bad_registration');
  });
});

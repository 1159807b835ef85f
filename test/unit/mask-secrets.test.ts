import { expect } from 'chai';
import { maskSecrets } from '../../lib/sandbox/mask-secrets.ts';

describe('secret masking in captured logs', () => {
  it('masks every occurrence of every secret value, the longest first', () => {
    const secrets = { TOKEN: 'tok-123456', PREFIX: 'tok-123', SHORT: 'ab' };
    expect(maskSecrets(['auth tok-123456 and tok-123 then tok-123456', 'ab is left: too short', 'nothing'], secrets)).to.deep.equal([
      'auth *** and *** then ***', 'ab is left: too short', 'nothing',
    ]);
  });

  it('leaves lines alone without secrets, and never changes its input', () => {
    const lines = ['a', 'b'];
    const copy = maskSecrets(lines, {});
    expect(copy).to.deep.equal(['a', 'b']);
    expect(copy).to.not.equal(lines);
    maskSecrets(lines, { A: 'aaaa' });
    expect(lines).to.deep.equal(['a', 'b']);
  });
});

// Keeps lib/crypto and lib/protocol pure: no Redis, no clock, no network, no environment.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';

const ALLOWED_IMPORTS = [/^\.\.?\//, /^node:crypto$/, /^node:module$/, /^@noble\//, /^canonicalize$/, /^multiformats\//];
const FORBIDDEN = [/\bDate\.now\b/, /\bnew Date\b/, /\bsetTimeout\b/, /\bsetInterval\b/, /\bMath\.random\b/, /\bprocess\.env\b/, /\bperformance\.now\b/];

describe('pure layers', () => {
  for (const folder of ['lib/crypto', 'lib/protocol']) {
    const root = join(import.meta.dirname, '../..', folder);
    for (const file of readdirSync(root).filter((f) => f.endsWith('.ts'))) {
      it(`${folder}/${file} imports no I/O and reads no clock`, () => {
        const source = readFileSync(join(root, file), 'utf8');
        const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
        for (const specifier of imports) {
          expect(ALLOWED_IMPORTS.some((p) => p.test(specifier)), `import ${specifier}`).to.equal(true);
          if (/^\.\.?\//.test(specifier)) expect(specifier, 'stays inside the pure layers').to.match(/^\.\/|^\.\.\/(crypto|protocol|errors\.ts)/);
        }
        for (const pattern of FORBIDDEN) expect(pattern.test(source), `uses ${pattern}`).to.equal(false);
      });
    }
  }
});

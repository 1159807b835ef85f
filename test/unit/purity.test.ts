// Keeps lib/crypto, lib/protocol and the roles' decision modules pure: no Redis, no clock, no network, no environment.
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

// The roles' decisions (decide-*.ts, next-*.ts beside each role's shell): the same rules; they may
// read the repository's record types and the sandbox's outcome caps, nothing that does I/O.
const DECISION_IMPORTS = /^\.\.\/\.\.\/(crypto\/|protocol\/|errors\.ts|repository\/types\.ts|sandbox\/outcome\.ts)|^\.\/(decide|next)-[a-z-]+\.ts$/;

describe('pure role decisions', () => {
  const rolesRoot = join(import.meta.dirname, '../../lib/roles');
  const files = readdirSync(rolesRoot, { withFileTypes: true }).filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(rolesRoot, d.name)).filter((f) => /^(decide|next)-.*\.ts$/.test(f)).map((f) => join(d.name, f)));
  it('finds the decision modules', () => expect(files.length).to.be.at.least(5));
  for (const file of files) {
    it(`lib/roles/${file} imports no I/O and reads no clock`, () => {
      const source = readFileSync(join(rolesRoot, file), 'utf8');
      // Type-only imports vanish at run time and can do no I/O.
      for (const [, specifier] of source.matchAll(/^import (?!type )[^;]*? from '([^']+)'/gm)) expect(DECISION_IMPORTS.test(specifier), `import ${specifier}`).to.equal(true);
      for (const pattern of FORBIDDEN) expect(pattern.test(source), `uses ${pattern}`).to.equal(false);
    });
  }
});

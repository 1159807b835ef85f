import { expect } from 'chai';
import { findDynamicImport } from '../../lib/sandbox/dynamic-import.ts';

describe('finding a dynamic import in user code', () => {
  it('finds import( with its line and column, also with whitespace or a comment before the parenthesis', () => {
    expect(findDynamicImport('export default async () => {\n  const m = await import("node:fs");\n}')).to.deep.equal({ line: 2, column: 19 });
    expect(findDynamicImport('const f = () => import /* hidden */ ("x");')).to.deep.equal({ line: 1, column: 17 });
    expect(findDynamicImport('const f = `${await import("x")}`;')).to.deep.equal({ line: 1, column: 20 });
  });

  it('ignores the word in comments, strings, templates, regular expressions and property names', () => {
    for (const code of [
      '// import("x")\nexport default () => 1;',
      '/* import("x") */ export default () => 1;',
      'export default () => "import(x)" + \'import(\';',
      'export default () => `import("x") ${1 + 1} import(`;',
      'export default (s) => /import\\(/.test(s);',
      'export default (o) => o.import("x");',
      'const a = 4 / 2; const b = a / 1; export default () => b;',
      'import.meta; export default () => 1;',
    ]) expect(findDynamicImport(code), code).to.equal(null);
  });
});

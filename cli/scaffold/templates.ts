// The files `gateway init` writes: a typed price example whose ctx.fetch the fixtures answer, its
// input, the project file, an .env example and a test that runs it in the simulator.

/** How the scaffold reaches the gateway: its types and its `gateway` command. */
export interface ScaffoldPaths {
  /** `gateway/types` resolves from the new project (inside the checkout, or with gateway installed). */
  readonly isTypesPackage: boolean;
  /** Otherwise: types/index.d.ts relative to the project folder, for a triple-slash reference. */
  readonly typesFile: string;
  /** bin/gateway.mjs relative to the project folder (the test runs it with the Node it runs on). */
  readonly gatewayBin: string;
}

export const PRICE_URL = 'https://api.example.com/v1/price?asset=ATOM';

/** File name → content, in the order they are written. */
export function scaffoldFiles(name: string, paths: ScaffoldPaths): Record<string, string> {
  const typeImport = paths.isTypesPackage
    ? `import type { Handler } from 'gateway/types';`
    : `/// <reference path="${paths.typesFile}" />`;
  const handlerType = paths.isTypesPackage ? 'Handler' : 'Gateway.Handler';
  return {
    'index.ts': `${typeImport}

// Runs on every member of the committee; the members' results must match (or use "median").
// Types are stripped before the code is stored: only erasable TypeScript (no enum, no namespace).

interface Input {
  asset: string;
}

interface Output {
  asset: string;
  price: number;
}

const handler: ${handlerType}<Input, Output> = async (input, ctx) => {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (ctx.secrets.API_KEY) headers.authorization = \`Bearer \${ctx.secrets.API_KEY}\`;
  const response = await ctx.fetch(\`https://api.example.com/v1/price?asset=\${encodeURIComponent(input.asset)}\`, { headers });
  if (response.status !== 200) throw new Error(\`price source answered \${response.status}\`);
  const { price } = response.json<{ price: number }>();
  ctx.log(\`\${input.asset}: \${price}\`);
  // Rounded, so that members whose source moved by a fraction of a cent still agree.
  return { asset: input.asset, price: Math.round(price * 100) / 100 };
};

export default handler;
`,
    'input.json': `${JSON.stringify({ asset: 'ATOM' }, null, 2)}\n`,
    'gateway.json': `${JSON.stringify({ name, committee: { size: 3, quorum: 2 }, aggregation: 'exact', limits: {}, schedules: [] }, null, 2)}\n`,
    'fixtures.json': `${JSON.stringify([{ url: PRICE_URL, method: 'GET', status: 200, headers: { 'content-type': 'application/json' }, body: { asset: 'ATOM', price: 4.2031 } }], null, 2)}\n`,
    // Type checking only (\`npx tsc\`): the gateway strips the types itself, so only erasable syntax.
    'tsconfig.json': `${JSON.stringify({ compilerOptions: { target: 'es2022', lib: ['es2022'], module: 'esnext', moduleResolution: 'bundler', types: [], strict: true, noEmit: true, verbatimModuleSyntax: true, erasableSyntaxOnly: true }, files: ['index.ts'] }, null, 2)}\n`,
    '.env.example': `# Secrets for local runs: copy to .env and pass it with \`gateway simulate --secrets .env\`.
# On the gateway, set them with \`gateway secrets set\`; ctx.secrets holds them.
API_KEY=
`,
    'index.test.mjs': `// Runs index.ts in the gateway's simulator (a committee of 3, ctx.fetch answered from
// fixtures.json): \`node --test\` in this folder. GATEWAY_BIN overrides where the gateway command is.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const gateway = process.env.GATEWAY_BIN ?? fileURLToPath(new URL(${JSON.stringify(paths.gatewayBin)}, import.meta.url));

async function simulate(...flags) {
  const { stdout } = await run(process.execPath, [gateway, 'simulate', 'index.ts', '--fetch-fixtures', 'fixtures.json', '--input', '@input.json', '--json', ...flags], { cwd: here });
  return JSON.parse(stdout);
}

test('the committee agrees on the rounded price', async () => {
  const result = await simulate('--nodes', '3');
  assert.equal(result.outcome.status, 'agreed');
  assert.deepEqual(result.outcome.value, { asset: 'ATOM', price: 4.2 });
  assert.deepEqual(result.nodes.map((node) => node.logs), [['ATOM: 4.2031'], ['ATOM: 4.2031'], ['ATOM: 4.2031']]);
});

test('one byzantine node of three does not change the result', async () => {
  const result = await simulate('--nodes', '3', '--byzantine', '1');
  assert.equal(result.outcome.status, 'agreed');
  assert.deepEqual(result.outcome.value, { asset: 'ATOM', price: 4.2 });
  assert.equal(result.nodes.find((node) => node.behaviour === 'byzantine').agreed, false);
});
`,
  };
}

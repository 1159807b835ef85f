// npm run docs:config — rewrites the README's configuration table from lib/config.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigTable } from '../lib/config.ts';

const path = join(import.meta.dirname, '..', 'README.md');
const readme = readFileSync(path, 'utf8');
const start = '<!-- config:start -->';
const end = '<!-- config:end -->';
const before = readme.slice(0, readme.indexOf(start) + start.length);
const after = readme.slice(readme.indexOf(end));
if (!readme.includes(start) || !readme.includes(end)) throw new Error('README.md lacks the config markers');
writeFileSync(path, `${before}\n${renderConfigTable()}\n${after}`);
console.log('README.md configuration table updated');

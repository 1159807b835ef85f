// Finding a dynamic `import(…)` in user code before it is stored: the sandbox has no module loader, so
// such a call could only fail at run time; refusing it at upload says so at once, with its position.
// A small scanner, not a parser: it skips comments, string and template literals (and the `${}`
// inside templates) and regular expression literals, and reports the keyword `import` followed by `(`.
// Code built at run time (`eval`, `Function`) is not seen here; it fails at run time as before.

/** Where the first dynamic import is (1-based line and column), or null when there is none. */
export function findDynamicImport(code: string): { line: number; column: number } | null {
  const templateDepths: number[] = [];
  let braceDepth = 0;
  // Whether a `/` here starts a regular expression (after an operator or keyword) rather than a division.
  let isRegexAllowed = true;
  let i = 0;
  while (i < code.length) {
    const ch = code[i];
    const next = code[i + 1];
    if (ch === '/' && next === '/') {
      i = skipTo(code, i + 2, '\n');
      continue;
    }
    if (ch === '/' && next === '*') {
      const end = code.indexOf('*/', i + 2);
      i = end < 0 ? code.length : end + 2;
      continue;
    }
    if (ch === '"' || ch === "'") {
      i = skipQuoted(code, i + 1, ch);
      isRegexAllowed = false;
      continue;
    }
    if (ch === '`' || (ch === '}' && templateDepths.length > 0 && templateDepths[templateDepths.length - 1] === braceDepth)) {
      if (ch === '}') templateDepths.pop();
      // Inside a template: up to its end, or to a `${`, whose expression is scanned as code.
      let j = i + 1;
      for (; j < code.length; j++) {
        if (code[j] === '\\') j++;
        else if (code[j] === '`') break;
        else if (code[j] === '$' && code[j + 1] === '{') {
          templateDepths.push(braceDepth);
          j++;
          break;
        }
      }
      i = j + 1;
      isRegexAllowed = code[j] !== '`';
      continue;
    }
    if (ch === '/' && isRegexAllowed) {
      i = skipRegex(code, i + 1);
      isRegexAllowed = false;
      continue;
    }
    if (isIdentifierStart(ch)) {
      let j = i + 1;
      while (j < code.length && isIdentifierPart(code[j])) j++;
      const word = code.slice(i, j);
      if (word === 'import' && code[i - 1] !== '.' && code[nextSignificant(code, j)] === '(') return positionOf(code, i);
      isRegexAllowed = KEYWORDS_BEFORE_EXPRESSION.has(word);
      i = j;
      continue;
    }
    if (ch === '{') braceDepth++;
    else if (ch === '}') braceDepth--;
    if (!/\s/.test(ch)) isRegexAllowed = !/[\w$)\]]/.test(ch);
    i++;
  }
  return null;
}

const KEYWORDS_BEFORE_EXPRESSION = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

const isIdentifierStart = (ch: string) => /[A-Za-z_$]/.test(ch) || ch > '\x7f';
const isIdentifierPart = (ch: string) => /[\w$]/.test(ch) || ch > '\x7f';

function skipTo(code: string, from: number, end: string): number {
  const at = code.indexOf(end, from);
  return at < 0 ? code.length : at + 1;
}

function skipQuoted(code: string, from: number, quote: string): number {
  for (let j = from; j < code.length; j++) {
    if (code[j] === '\\') j++;
    else if (code[j] === quote || code[j] === '\n') return j + 1;
  }
  return code.length;
}

function skipRegex(code: string, from: number): number {
  let isInClass = false;
  for (let j = from; j < code.length; j++) {
    const ch = code[j];
    if (ch === '\\') j++;
    else if (ch === '[') isInClass = true;
    else if (ch === ']') isInClass = false;
    else if (ch === '/' && !isInClass) return j + 1;
    else if (ch === '\n') return j + 1;
  }
  return code.length;
}

// The index of the next character that is not whitespace or inside a comment.
function nextSignificant(code: string, from: number): number {
  let j = from;
  while (j < code.length) {
    if (/\s/.test(code[j])) j++;
    else if (code.startsWith('//', j)) j = skipTo(code, j + 2, '\n');
    else if (code.startsWith('/*', j)) {
      const end = code.indexOf('*/', j + 2);
      j = end < 0 ? code.length : end + 2;
    } else break;
  }
  return j;
}

function positionOf(code: string, index: number): { line: number; column: number } {
  const before = code.slice(0, index);
  const line = before.split('\n').length;
  return { line, column: index - before.lastIndexOf('\n') };
}

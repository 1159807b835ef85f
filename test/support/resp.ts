// Just enough RESP for the fault proxy: client commands (arrays of bulk strings) and where each
// RESP2/RESP3 reply ends.

/** A command as the client sent it: the name lowercased, the arguments as UTF-8 text. */
export interface RedisCommand {
  readonly name: string;
  readonly args: readonly string[];
}

/** One RESP command (an array of bulk strings) from `offset`, or null when it is not complete yet. */
export function parseCommand(buffer: Buffer, offset: number): { command: RedisCommand; end: number } | null {
  if (offset >= buffer.length) return null;
  if (buffer[offset] !== 0x2a) throw new Error(`the fault proxy understands RESP arrays only, got ${JSON.stringify(String.fromCharCode(buffer[offset]))}`);
  let line = readLine(buffer, offset + 1);
  if (!line) return null;
  const count = Number(line.text);
  let at = line.end;
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at >= buffer.length) return null;
    if (buffer[at] !== 0x24) throw new Error('the fault proxy expected a bulk string');
    line = readLine(buffer, at + 1);
    if (!line) return null;
    const length = Number(line.text);
    if (line.end + length + 2 > buffer.length) return null;
    parts.push(buffer.toString('utf8', line.end, line.end + length));
    at = line.end + length + 2;
  }
  return { command: { name: (parts[0] ?? '').toLowerCase(), args: parts.slice(1) }, end: at };
}

/** The end of the RESP2/RESP3 value at `offset`, or -1 when it is not complete yet. */
export function skipValue(buffer: Buffer, offset: number): number {
  if (offset >= buffer.length) return -1;
  const type = buffer[offset];
  const line = readLine(buffer, offset + 1);
  if (!line) return -1;
  switch (String.fromCharCode(type)) {
    case '+': case '-': case ':': case '_': case ',': case '#': case '(':
      return line.end;
    case '$': case '!': case '=': {
      const length = Number(line.text);
      if (length < 0) return line.end;
      return line.end + length + 2 <= buffer.length ? line.end + length + 2 : -1;
    }
    case '*': case '~': case '>': case '%': case '|': {
      const count = Number(line.text);
      if (count < 0) return line.end;
      const elements = type === 0x25 || type === 0x7c ? count * 2 : count;
      let at = line.end;
      for (let i = 0; i < elements; i++) {
        at = skipValue(buffer, at);
        if (at < 0) return -1;
      }
      // An attribute is followed by the value it describes.
      return type === 0x7c ? skipValue(buffer, at) : at;
    }
    default:
      throw new Error(`the fault proxy cannot parse a reply of type ${JSON.stringify(String.fromCharCode(type))}`);
  }
}

function readLine(buffer: Buffer, from: number): { text: string; end: number } | null {
  const at = buffer.indexOf('\r\n', from);
  return at < 0 ? null : { text: buffer.toString('latin1', from, at), end: at + 2 };
}

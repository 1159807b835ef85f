// How commands print: plain lines for people (colours only on a TTY), one JSON document with --json.
import { styleText } from 'node:util';

export interface Output {
  readonly isJson: boolean;
  /** A line for people (suppressed with --json). */
  line(text: string): void;
  /** The command's one JSON document (printed only with --json). */
  json(value: unknown): void;
  ok(text: string): string;
  fail(text: string): string;
  dim(text: string): string;
}

export function createOutput(options: { json?: boolean }, stream: NodeJS.WriteStream = process.stdout): Output {
  const isJson = options.json === true;
  const isColour = stream.isTTY === true && !process.env.NO_COLOR;
  const paint = (format: Parameters<typeof styleText>[0], text: string) => (isColour ? styleText(format, text) : text);
  return {
    isJson,
    line(text) {
      if (!isJson) stream.write(`${text}\n`);
    },
    json(value) {
      if (isJson) stream.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    ok: (text) => paint('green', text),
    fail: (text) => paint('red', text),
    dim: (text) => paint('dim', text),
  };
}

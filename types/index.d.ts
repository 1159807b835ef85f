// Types for a Gateway project's code (`gateway/types`): the entry `(input, ctx) => value` and the
// `ctx` the executors' sandbox passes it (lib/sandbox/bootstrap.ts; docs/sandbox.md is the contract).
// A plain .d.ts: Node strips types in your .ts file, never inside node_modules.
//
//   import type { Handler } from 'gateway/types';
//   const handler: Handler<{ asset: string }, number> = async (input, ctx) => …;
//   export default handler;
//
// Without a package to import from, `/// <reference path=".../types/index.d.ts" />` declares the
// same types globally under `Gateway` (`Gateway.Handler`, `Gateway.Ctx`, …).

declare global {
  namespace Gateway {
    /** A JSON value: what `input` holds, and what the entry must return. */
    type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

    /** `ctx.fetch` methods; anything else is refused. */
    type FetchMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

    /** The second argument of `ctx.fetch`. */
    interface FetchInit {
      /** Default GET; lower case is accepted. */
      method?: FetchMethod | Lowercase<FetchMethod>;
      /**
       * Header values must be strings. `host`, `connection`, `keep-alive`, `content-length`,
       * `transfer-encoding`, `te`, `trailer`, `upgrade`, `expect`, `proxy-connection` and
       * `proxy-authorization` are set by the host and refused; all headers together under 16 KiB.
       */
      headers?: Record<string, string>;
      /** A string (send JSON with JSON.stringify); not allowed on GET or HEAD. */
      body?: string;
    }

    /** What `ctx.fetch` resolves to: a frozen object, not a WHATWG Response (no `text()`, no streams). */
    interface FetchResponse {
      /** The HTTP status as received: any status is returned, only network failures and refusals throw. */
      readonly status: number;
      /** Lower-case names; repeated headers joined with ", ". */
      readonly headers: Readonly<Record<string, string>>;
      /** The body decoded as UTF-8 text. */
      readonly body: string;
      /** `JSON.parse(body)`; throws a SyntaxError when the body is not JSON. The type argument is not checked. */
      json<T = unknown>(): T;
    }

    /** The frozen context of one run: the same on every committee member, except what `fetch` returns. */
    interface Ctx {
      /** The request id (`req_…`). */
      readonly requestId: string;
      /** The project id (`prj_…`). */
      readonly projectId: string;
      /** The round in which the committee was drawn. */
      readonly round: number;
      /** 64 hex characters, the same on every member; `Math.random()` is seeded from it. */
      readonly seed: string;
      /** The project's secrets (`gateway secrets set`, or `--secrets .env` when simulating). */
      readonly secrets: Readonly<Record<string, string | undefined>>;
      /** Captures a log line, as `console.log` does (values are JSON-formatted; lines and bytes are capped). */
      log(...args: unknown[]): void;
      /**
       * Outbound HTTP(S) through the host. Rejects with an Error saying why for a refused address
       * (`fetch refused: 127.0.0.1 is a loopback address`), the call limit (`fetch call limit of 10
       * reached`), a timeout (`fetch timed out after 10000 ms`), an oversized response, or a bad request.
       */
      fetch(url: string, init?: FetchInit): Promise<FetchResponse>;
    }

    /**
     * The entry: a module's default export (or a global `mainFunction`). `input` is a copy of the
     * request's JSON input (`null` when none was sent); the result must be a JSON value (no
     * `undefined`, `NaN`, `Date`, `Map` or class instances). A thrown Error becomes `{ "error": message }`.
     */
    type Handler<I = JsonValue, O = JsonValue> = (input: I, ctx: Ctx) => O | Promise<O>;
  }
}

export type JsonValue = Gateway.JsonValue;
export type FetchMethod = Gateway.FetchMethod;
export type FetchInit = Gateway.FetchInit;
export type FetchResponse = Gateway.FetchResponse;
export type Ctx = Gateway.Ctx;
export type Handler<I = JsonValue, O = JsonValue> = Gateway.Handler<I, O>;

import type { Readable } from 'node:stream';
import { invalidArgument } from './errors.js';

/** Characters of an HTTP token (RFC 9110 §5.6.2): header names and methods. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What a header value must not contain: CR, LF and NUL would split or truncate the head. */
const UNSAFE_VALUE = /[\r\n\0]/;
/** A request target: no whitespace or control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses.
const TARGET = /^[^\x00-\x20\x7f]+$/;

/** Request headers as the dispatch options give them (names in any case). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** A request body in the shapes the pool sends. */
export type RequestBodyInput = null | undefined | string | Buffer | Readable;

/** What building the head learnt about the request, written onto the caller's request state. */
export interface RequestHeadInfo {
  /** The `content-length` the caller gave, or -1. */
  declaredLength: number;
  /** The caller asked for `connection: close`: the connection is not reused. */
  closeRequested: boolean;
}

/** Methods whose empty body still gets `content-length: 0` (servers may wait for one otherwise). */
function expectsBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

/**
 * Builds the request head as one latin1 string, ending with the blank line. `bodyLength` is the
 * byte length of a string or Buffer body, -1 for a stream, -2 for no body. Framing headers
 * (`content-length`, `transfer-encoding`) come from the body, so a caller cannot smuggle a
 * second request through them. Throws an `UND_ERR_INVALID_ARG` error before anything is sent.
 * With `checked`, header names and values are not checked again (see `headersChecked`).
 */
export function buildRequestHead(
  info: RequestHeadInfo,
  method: string,
  path: string,
  headers: RequestHeaders | null | undefined,
  host: string,
  bodyLength: number,
  checked = false,
): string {
  if (!TOKEN.test(method)) throw invalidArgument(`invalid request method ${JSON.stringify(method)}`);
  if (!TARGET.test(path)) throw invalidArgument(`invalid request path ${JSON.stringify(path)}`);
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let hasHost = false;
  let declared = -1;
  let close = false;
  if (headers) {
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      if (!checked && !TOKEN.test(name)) throw invalidArgument(`invalid header name ${JSON.stringify(name)}`);
      // Names are compared case-insensitively, but lowercasing every name costs; only names of
      // a length that could match one of the few special headers are lowercased.
      const length = name.length;
      if (length === 4 || length === 7 || length === 10 || length === 14 || length === 17) {
        const lower = name.toLowerCase();
        if (lower === 'host') hasHost = true;
        else if (lower === 'content-length') {
          if (typeof value !== 'string' || !/^\d{1,15}$/.test(value))
            throw invalidArgument(`invalid content-length ${JSON.stringify(value)}`);
          declared = Number(value);
          continue; // written below, once, from the body
        } else if (lower === 'connection') {
          const token = typeof value === 'string' ? value.toLowerCase() : '';
          if (token !== 'close' && token !== 'keep-alive')
            throw invalidArgument(`invalid connection header ${JSON.stringify(value)}`);
          close = token === 'close';
        } else if (lower === 'transfer-encoding' || lower === 'keep-alive' || lower === 'upgrade') {
          throw invalidArgument(`the ${lower} header is set by the client, not the caller`);
        }
      }
      if (typeof value === 'string') {
        if (!checked && UNSAFE_VALUE.test(value)) throw invalidArgument(`invalid value of header ${name}`);
        head += `${name}: ${value}\r\n`;
      } else {
        for (const item of value) {
          if (!checked && UNSAFE_VALUE.test(item)) throw invalidArgument(`invalid value of header ${name}`);
          head += `${name}: ${item}\r\n`;
        }
      }
    }
  }
  if (!hasHost) head += `host: ${host}\r\n`;
  if (bodyLength >= 0) {
    if (declared !== -1 && declared !== bodyLength)
      throw invalidArgument(`content-length ${declared} does not match the body's ${bodyLength} bytes`);
    if (bodyLength > 0 || expectsBody(method)) head += `content-length: ${bodyLength}\r\n`;
  } else if (bodyLength === -1) {
    head += declared === -1 ? 'transfer-encoding: chunked\r\n' : `content-length: ${declared}\r\n`;
  } else if (declared > 0) {
    throw invalidArgument(`content-length ${declared} given without a body`);
  } else if (declared === 0 || expectsBody(method)) {
    head += 'content-length: 0\r\n';
  }
  info.declaredLength = declared;
  info.closeRequested = close;
  return `${head}\r\n`;
}

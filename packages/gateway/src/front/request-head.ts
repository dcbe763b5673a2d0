import type { IncomingHttpHeaders } from 'node:http';
import { charTable, headerNameAt, isAlphaNum } from '../proxy/chars.js';
import { headerObject } from '../proxy/headers.js';

/**
 * Methods the front takes: OPTIONS too, so a browser's CORS preflight does not hand its
 * connection to node:http (CONNECT, TRACE and others go there; so does `OPTIONS *`).
 */
export type FrontMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/**
 * A request head the fast path serves itself: one of {@link FrontMethod} over HTTP/1.1 or 1.0, with no
 * body or a `Content-Length` one (never chunked), every header line plain and unique. Names are
 * lowercased, values trimmed (as `IncomingMessage` has them).
 */
export interface FrontRequest {
  readonly method: FrontMethod;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Bytes of body after the head: its `Content-Length`, 0 without one. */
  readonly contentLength: number;
  /**
   * The connection ends after this answer: the client sent `Connection: close`, or it speaks
   * HTTP/1.0 and did not ask for `keep-alive`.
   */
  readonly close: boolean;
  /**
   * An HTTP/1.0 request: its answer cannot be chunked. One without a `Content-Length` ends the
   * connection (its body, if any, runs to the close), as node:http answers such a client.
   */
  readonly http10: boolean;
  /**
   * The client sent `Expect: 100-continue` (HTTP/1.1): it may wait for `100 Continue` before its
   * body, which the front writes once it takes the request, as node:http does.
   */
  readonly expectContinue: boolean;
}

/** The start of a request line the front may take, and its method (without the space). */
const REQUEST_STARTS: readonly (readonly [string, FrontMethod])[] = [
  ['GET /', 'GET'],
  ['POST /', 'POST'],
  ['HEAD /', 'HEAD'],
  ['PUT /', 'PUT'],
  ['PATCH /', 'PATCH'],
  ['DELETE /', 'DELETE'],
  ['OPTIONS /', 'OPTIONS'],
];

/** The method of a request line that starts like one the front takes, or undefined. */
function methodOf(text: string): FrontMethod | undefined {
  for (const [start, method] of REQUEST_STARTS) if (text.startsWith(start)) return method;
  return undefined;
}

/**
 * Whether `bytes` (the start of a head) may still become a request line the front takes: they
 * are a prefix of one of its starts (`GET /`, `POST /`…), or begin with one.
 */
export function mayStartRequest(bytes: Buffer): boolean {
  for (const [start] of REQUEST_STARTS) {
    const n = Math.min(bytes.length, start.length);
    if (bytes.toString('latin1', 0, n) === start.slice(0, n)) return true;
  }
  return false;
}

/**
 * A `Content-Length` line's value the front takes, untrimmed: 1 to 15 digits between spaces
 * (anything else, node:http judges: llhttp refuses a tab after the digits, for one).
 */
const CONTENT_LENGTH = /^ *\d{1,15} *$/;

/** Characters of an origin-form target the fast path takes: RFC 3986's path and query characters. */
const TARGET = charTable((c) => isAlphaNum(c) || "-._~!$&'()*+,;=:@/?%".includes(String.fromCharCode(c)));
/** Characters of a header value the fast path takes: visible ASCII, space and tab. */
const VALUE = charTable((c) => c === 9 || (c >= 32 && c < 127));

/**
 * Headers after which node:http, not the fast path, answers: chunked bodies, upgrades, and
 * `Proxy-Connection`, which llhttp reads as `Connection`.
 */
const HANDED_OFF = new Set(['transfer-encoding', 'upgrade', 'proxy-connection', '__proto__']);
/** An `Expect` value node:http answers with `100 Continue` (its own test); any other gets its 417. */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/** More header lines than this go to node:http (its own limit is 2000). */
const MAX_HEADER_LINES = 100;

/**
 * Parses the head in `text` (latin1, without the blank line that ends it). Returns undefined for
 * anything the fast path does not take whole; node:http then parses the same bytes and decides
 * (answers, or refuses with 400/431). The parser is strict on purpose: accepting less than
 * node:http is safe, accepting more would be a smuggling gap between the two.
 */
export function parseRequestHead(text: string): FrontRequest | undefined {
  const method = methodOf(text);
  if (method === undefined) return undefined;
  const start = method.length + 1;
  let at = start;
  while (at < text.length && TARGET[text.charCodeAt(at)] === 1) at++;
  // The request line ends with exactly " HTTP/1.1" or " HTTP/1.0" and CRLF (or the head ends there).
  if (text.charCodeAt(at) !== 32 || !text.startsWith('HTTP/1.', at + 1)) return undefined;
  const minor = text.charCodeAt(at + 8);
  if (minor !== 49 /* 1 */ && minor !== 48 /* 0 */) return undefined;
  const http10 = minor === 48;
  const url = text.slice(start, at);
  at += 9;
  // Nothing inherited: a header named like an Object method is a header, not a duplicate.
  const headers = headerObject<IncomingHttpHeaders>();
  let close = false;
  let keepAlive = false;
  let expectContinue = false;
  let contentLength = 0;
  let lines = 0;
  while (at < text.length) {
    if (text.charCodeAt(at) !== 13 || text.charCodeAt(at + 1) !== 10) return undefined;
    at += 2;
    if (++lines > MAX_HEADER_LINES) return undefined;
    const name = headerNameAt(text, at);
    at += name.length;
    // No empty name, no space before the colon, no obs-fold (a line starting with a space).
    if (name === '' || text.charCodeAt(at) !== 58 /* : */) return undefined;
    const colon = at;
    at++;
    let valueStart = at;
    while (at < text.length && VALUE[text.charCodeAt(at)] === 1) at++;
    let valueEnd = at;
    while (valueStart < valueEnd && isSpace(text.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isSpace(text.charCodeAt(valueEnd - 1))) valueEnd--;
    if (HANDED_OFF.has(name) || headers[name] !== undefined) return undefined;
    const value = text.slice(valueStart, valueEnd);
    if (name === 'content-length') {
      if (!CONTENT_LENGTH.test(text.slice(colon + 1, at))) return undefined;
      contentLength = Number(value);
    } else if (name === 'expect') {
      // node:http ignores it from an HTTP/1.0 client, and refuses other expectations (417).
      if (http10 || !CONTINUE.test(value)) return undefined;
      expectContinue = true;
    } else if (name === 'connection') {
      const tokens = value.toLowerCase();
      // A tab: llhttp reads it as part of a token; node:http decides.
      if (tokens.includes('upgrade') || text.slice(colon + 1, at).includes('\t')) return undefined;
      if (tokens === 'keep-alive') keepAlive = true;
      else if (tokens === 'close') close = true;
      else
        for (const token of tokens.split(',')) {
          // As llhttp reads the list: a token between commas, spaces around it ignored.
          const trimmed = token.trim();
          if (trimmed === 'close') close = true;
          else if (trimmed === 'keep-alive') keepAlive = true;
        }
    }
    headers[name] = value;
  }
  // node:http refuses an HTTP/1.1 request without Host (400): it decides that too.
  if (headers.host === undefined) return undefined;
  if (http10) {
    // node:http chunks an answer to an HTTP/1.0 client that accepts it (`TE`), and its parser
    // keeps a connection that asks for both keep-alive and close: node:http decides those.
    if (headers.te !== undefined || (keepAlive && close)) return undefined;
    close = !keepAlive;
  }
  return { method, url, headers, contentLength, close, http10, expectContinue };
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9;
}

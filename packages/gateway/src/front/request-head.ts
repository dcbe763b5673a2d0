import type { IncomingHttpHeaders } from 'node:http';
import { charTable, headerNameAt, isAlphaNum } from '../proxy/chars.js';
import { headerObject } from '../proxy/headers.js';

/**
 * A request head the fast path serves itself: GET or HEAD over HTTP/1.1 without a body, every
 * header line plain and unique. Names are lowercased, values trimmed (as `IncomingMessage` has them).
 */
export interface FrontRequest {
  readonly method: 'GET' | 'HEAD';
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The client sent `Connection: close`: the connection ends after this answer. */
  readonly close: boolean;
}

/** Characters of an origin-form target the fast path takes: RFC 3986's path and query characters. */
const TARGET = charTable((c) => isAlphaNum(c) || "-._~!$&'()*+,;=:@/?%".includes(String.fromCharCode(c)));
/** Characters of a header value the fast path takes: visible ASCII, space and tab. */
const VALUE = charTable((c) => c === 9 || (c >= 32 && c < 127));

/** Headers after which node:http, not the fast path, answers: bodies, upgrades, `Expect`. */
const HANDED_OFF = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect', '__proto__']);

/** More header lines than this go to node:http (its own limit is 2000). */
const MAX_HEADER_LINES = 100;

/**
 * Parses the head in `text` (latin1, without the blank line that ends it). Returns undefined for
 * anything the fast path does not take whole; node:http then parses the same bytes and decides
 * (answers, or refuses with 400/431). The parser is strict on purpose: accepting less than
 * node:http is safe, accepting more would be a smuggling gap between the two.
 */
export function parseRequestHead(text: string): FrontRequest | undefined {
  let method: 'GET' | 'HEAD';
  let start: number;
  if (text.startsWith('GET /')) {
    method = 'GET';
    start = 4;
  } else if (text.startsWith('HEAD /')) {
    method = 'HEAD';
    start = 5;
  } else return undefined;
  let at = start;
  while (at < text.length && TARGET[text.charCodeAt(at)] === 1) at++;
  // The request line ends with exactly " HTTP/1.1" and CRLF (or the head ends there).
  if (text.charCodeAt(at) !== 32 || !text.startsWith('HTTP/1.1', at + 1)) return undefined;
  const url = text.slice(start, at);
  at += 9;
  // Nothing inherited: a header named like an Object method is a header, not a duplicate.
  const headers = headerObject<IncomingHttpHeaders>();
  let close = false;
  let lines = 0;
  while (at < text.length) {
    if (text.charCodeAt(at) !== 13 || text.charCodeAt(at + 1) !== 10) return undefined;
    at += 2;
    if (++lines > MAX_HEADER_LINES) return undefined;
    const name = headerNameAt(text, at);
    at += name.length;
    // No empty name, no space before the colon, no obs-fold (a line starting with a space).
    if (name === '' || text.charCodeAt(at) !== 58 /* : */) return undefined;
    at++;
    let valueStart = at;
    while (at < text.length && VALUE[text.charCodeAt(at)] === 1) at++;
    let valueEnd = at;
    while (valueStart < valueEnd && isSpace(text.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isSpace(text.charCodeAt(valueEnd - 1))) valueEnd--;
    if (HANDED_OFF.has(name) || headers[name] !== undefined) return undefined;
    const value = text.slice(valueStart, valueEnd);
    if (name === 'connection') {
      const tokens = value.toLowerCase();
      if (tokens.includes('upgrade')) return undefined;
      if (tokens === 'close' || /(?:^|[\s,])close(?:$|[\s,])/.test(tokens)) close = true;
    }
    headers[name] = value;
  }
  // node:http refuses an HTTP/1.1 request without Host (400): it decides that too.
  if (headers.host === undefined) return undefined;
  return { method, url, headers, close };
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9;
}

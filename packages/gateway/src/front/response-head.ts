import { type IncomingHttpHeaders, STATUS_CODES } from 'node:http';
import { Headers } from '@flotilla/core';
import { type HeaderRecord, isHopByHop } from '../proxy/headers.js';
import { TOKEN } from '../proxy/http1/request-head.js';
import { FINGERPRINT_HEADERS, SECURE_ENTRIES } from '../traffic/secure-headers.js';

/** What node:http refuses in a header value it writes (`ERR_INVALID_CHAR`): the front refuses the same. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

let dateSecond = 0;
let dateText = '';

/** `Date` in IMF-fixdate, made at most once a second (as node:http does). */
function httpDate(): string {
  const now = Date.now();
  const second = now - (now % 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** Framing of the body after a head: none added (HEAD, 204, 304, or the head has its own `content-length`). */
export const AS_IS = 0;
/** The head gets `Transfer-Encoding: chunked`; the body is written in chunks. */
export const CHUNKED = 1;
export type Framing = typeof AS_IS | typeof CHUNKED;

/** What {@link relayedHead} does with an upstream header: left out, or a secure header the upstream set itself. */
const DROPPED = 1;
const SECURE = 2;
/** The upstream headers {@link relayedHead} treats apart (every other name is relayed as it is). */
const SPECIAL = new Map<string, number>([
  ...FINGERPRINT_HEADERS.map((name): [string, number] => [name, DROPPED]),
  ...SECURE_ENTRIES.map(([name]): [string, number] => [name, SECURE]),
]);
/** Every secure header line, for an upstream that set none of them (the usual case): one string, not seven. */
const ALL_SECURE_LINES = SECURE_ENTRIES.map(([name, value]) => `${name}: ${value}\r\n`).join('');

/** Status lines by status, made once each. */
const statusLines: string[] = [];

function statusLine(status: number): string {
  let line = statusLines[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    statusLines[status] = line;
  }
  return line;
}

/**
 * The head of a relayed answer straight from the upstream's headers, for a route without response
 * header operations and an upstream whose `Connection` header lists no other header: the bytes
 * `responseHead(clientResponseHeaders(…) + withExtra(extra) + applySecureHeaders)` gives, without
 * the intermediate record and without validating again what the pool's response parser
 * validated. `extra` holds the headers the route's features add (CORS, `RateLimit-*`); undefined
 * when one of them cannot be written.
 */
export function relayedHead(
  status: number,
  upstream: IncomingHttpHeaders,
  requestId: string,
  extra: Record<string, string> | undefined,
  connectionLines: string,
  framing: Framing,
): string | undefined {
  let head = statusLine(status);
  let ownSecure = false;
  let ownRequestId = false;
  let ownDate = false;
  for (const name in upstream) {
    const kind = SPECIAL.get(name);
    if (kind === DROPPED || isHopByHop(name, undefined)) continue;
    if (kind === SECURE) ownSecure = true;
    let value = upstream[name]!;
    if (name === Headers.requestId) {
      value = requestId;
      ownRequestId = true;
    } else if (name === 'date') ownDate = true;
    // Own values only: `extra` is a plain object, and `constructor` from the upstream is a header.
    const added = extra?.[name];
    if (typeof added === 'string') {
      if (INVALID_VALUE.test(added)) return undefined;
      value = name === 'vary' ? `${String(value)}, ${added}` : added;
    }
    if (typeof value === 'string') head += `${name}: ${value}\r\n`;
    else for (const item of value) head += `${name}: ${item}\r\n`;
  }
  if (!ownRequestId) {
    const value = extra?.[Headers.requestId] ?? requestId;
    if (value !== requestId && INVALID_VALUE.test(value)) return undefined;
    head += `${Headers.requestId}: ${value}\r\n`;
  }
  if (extra !== undefined)
    for (const name in extra) {
      const kind = SPECIAL.get(name);
      // A fingerprint is dropped from the answer whoever set it; the request id is written.
      if (kind === DROPPED || name === Headers.requestId) continue;
      // Already written in the upstream's place (unless the upstream's was hop-by-hop).
      if (upstream[name] !== undefined && !isHopByHop(name, undefined)) continue;
      const value = extra[name]!;
      if (!TOKEN.test(name) || INVALID_VALUE.test(value)) return undefined;
      if (kind === SECURE) ownSecure = true;
      else if (name === 'date') ownDate = true;
      head += `${name}: ${value}\r\n`;
    }
  if (!ownSecure) head += ALL_SECURE_LINES;
  else
    for (let i = 0; i < SECURE_ENTRIES.length; i++) {
      const [name, value] = SECURE_ENTRIES[i]!;
      if (upstream[name] === undefined && extra?.[name] === undefined) head += `${name}: ${value}\r\n`;
    }
  if (!ownDate) head += `Date: ${httpDate()}\r\n`;
  head += connectionLines;
  if (framing === CHUNKED) head += 'Transfer-Encoding: chunked\r\n';
  return `${head}\r\n`;
}

/**
 * The bytes of a response head in node:http's shape: status line with the standard reason,
 * `headers` in their order, then `Date`, `connectionLines` (`Connection`, `Keep-Alive`) and the
 * framing header, which node adds itself. Returns undefined when a header name or value cannot be written.
 */
export function responseHead(
  status: number,
  headers: HeaderRecord,
  connectionLines: string,
  framing: Framing,
): string | undefined {
  let head = statusLine(status);
  let hasDate = false;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (!TOKEN.test(name)) return undefined;
    if (typeof value === 'string') {
      if (INVALID_VALUE.test(value)) return undefined;
      head += `${name}: ${value}\r\n`;
    } else {
      for (const item of value) {
        if (INVALID_VALUE.test(item)) return undefined;
        head += `${name}: ${item}\r\n`;
      }
    }
    if (name.length === 4 && name === 'date') hasDate = true;
  }
  if (!hasDate) head += `Date: ${httpDate()}\r\n`;
  head += connectionLines;
  if (framing === CHUNKED) head += 'Transfer-Encoding: chunked\r\n';
  return `${head}\r\n`;
}

/** Whether a response with this status to this method has no body (RFC 9110 §6.4.1). */
export function hasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || status < 200;
}

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

const FINGERPRINTS = new Set(FINGERPRINT_HEADERS);

/**
 * The head of a relayed answer straight from the upstream's headers, for a route without response
 * header operations and an upstream whose `Connection` header lists no other header: the bytes
 * `responseHead(clientResponseHeaders(…) + applySecureHeaders)` gives, without the intermediate
 * record and without validating again what the pool's response parser validated.
 */
export function relayedHead(
  status: number,
  upstream: IncomingHttpHeaders,
  requestId: string,
  connectionLines: string,
  framing: Framing,
): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
  for (const name in upstream) {
    if (isHopByHop(name, undefined) || FINGERPRINTS.has(name)) continue;
    const value = name === Headers.requestId ? requestId : upstream[name]!;
    if (typeof value === 'string') head += `${name}: ${value}\r\n`;
    else for (const item of value) head += `${name}: ${item}\r\n`;
  }
  if (upstream[Headers.requestId] === undefined) head += `${Headers.requestId}: ${requestId}\r\n`;
  for (let i = 0; i < SECURE_ENTRIES.length; i++) {
    const [name, value] = SECURE_ENTRIES[i]!;
    if (upstream[name] === undefined) head += `${name}: ${value}\r\n`;
  }
  if (upstream.date === undefined) head += `Date: ${httpDate()}\r\n`;
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
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
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

import type { IncomingHttpHeaders } from 'node:http';
import { charTable, headerNameAt } from '../chars.js';
import { headerObject } from '../headers.js';
import { Http1Error, protocolError } from './errors.js';
import { TOKEN } from './request-head.js';

/** Where a parser delivers one response; returning false stops parsing (the request went away). */
export interface ResponseSink {
  onHead(statusCode: number, statusMessage: string, headers: IncomingHttpHeaders): boolean;
  onBody(chunk: Buffer): boolean;
}

/** Control characters other than HTAB are not allowed in a field value. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Bytes of a field value or reason phrase: all but DEL and the control characters other than HTAB. */
const FIELD_VALUE_CHARS = charTable((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));
const CONTENT_LENGTH = /^\d{1,15}$/;
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i;
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const NO_TRAILERS: IncomingHttpHeaders = Object.freeze({}) as IncomingHttpHeaders;
/** Bytes of one chunk-size line (size and extensions) before it is refused. */
const MAX_CHUNK_LINE = 4096;

const HEAD = 0;
const BODY_LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_EXT = 3;
const CHUNK_SIZE_LF = 4;
const CHUNK_DATA = 5;
const CHUNK_DATA_CR = 6;
const CHUNK_DATA_LF = 7;
const TRAILERS = 8;
const BODY_EOF = 9;
const DONE = 10;
const FAILED = 11;

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** Whether a lowercased comma-separated list names `token`. */
function listHas(lower: string, token: string): boolean {
  for (const item of lower.split(',')) if (item.trim() === token) return true;
  return false;
}

/**
 * The status code of the status line `text` starts with (`lineEnd` is where it ends): RFC 9112's
 * `HTTP/1.x DDD[ reason]`, the reason without control characters. -1 for anything else.
 */
function statusCodeOf(text: string, lineEnd: number): number {
  if (lineEnd < 12 || !text.startsWith('HTTP/1.')) return -1;
  const minor = text.charCodeAt(7);
  if ((minor !== 0x30 && minor !== 0x31) || text.charCodeAt(8) !== 0x20) return -1;
  const hundreds = text.charCodeAt(9) - 0x30;
  const tens = text.charCodeAt(10) - 0x30;
  const ones = text.charCodeAt(11) - 0x30;
  if (hundreds < 1 || hundreds > 9 || tens < 0 || tens > 9 || ones < 0 || ones > 9) return -1;
  if (lineEnd > 12) {
    if (text.charCodeAt(12) !== 0x20) return -1;
    for (let i = 13; i < lineEnd; i++) if (FIELD_VALUE_CHARS[text.charCodeAt(i)] !== 1) return -1;
  }
  return hundreds * 100 + tens * 10 + ones;
}

/**
 * Adds a field to a header object that inherits nothing (`headerObject`): repeats become arrays,
 * `set-cookie` always is one.
 */
function addField(target: Record<string, string | string[]>, name: string, value: string): void {
  const existing = target[name];
  if (existing === undefined) target[name] = name === 'set-cookie' ? [value] : value;
  else if (typeof existing === 'string') target[name] = [existing, value];
  else existing.push(value);
}

/**
 * Incremental parser of HTTP/1.x responses, fed the socket's Buffers as they come. It keeps
 * no copy of body bytes: chunk data is handed on as slices of the input, also mid-chunk. A head
 * that arrives in one Buffer is parsed in place; only a head split over reads is concatenated.
 */
export class ResponseParser {
  /** The response ended; `trailers` and `keepAlive` are final. */
  finished = false;
  /** The error that stopped parsing (a `HPE_*` or `UND_ERR_HEADERS_OVERFLOW` code). */
  error: Http1Error | null = null;
  /** The connection may carry another request after this response. */
  keepAlive = false;
  /** Milliseconds from the response's `Keep-Alive: timeout=`, or -1. */
  keepAliveHint = -1;
  trailers: IncomingHttpHeaders = NO_TRAILERS;

  private state = HEAD;
  private noBody = false;
  private pending: Buffer | null = null;
  private blockText = '';
  private remaining = 0;
  private chunkLine = 0;
  private sizeDigits = 0;
  private lastKeepAlive = '';
  private lastKeepAliveHint = -1;

  constructor(
    private readonly sink: ResponseSink,
    private readonly maxHeaderSize: number,
  ) {}

  /** Prepares for the response to the next request; `noBody` for HEAD requests. */
  reset(noBody: boolean): void {
    this.state = HEAD;
    this.noBody = noBody;
    this.finished = false;
    this.error = null;
    this.pending = null;
    this.trailers = NO_TRAILERS;
    this.keepAliveHint = -1;
    this.keepAlive = false;
  }

  /**
   * Parses `chunk`. Returns the offset where parsing stopped: `chunk.length` normally, less when
   * the response finished (`finished`) or the sink asked to stop, -1 on a protocol error (`error`).
   */
  execute(chunk: Buffer): number {
    const length = chunk.length;
    let i = 0;
    while (i < length) {
      switch (this.state) {
        case HEAD: {
          const end = this.collect(chunk, i);
          if (end < 0) return end === -1 ? length : -1;
          i = end;
          if (!this.parseHead()) return -1;
          if (this.state === HEAD) continue; // 1xx: the final response follows
          if (!this.sink.onHead(this.statusCode, this.statusMessage, this.headers)) return i;
          this.headers = NO_TRAILERS;
          if (this.state === DONE) return i;
          break;
        }
        case BODY_LENGTH: {
          const take = Math.min(this.remaining, length - i);
          this.remaining -= take;
          const slice = i === 0 && take === length ? chunk : chunk.subarray(i, i + take);
          i += take;
          if (this.remaining === 0) this.state = DONE;
          if (!this.sink.onBody(slice)) return i;
          if (this.state === DONE) {
            this.finished = true;
            return i;
          }
          break;
        }
        case BODY_EOF: {
          if (!this.sink.onBody(i === 0 ? chunk : chunk.subarray(i))) return length;
          return length;
        }
        case CHUNK_SIZE: {
          const byte = chunk[i]!;
          const value = hexValue(byte);
          if (value >= 0) {
            if (++this.sizeDigits > 12) return this.fail('HPE_INVALID_CHUNK', 'chunk size too large');
            this.remaining = this.remaining * 16 + value;
          } else if (this.sizeDigits === 0) {
            return this.fail('HPE_INVALID_CHUNK', 'invalid chunk size');
          } else if (byte === 0x0d) this.state = CHUNK_SIZE_LF;
          else if (byte === 0x3b || byte === 0x20 || byte === 0x09) this.state = CHUNK_EXT;
          else return this.fail('HPE_INVALID_CHUNK', 'invalid chunk size');
          i++;
          this.chunkLine++;
          break;
        }
        case CHUNK_EXT: {
          // Extensions carry nothing the gateway uses; they are skipped up to the line's CR.
          const byte = chunk[i]!;
          if (byte === 0x0d) this.state = CHUNK_SIZE_LF;
          else if (byte === 0x0a || byte === 0)
            return this.fail('HPE_INVALID_CHUNK', 'invalid chunk extension');
          if (++this.chunkLine > MAX_CHUNK_LINE)
            return this.fail('HPE_INVALID_CHUNK', 'chunk extension too long');
          i++;
          break;
        }
        case CHUNK_SIZE_LF: {
          if (chunk[i] !== 0x0a) return this.fail('HPE_INVALID_CHUNK', 'chunk size line without LF');
          i++;
          if (this.remaining === 0) {
            // The last chunk: the trailer section follows. Most responses have none, so a bare
            // CRLF is recognised without collecting anything.
            if (i + 1 < length && chunk[i] === 0x0d && chunk[i + 1] === 0x0a) {
              this.state = DONE;
              this.finished = true;
              return i + 2;
            }
            // The line's CRLF seeds the block, so "CRLF CRLF" ends an empty trailer section too.
            this.pending = CRLF;
            this.state = TRAILERS;
          } else this.state = CHUNK_DATA;
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, length - i);
          this.remaining -= take;
          const slice = i === 0 && take === length ? chunk : chunk.subarray(i, i + take);
          i += take;
          if (this.remaining === 0) this.state = CHUNK_DATA_CR;
          if (!this.sink.onBody(slice)) return i;
          break;
        }
        case CHUNK_DATA_CR: {
          if (chunk[i] !== 0x0d) return this.fail('HPE_INVALID_CHUNK', 'chunk data not followed by CRLF');
          i++;
          this.state = CHUNK_DATA_LF;
          break;
        }
        case CHUNK_DATA_LF: {
          if (chunk[i] !== 0x0a) return this.fail('HPE_INVALID_CHUNK', 'chunk data not followed by CRLF');
          i++;
          this.startChunk();
          break;
        }
        case TRAILERS: {
          const end = this.collect(chunk, i);
          if (end < 0) return end === -1 ? length : -1;
          if (!this.parseTrailers()) return -1;
          this.state = DONE;
          this.finished = true;
          return end;
        }
        default:
          // DONE or FAILED: the caller decides what bytes past a response mean.
          return i;
      }
    }
    if (this.state === DONE) this.finished = true;
    return length;
  }

  /**
   * The connection closed. Returns true when that ended the response (a body delimited by the
   * close); otherwise the response was cut short.
   */
  finish(): boolean {
    if (this.state === BODY_EOF) {
      this.state = DONE;
      this.finished = true;
      return true;
    }
    return this.state === DONE;
  }

  // Head fields live on the parser between parsing and the sink call (no per-response object).
  private statusCode = 0;
  private statusMessage = '';
  private headers: IncomingHttpHeaders = NO_TRAILERS;

  private fail(code: string, message: string): number {
    this.state = FAILED;
    this.error = protocolError(code, message);
    return -1;
  }

  private startChunk(): void {
    this.state = CHUNK_SIZE;
    this.remaining = 0;
    this.sizeDigits = 0;
    this.chunkLine = 0;
  }

  /**
   * Collects a head or trailer block ending in CRLF CRLF from `chunk` at `start`. Returns the
   * offset after the block (its text is in `blockText`, without the final CRLF), -1 when more
   * bytes are needed, -2 on overflow (`error` set).
   */
  private collect(chunk: Buffer, start: number): number {
    const previous = this.pending;
    let buffer = chunk;
    let from = start;
    let base = start;
    if (previous !== null) {
      buffer = Buffer.concat([previous, start === 0 ? chunk : chunk.subarray(start)]);
      from = Math.max(0, previous.length - 3);
      base = 0;
    }
    const end = buffer.indexOf(END_OF_HEAD, from);
    if (end === -1 || end + 4 - base > this.maxHeaderSize) {
      if (end !== -1 || buffer.length - base > this.maxHeaderSize) {
        this.state = FAILED;
        this.pending = null;
        this.error = new Http1Error(
          'UND_ERR_HEADERS_OVERFLOW',
          `upstream response head is larger than ${this.maxHeaderSize} bytes`,
        );
        return -2;
      }
      // A copy: `chunk` may be a read buffer that the next read overwrites.
      this.pending = previous === null ? Buffer.from(chunk.subarray(start)) : buffer;
      return -1;
    }
    this.pending = null;
    this.blockText = buffer.toString('latin1', base, end + 2);
    return previous === null ? end + 4 : end + 4 - previous.length + start;
  }

  private parseHead(): boolean {
    const text = this.blockText;
    const lineEnd = text.indexOf('\r\n');
    const statusCode = statusCodeOf(text, lineEnd);
    if (statusCode === -1) {
      this.fail(
        'HPE_INVALID_STATUS',
        `invalid status line ${JSON.stringify(text.slice(0, Math.min(lineEnd, 80)))}`,
      );
      return false;
    }
    const http10 = text.charCodeAt(7) === 0x30;
    // Inheriting nothing: `constructor` or `__proto__` from the upstream is a header.
    const headers = headerObject<Record<string, string | string[]>>();
    let contentLength = -1;
    let chunked = false;
    let otherCoding = false;
    let close = false;
    let keepAlive = false;
    let keepAliveHeader = '';
    // Each line is scanned once, a table read per character: the name up to its colon, then the
    // value up to CR LF (the block ends with one, so every scan stops inside it).
    let start = lineEnd + 2;
    while (start < text.length) {
      const name = headerNameAt(text, start);
      const colon = start + name.length;
      if (name === '' || text.charCodeAt(colon) !== 0x3a) return this.badLine(text, start);
      let at = colon + 1;
      let c = text.charCodeAt(at);
      while (c === 0x20 || c === 0x09) c = text.charCodeAt(++at);
      const valueStart = at;
      while (FIELD_VALUE_CHARS[c] === 1) c = text.charCodeAt(++at);
      if (c !== 0x0d || text.charCodeAt(at + 1) !== 0x0a) {
        this.fail('HPE_INVALID_HEADER', `invalid value of header ${text.slice(start, colon)}`);
        return false;
      }
      let valueEnd = at;
      c = text.charCodeAt(valueEnd - 1);
      while (valueEnd > valueStart && (c === 0x20 || c === 0x09)) c = text.charCodeAt(--valueEnd - 1);
      const value = text.slice(valueStart, valueEnd);
      switch (name) {
        case 'content-length': {
          if (!CONTENT_LENGTH.test(value)) {
            this.fail('HPE_INVALID_CONTENT_LENGTH', `invalid content-length ${JSON.stringify(value)}`);
            return false;
          }
          const parsed = Number(value);
          if (contentLength !== -1 && contentLength !== parsed) {
            this.fail('HPE_UNEXPECTED_CONTENT_LENGTH', 'differing content-length headers');
            return false;
          }
          contentLength = parsed;
          break;
        }
        case 'transfer-encoding': {
          // Only a final `chunked` frames the body; `chunked` anywhere before it is invalid.
          for (const item of value.toLowerCase().split(',')) {
            const coding = item.trim();
            if (coding === '') continue;
            if (chunked) {
              this.fail('HPE_INVALID_TRANSFER_ENCODING', 'chunked is not the final transfer coding');
              return false;
            }
            if (coding === 'chunked') chunked = true;
            else otherCoding = true;
          }
          break;
        }
        case 'connection': {
          // Almost always exactly `keep-alive` or `close`; only other values are split.
          const lower = value.toLowerCase();
          if (lower === 'keep-alive') keepAlive = true;
          else if (lower === 'close' || listHas(lower, 'close')) close = true;
          else if (listHas(lower, 'keep-alive')) keepAlive = true;
          break;
        }
        case 'keep-alive':
          keepAliveHeader = value;
          break;
      }
      addField(headers, name, value);
      start = at + 2;
    }
    if (chunked && contentLength !== -1) {
      this.fail('HPE_UNEXPECTED_CONTENT_LENGTH', 'both content-length and transfer-encoding');
      return false;
    }
    if (statusCode < 200) {
      if (statusCode === 101) {
        this.fail('HPE_UNEXPECTED_UPGRADE', '101 Switching Protocols to a request that asked for no upgrade');
        return false;
      }
      return true; // stays in HEAD for the final response
    }
    this.statusCode = statusCode;
    this.statusMessage = lineEnd > 12 ? text.slice(13, lineEnd) : '';
    this.headers = headers as IncomingHttpHeaders;
    let reusable = http10 ? keepAlive && !close : !close;
    if (this.noBody || statusCode === 204 || statusCode === 304) this.state = DONE;
    else if (chunked) this.startChunk();
    else if (contentLength !== -1 && !otherCoding) {
      this.remaining = contentLength;
      this.state = contentLength === 0 ? DONE : BODY_LENGTH;
    } else {
      this.state = BODY_EOF;
      reusable = false;
    }
    if (this.state === DONE) this.finished = true;
    this.keepAlive = reusable;
    if (keepAliveHeader !== '') this.keepAliveHint = this.hintOf(keepAliveHeader);
    return true;
  }

  /** A header line whose name does not end at a colon: the error says what is wrong with it. */
  private badLine(text: string, start: number): false {
    const end = text.indexOf('\r\n', start);
    const colon = text.indexOf(':', start);
    if (colon === -1 || colon > end) {
      const first = text.charCodeAt(start);
      this.fail(
        'HPE_INVALID_HEADER',
        first === 0x20 || first === 0x09 ? 'obsolete line folding' : 'header line without a colon',
      );
    } else {
      this.fail('HPE_INVALID_HEADER', `invalid header name ${JSON.stringify(text.slice(start, colon))}`);
    }
    return false;
  }

  private hintOf(header: string): number {
    // Servers repeat the same value on every response; the last one parsed is remembered.
    if (header !== this.lastKeepAlive) {
      const match = KEEP_ALIVE_TIMEOUT.exec(header);
      this.lastKeepAlive = header;
      this.lastKeepAliveHint = match ? Number(match[1]) * 1000 : -1;
    }
    return this.lastKeepAliveHint;
  }

  private parseTrailers(): boolean {
    const text = this.blockText;
    // The block starts with the last-chunk line's CRLF.
    if (text.length <= 2) return true;
    const trailers = headerObject<Record<string, string | string[]>>();
    let start = 2;
    while (start < text.length) {
      const end = text.indexOf('\r\n', start);
      const colon = text.indexOf(':', start);
      const rawName = colon === -1 || colon > end ? '' : text.slice(start, colon);
      const value = rawName === '' ? '' : text.slice(colon + 1, end).replace(/^[ \t]+|[ \t]+$/g, '');
      if (!TOKEN.test(rawName) || BAD_VALUE.test(value)) {
        this.fail('HPE_INVALID_HEADER', 'invalid trailer field');
        return false;
      }
      addField(trailers, rawName.toLowerCase(), value);
      start = end + 2;
    }
    this.trailers = trailers as IncomingHttpHeaders;
    return true;
  }
}

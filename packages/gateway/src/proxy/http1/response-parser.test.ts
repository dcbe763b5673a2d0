import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ResponseParser, type ResponseSink } from './response-parser.js';

interface Parsed {
  heads: { statusCode: number; statusMessage: string; headers: IncomingHttpHeaders }[];
  body: string;
  finished: boolean;
  trailers: IncomingHttpHeaders | undefined;
  keepAlive: boolean;
  keepAliveHint: number;
  error: string | undefined;
  /** Offset in the last chunk where the parser stopped. */
  stoppedAt: number;
}

class Sink implements ResponseSink {
  heads: Parsed['heads'] = [];
  chunks: Buffer[] = [];
  onHead(statusCode: number, statusMessage: string, headers: IncomingHttpHeaders): boolean {
    this.heads.push({ statusCode, statusMessage, headers });
    return true;
  }
  onBody(chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk));
    return true;
  }
}

/** Feeds `parts` in order, as a socket would. */
function parse(parts: Buffer[], options: { noBody?: boolean; max?: number; eof?: boolean } = {}): Parsed {
  const sink = new Sink();
  const parser = new ResponseParser(sink, options.max ?? 16 * 1024);
  parser.reset(options.noBody ?? false);
  let stoppedAt = 0;
  let error: string | undefined;
  for (const part of parts) {
    if (parser.finished) break;
    stoppedAt = parser.execute(part);
    if (stoppedAt === -1) {
      error = parser.error?.code;
      break;
    }
  }
  if (options.eof && !error && !parser.finished) parser.finish();
  return {
    heads: sink.heads,
    body: Buffer.concat(sink.chunks).toString('latin1'),
    finished: parser.finished,
    trailers: parser.finished ? parser.trailers : undefined,
    keepAlive: parser.keepAlive,
    keepAliveHint: parser.keepAliveHint,
    error,
    stoppedAt,
  };
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Every way to cut `text` in two, plus byte by byte. */
function splits(text: string): Buffer[][] {
  const all = bytes(text);
  const out: Buffer[][] = [];
  for (let i = 1; i < all.length; i++) out.push([all.subarray(0, i), all.subarray(i)]);
  out.push([...all].map((b) => Buffer.from([b])));
  return out;
}

const RESPONSES = {
  contentLength:
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nSet-Cookie: a=1\r\nX-Multi: one\r\nX-Multi: two\r\nKeep-Alive: timeout=5\r\n\r\n{"ok":true}',
  chunked:
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: x-checksum\r\n\r\n5;name=value\r\nhello\r\n7 ; ext\r\n, world\r\n0\r\nX-Checksum: abc\r\nX-Other:  two words \r\n\r\n',
  chunkedNoTrailers: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n',
  continued:
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok',
};

describe('ResponseParser', () => {
  it('parses a content-length response with repeated headers and set-cookie as an array', () => {
    const parsed = parse([bytes(RESPONSES.contentLength)]);
    expect(parsed.error).toBeUndefined();
    expect(parsed.heads).toEqual([
      {
        statusCode: 200,
        statusMessage: 'OK',
        headers: {
          'content-type': 'application/json',
          'content-length': '11',
          'set-cookie': ['a=1'],
          'x-multi': ['one', 'two'],
          'keep-alive': 'timeout=5',
        },
      },
    ]);
    expect(parsed.body).toBe('{"ok":true}');
    expect(parsed.finished).toBe(true);
    expect(parsed.keepAlive).toBe(true);
    expect(parsed.keepAliveHint).toBe(5000);
  });

  it('takes header and trailer names that are Object members as headers', () => {
    const head = 'HTTP/1.1 200 OK\r\nConstructor: a\r\n__proto__: b\r\ntoString: c\r\nconstructor: d\r\n';
    const parsed = parse([
      bytes(`${head}Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nhasOwnProperty: e\r\n\r\n`),
    ]);
    expect(parsed.error).toBeUndefined();
    const headers = parsed.heads[0]!.headers;
    expect(Object.keys(headers)).toEqual(['constructor', '__proto__', 'tostring', 'transfer-encoding']);
    expect(headers.constructor).toEqual(['a', 'd']);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('b');
    expect(headers.tostring).toBe('c');
    expect(Object.keys(parsed.trailers!)).toEqual(['hasownproperty']);
    expect(parsed.body).toBe('ok');
  });

  it('decodes chunked bodies with extensions and passes the trailers', () => {
    const parsed = parse([bytes(RESPONSES.chunked)]);
    expect(parsed.error).toBeUndefined();
    expect(parsed.body).toBe('hello, world');
    expect(parsed.trailers).toEqual({ 'x-checksum': 'abc', 'x-other': 'two words' });
    expect(parsed.finished).toBe(true);
  });

  it('skips 1xx responses and reports the final one', () => {
    const parsed = parse([bytes(RESPONSES.continued)]);
    expect(parsed.heads.map((h) => h.statusCode)).toEqual([201]);
    expect(parsed.body).toBe('ok');
  });

  for (const [name, text] of Object.entries(RESPONSES)) {
    it(`gives the same result for every split point of the ${name} response`, () => {
      const whole = parse([bytes(text)]);
      expect(whole.finished).toBe(true);
      for (const parts of splits(text)) {
        const parsed = parse(parts);
        expect({ ...parsed, stoppedAt: 0 }).toEqual({ ...whole, stoppedAt: 0 });
      }
    });
  }

  it('delivers chunk data as it arrives, before the chunk is complete', () => {
    const sink = new Sink();
    const parser = new ResponseParser(sink, 16 * 1024);
    parser.reset(false);
    parser.execute(bytes('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\nabcd'));
    expect(Buffer.concat(sink.chunks).toString()).toBe('abcd');
    parser.execute(bytes('efghijklmnop\r\n0\r\n\r\n'));
    expect(Buffer.concat(sink.chunks).toString()).toBe('abcdefghijklmnop');
    expect(parser.finished).toBe(true);
  });

  it('stops at the end of a response and reports where', () => {
    const text = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n';
    const parsed = parse([bytes(text)]);
    expect(parsed.finished).toBe(true);
    expect(parsed.stoppedAt).toBe(text.indexOf('okHTTP') + 2);
  });

  it('reads a body without length until the connection closes', () => {
    const parts = [bytes('HTTP/1.1 200 OK\r\n\r\nsome '), bytes('bytes')];
    const open = parse(parts);
    expect(open.finished).toBe(false);
    const closed = parse(parts, { eof: true });
    expect(closed.finished).toBe(true);
    expect(closed.body).toBe('some bytes');
    expect(closed.keepAlive).toBe(false);
  });

  it.each([
    ['HEAD request', 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n', true],
    ['204', 'HTTP/1.1 204 No Content\r\ncontent-length: 10\r\n\r\n', false],
    ['304', 'HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n', false],
  ])('expects no body for a %s', (_name, text, noBody) => {
    const parsed = parse([bytes(text)], { noBody });
    expect(parsed.finished).toBe(true);
    expect(parsed.body).toBe('');
    expect(parsed.stoppedAt).toBe(text.length);
  });

  it.each([
    ['HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n', true],
    ['HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n', false],
    ['HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n', false],
    ['HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n', true],
    ['HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n', false],
  ])('decides whether %j leaves the connection reusable', (text, keepAlive) => {
    expect(parse([bytes(text)], { eof: true }).keepAlive).toBe(keepAlive);
  });

  it.each([
    ['a bad status line', 'HTTP/1.1 2000 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['another protocol', 'HTTP/2.0 200 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['garbage', 'hello there\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['a header without colon', 'HTTP/1.1 200 OK\r\nnocolon\r\n\r\n', 'HPE_INVALID_HEADER'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\na: b\r\n folded\r\n\r\n', 'HPE_INVALID_HEADER'],
    ['a bad header name', 'HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n', 'HPE_INVALID_HEADER'],
    ['a bare CR in a value', 'HTTP/1.1 200 OK\r\na: b\rc\r\n\r\n', 'HPE_INVALID_HEADER'],
    ['a bare LF in a header', 'HTTP/1.1 200 OK\r\na: b\nc: d\r\n\r\n', 'HPE_INVALID_HEADER'],
    [
      'CL and TE',
      'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n',
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    ],
    [
      'differing CLs',
      'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n',
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    ],
    ['a signed CL', 'HTTP/1.1 200 OK\r\ncontent-length: +3\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    [
      'chunked not last',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n',
      'HPE_INVALID_TRANSFER_ENCODING',
    ],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK'],
    [
      'a huge chunk size',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\n',
      'HPE_INVALID_CHUNK',
    ],
    [
      'chunk data too long',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n',
      'HPE_INVALID_CHUNK',
    ],
    ['a 101', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n', 'HPE_UNEXPECTED_UPGRADE'],
    ['a huge head', `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(20_000)}\r\n\r\n`, 'UND_ERR_HEADERS_OVERFLOW'],
    ['a huge unfinished head', `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(20_000)}`, 'UND_ERR_HEADERS_OVERFLOW'],
    [
      'huge trailers',
      `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx: ${'a'.repeat(20_000)}\r\n\r\n`,
      'UND_ERR_HEADERS_OVERFLOW',
    ],
  ])('refuses %s', (_name, text, code) => {
    const whole = parse([bytes(text)]);
    expect(whole.error).toBe(code);
    for (const parts of splits(text).slice(-3)) expect(parse(parts).error).toBe(code);
  });

  it('survives random and mutated input without throwing', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const samples = Object.values(RESPONSES).map(bytes);
    for (let round = 0; round < 3000; round++) {
      const base = Buffer.from(samples[round % samples.length]!);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) base[Math.floor(random() * base.length)] = Math.floor(random() * 256);
      const cut = Math.floor(random() * base.length);
      expect(() => parse([base.subarray(0, cut), base.subarray(cut)], { eof: true })).not.toThrow();
      const noise = Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256)));
      expect(() => parse([noise], { eof: true })).not.toThrow();
    }
  });
});

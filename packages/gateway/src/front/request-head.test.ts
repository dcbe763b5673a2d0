import { describe, expect, it } from 'vitest';
import { parseRequestHead } from './request-head.js';

// Heads as the front passes them: latin1 text without the blank line that ends the head.
const head = (...lines: string[]) => lines.join('\r\n');

describe('parseRequestHead', () => {
  it('takes a GET with lowercased names and trimmed values', () => {
    const request = parseRequestHead(
      head('GET /api/titles?id=7&x=%20 HTTP/1.1', 'Host: gw:8080', 'X-Thing: \t a b \t', 'Accept:*/*'),
    );
    expect(request).toEqual({
      method: 'GET',
      url: '/api/titles?id=7&x=%20',
      headers: { host: 'gw:8080', 'x-thing': 'a b', accept: '*/*' },
      contentLength: 0,
      close: false,
      http10: false,
      expectContinue: false,
    });
  });

  it('takes a HEAD and an empty value', () => {
    expect(parseRequestHead(head('HEAD / HTTP/1.1', 'host: a'))).toEqual({
      method: 'HEAD',
      url: '/',
      headers: { host: 'a' },
      contentLength: 0,
      close: false,
      http10: false,
      expectContinue: false,
    });
    expect(parseRequestHead(head('GET /x HTTP/1.1', 'Host: a', 'X-Empty:'))?.headers).toEqual({
      host: 'a',
      'x-empty': '',
    });
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])('takes a %s', (method) => {
    expect(parseRequestHead(head(`${method} /x HTTP/1.1`, 'host: a'))).toEqual({
      method,
      url: '/x',
      headers: { host: 'a' },
      contentLength: 0,
      close: false,
      http10: false,
      expectContinue: false,
    });
  });

  it('reads a body length and keeps its header', () => {
    const request = parseRequestHead(head('POST /x HTTP/1.1', 'host: a', 'Content-Length:  42 '));
    expect(request?.contentLength).toBe(42);
    expect(request?.headers['content-length']).toBe('42');
    expect(parseRequestHead(head('GET /x HTTP/1.1', 'host: a', 'content-length: 0'))?.contentLength).toBe(0);
    expect(parseRequestHead(head('PUT /x HTTP/1.1', 'host: a', 'content-length: 007'))?.contentLength).toBe(
      7,
    );
  });

  it('takes HTTP/1.0, closing after the answer unless the client asks for keep-alive', () => {
    const of = (...lines: string[]) => parseRequestHead(head('GET /x HTTP/1.0', 'Host: a', ...lines));
    expect(of()).toMatchObject({ http10: true, close: true });
    expect(of('Connection: Keep-Alive')).toMatchObject({ http10: true, close: false });
    expect(of('Connection: foo, keep-alive')).toMatchObject({ http10: true, close: false });
    expect(of('Connection: close')).toMatchObject({ http10: true, close: true });
    expect(of('Connection: keep-alives')).toMatchObject({ http10: true, close: true });
    expect(of('Connection: keep-alive x')).toMatchObject({ http10: true, close: true });
    expect(of('Connection: x keep-alive')).toMatchObject({ http10: true, close: true });
    expect(of('Connection: ,keep-alive,')).toMatchObject({ http10: true, close: false });
  });

  it('notes Expect: 100-continue, in any case', () => {
    expect(
      parseRequestHead(head('POST /x HTTP/1.1', 'Host: a', 'Expect: 100-Continue'))?.expectContinue,
    ).toBe(true);
    expect(parseRequestHead(head('POST /x HTTP/1.1', 'Host: a'))?.expectContinue).toBe(false);
  });

  it('notes Connection: close, alone or in a list', () => {
    expect(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: close'))?.close).toBe(true);
    expect(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: x-a, Close'))?.close).toBe(true);
    expect(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: keep-alive'))?.close).toBe(false);
    expect(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: closed'))?.close).toBe(false);
    // llhttp's tokens: between commas, only spaces around them.
    expect(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: x , close '))?.close).toBe(true);
    expect(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: close x'))?.close).toBe(false);
    expect(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: x close'))?.close).toBe(false);
  });

  // Each of these goes to node:http, which answers it (or refuses it) as it always did.
  it.each([
    ['no Host', head('GET /x HTTP/1.1', 'Accept: */*')],
    ['OPTIONS *', head('OPTIONS * HTTP/1.1')],
    ['another method', head('PROPFIND /x HTTP/1.1')],
    ['a method the front takes without its space', head('POST/x HTTP/1.1')],
    ['a lowercase method', head('get /x HTTP/1.1')],
    ['HTTP/1.0 with TE', head('GET /x HTTP/1.0', 'TE: chunked')],
    ['HTTP/1.0 asking for keep-alive and close', head('GET /x HTTP/1.0', 'Connection: keep-alive, close')],
    ['HTTP/1.2', head('GET /x HTTP/1.2')],
    ['HTTP/2 preface', 'PRI * HTTP/2.0'],
    ['Proxy-Connection (llhttp reads it as Connection)', head('GET /x HTTP/1.1', 'Proxy-Connection: close')],
    ['a tab in Connection', head('GET /x HTTP/1.0', 'Connection: keep-alive\t')],
    ['absolute-form target', head('GET http://a/x HTTP/1.1')],
    ['asterisk target', head('GET * HTTP/1.1')],
    ['a space in the target', head('GET /a b HTTP/1.1')],
    ['a fragment', head('GET /a#b HTTP/1.1')],
    ['a non-ASCII target byte', head('GET /caf\u00e9 HTTP/1.1')],
    ['two spaces before the version', head('GET /x  HTTP/1.1')],
    ['text after the version', head('GET /x HTTP/1.1 extra')],
    ['an empty body length', head('POST /x HTTP/1.1', 'Content-Length:')],
    ['a signed body length', head('POST /x HTTP/1.1', 'Content-Length: +5')],
    ['a body length list', head('POST /x HTTP/1.1', 'Content-Length: 5, 5')],
    ['a hexadecimal body length', head('POST /x HTTP/1.1', 'Content-Length: 0x5')],
    ['a tab after the body length (llhttp refuses it)', head('POST /x HTTP/1.1', 'Content-Length: 5\t')],
    ['a tab before the body length', head('POST /x HTTP/1.1', 'Content-Length:\t5')],
    ['a body length of 16 digits', head('POST /x HTTP/1.1', `Content-Length: 1${'0'.repeat(15)}`)],
    ['two body lengths', head('POST /x HTTP/1.1', 'Content-Length: 5', 'content-length: 5')],
    [
      'a body length and chunking',
      head('POST /x HTTP/1.1', 'Content-Length: 5', 'Transfer-Encoding: chunked'),
    ],
    ['a chunked body', head('GET /x HTTP/1.1', 'transfer-encoding: chunked')],
    ['an upgrade', head('GET /ws HTTP/1.1', 'Upgrade: websocket')],
    ['Connection: upgrade', head('GET /ws HTTP/1.1', 'Connection: Upgrade')],
    ['another expectation', head('GET /x HTTP/1.1', 'Expect: 200-ok')],
    ['Expect from an HTTP/1.0 client', head('GET /x HTTP/1.0', 'Expect: 100-continue')],
    ['a duplicate header', head('GET /x HTTP/1.1', 'Cookie: a=1', 'cookie: b=2')],
    ['obs-fold', head('GET /x HTTP/1.1', 'X-A: one', ' two')],
    ['a space before the colon', head('GET /x HTTP/1.1', 'X-A : one')],
    ['an empty name', head('GET /x HTTP/1.1', ': one')],
    ['a line without a colon', head('GET /x HTTP/1.1', 'X-A')],
    ['a bare LF', 'GET /x HTTP/1.1\nX-A: one'],
    ['a bare CR', 'GET /x HTTP/1.1\r\nX-A: o\rne'],
    ['a NUL in a value', head('GET /x HTTP/1.1', 'X-A: o\0ne')],
    ['obs-text in a value', head('GET /x HTTP/1.1', 'X-A: caf\u00e9')],
    ['a prototype name', head('GET /x HTTP/1.1', '__proto__: x')],
    [
      'more than 100 header lines',
      head('GET /x HTTP/1.1', ...Array.from({ length: 101 }, (_, i) => `x-${i}: v`)),
    ],
  ])('hands over %s', (name, text) => {
    // A Host line is added, so that each head is refused for its own reason.
    expect(parseRequestHead(name === 'no Host' ? text : `${text}\r\nHost: a`)).toBeUndefined();
  });

  it('takes header names that are Object methods', () => {
    expect(
      parseRequestHead(head('GET /x HTTP/1.1', 'Host: a', 'constructor: x', 'toString: y'))?.headers,
    ).toEqual({
      host: 'a',
      constructor: 'x',
      tostring: 'y',
    });
  });

  it('takes 100 header lines', () => {
    const request = parseRequestHead(
      head('GET /x HTTP/1.1', 'Host: a', ...Array.from({ length: 99 }, (_, i) => `x-${i}: v`)),
    );
    expect(Object.keys(request?.headers ?? {})).toHaveLength(100);
  });
});

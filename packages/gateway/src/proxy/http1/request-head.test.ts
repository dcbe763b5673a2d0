import { describe, expect, it } from 'vitest';
import { buildRequestHead, type RequestHeadInfo } from './request-head.js';

const info = (): RequestHeadInfo => ({ declaredLength: -1, closeRequested: false });

describe('buildRequestHead', () => {
  it('writes the request line, the headers in order and the origin host', () => {
    const head = buildRequestHead(
      info(),
      'GET',
      '/a?b=1',
      { Accept: 'x', 'x-list': ['1', '2'], skip: undefined },
      'up:81',
      -2,
    );
    expect(head).toBe('GET /a?b=1 HTTP/1.1\r\nAccept: x\r\nx-list: 1\r\nx-list: 2\r\nhost: up:81\r\n\r\n');
  });

  it("keeps the caller's host and frames bodies from their length", () => {
    const target = info();
    expect(buildRequestHead(target, 'POST', '/', { Host: 'h', 'Content-Length': '3' }, 'x', 3)).toBe(
      'POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 3\r\n\r\n',
    );
    expect(target.declaredLength).toBe(3);
    expect(buildRequestHead(info(), 'POST', '/', {}, 'x', -1)).toContain('transfer-encoding: chunked\r\n');
    expect(buildRequestHead(info(), 'PUT', '/', { 'content-length': '9' }, 'x', -1)).toContain(
      'content-length: 9\r\n',
    );
    expect(buildRequestHead(info(), 'POST', '/', {}, 'x', -2)).toContain('content-length: 0\r\n');
    expect(buildRequestHead(info(), 'GET', '/', {}, 'x', -2)).not.toContain('content-length');
  });

  it('notices connection: close', () => {
    const target = info();
    buildRequestHead(target, 'GET', '/', { Connection: 'close' }, 'x', -2);
    expect(target.closeRequested).toBe(true);
  });

  it.each([
    ['a value with CR LF', { a: 'b\r\nx-injected: 1' }],
    ['a value with NUL', { a: 'b\0' }],
    ['a value with a bare LF in an array', { a: ['ok', 'b\nc'] }],
    ['a name that is not a token', { 'bad name': 'x' }],
    ['an empty name', { '': 'x' }],
    ['transfer-encoding', { 'Transfer-Encoding': 'chunked' }],
    ['a non-numeric content-length', { 'content-length': '1, 1' }],
    ['an unknown connection option', { connection: 'upgrade' }],
  ])('refuses %s', (_name, headers) => {
    expect(() => buildRequestHead(info(), 'GET', '/', headers, 'x', -2)).toThrow(
      expect.objectContaining({ code: 'UND_ERR_INVALID_ARG' }),
    );
  });

  it('writes the same bytes with headers the caller checked, and still frames from the body', () => {
    const headers = { 'x-forwarded-for': '10.0.0.1', 'X-List': ['1', '2'], connection: 'close' };
    const unchecked = info();
    const checked = info();
    const head = buildRequestHead(checked, 'GET', '/a', headers, 'up:81', -2, true);
    expect(head).toBe(buildRequestHead(unchecked, 'GET', '/a', headers, 'up:81', -2));
    expect(checked).toEqual(unchecked);
    expect(checked.closeRequested).toBe(true);
    for (const framing of [{ 'transfer-encoding': 'chunked' }, { 'content-length': 'x' }])
      expect(() => buildRequestHead(info(), 'GET', '/', framing, 'x', -2, true)).toThrow(
        expect.objectContaining({ code: 'UND_ERR_INVALID_ARG' }),
      );
  });

  it('refuses a content-length that differs from the body', () => {
    expect(() => buildRequestHead(info(), 'POST', '/', { 'content-length': '4' }, 'x', 3)).toThrow(
      expect.objectContaining({ code: 'UND_ERR_INVALID_ARG' }),
    );
  });

  it('refuses a bad method or path', () => {
    expect(() => buildRequestHead(info(), 'G T', '/', {}, 'x', -2)).toThrow(/method/);
    expect(() => buildRequestHead(info(), 'GET', '/a b', {}, 'x', -2)).toThrow(/path/);
    expect(() => buildRequestHead(info(), 'GET', '/a\r\nb', {}, 'x', -2)).toThrow(/path/);
  });
});

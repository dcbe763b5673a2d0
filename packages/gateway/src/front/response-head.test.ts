import { describe, expect, it } from 'vitest';
import { withExtra } from '../answers.js';
import { clientResponseHeaders, connectionTokens } from '../proxy/headers.js';
import { ResponseParser } from '../proxy/http1/response-parser.js';
import { applySecureHeaders } from '../traffic/secure-headers.js';
import { AS_IS, CHUNKED, relayedHead, responseHead } from './response-head.js';

/** A seeded generator, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state / 2 ** 32;
  };
}

// Upstream names: relayed, secure, fingerprints, hop-by-hop, and the ones the gateway sets.
const NAMES = [
  'content-type',
  'x-request-id',
  'date',
  'vary',
  'Vary',
  'set-cookie',
  'strict-transport-security',
  'x-frame-options',
  'x-powered-by',
  'connection',
  'keep-alive',
  'proxy-foo',
  'te',
  'ratelimit-limit',
  'access-control-allow-origin',
  'constructor',
  'Constructor',
  '__proto__',
];
// What the route's features may add, and names they never add, with values node:http refuses too.
const EXTRA_NAMES = [
  'vary',
  'ratelimit-limit',
  'ratelimit-remaining',
  'access-control-allow-origin',
  'x-powered-by',
  'x-frame-options',
  'date',
  'x-request-id',
  'keep-alive',
  'bad name',
];
const VALUES = ['1', 'Origin', 'https://a.example', 'x\r\ny', 'caf\u00e9', 'bad\u0100'];

describe('relayedHead', () => {
  it('writes what the record path writes (clientResponseHeaders, withExtra, applySecureHeaders, responseHead)', () => {
    const next = random(7);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    let compared = 0;
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      const status = pick([200, 204, 299, 304, 404, 599]);
      const lines = Array.from(
        { length: Math.floor(next() * 8) },
        () => `${pick(NAMES)}: ${pick(['a', 'keep-alive', 'Origin', ''])}`,
      );
      let upstream: Record<string, string | string[]> | undefined;
      const parser = new ResponseParser(
        {
          onHead: (_status, _message, headers) => {
            upstream = headers as Record<string, string | string[]>;
            return true;
          },
          onBody: () => true,
        },
        65536,
      );
      parser.reset(false);
      const text = `HTTP/1.1 ${status} X\r\n${lines.map((line) => `${line}\r\n`).join('')}content-length: 0\r\n\r\n`;
      parser.execute(Buffer.from(text, 'latin1'));
      // relayedHead is used only when the upstream's Connection lists no other header.
      if (upstream === undefined || connectionTokens(upstream.connection) !== undefined) continue;
      const extra =
        next() < 0.2
          ? undefined
          : Object.fromEntries(
              Array.from({ length: Math.floor(next() * 4) }, () => [pick(EXTRA_NAMES), pick(VALUES)]),
            );
      const connection = pick(['', 'Connection: keep-alive\r\n']);
      const framing = pick([AS_IS, CHUNKED] as const);
      const record = applySecureHeaders(withExtra(clientResponseHeaders(upstream, 'rid'), extra ?? {}));
      const expected = responseHead(status, record, connection, framing);
      expect(relayedHead(status, upstream, 'rid', extra, connection, framing)).toBe(expected);
      compared++;
      if (expected === undefined) refused++;
    }
    // Both outcomes were exercised: heads written, and heads refused for a value node:http refuses.
    expect(compared).toBeGreaterThan(3000);
    expect(refused).toBeGreaterThan(100);
    expect(compared - refused).toBeGreaterThan(1000);
  });
});

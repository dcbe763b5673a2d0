import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answered, differential, echoOf, type Outcome, outcome } from '../fixtures/differential.js';
import {
  type BehaviourUpstream,
  BIG_BYTES,
  HOST,
  HUGE_BYTES,
  headerOf,
  RawConnection,
  type RawResponse,
  startBehaviourUpstream,
} from '../fixtures/front.js';
import { prefixRoute as route, startGatewayPair } from '../fixtures/gateway.js';
import type { RunningGateway } from '../start.js';

/*
 * Cached routes on the fast-path front: a fresh stored answer is written from the cache; a miss
 * goes upstream with `x-cache: MISS` and keeps a copy of the body for the cache, as the node:http
 * path does. Both gateways get the same requests in the same order, so their caches hold the
 * same entries and every answer must be the same.
 */

const ORIGIN = 'https://app.example.com';

let up: BehaviourUpstream;
let fast: RunningGateway;
let node: RunningGateway;

beforeAll(async () => {
  up = await startBehaviourUpstream('cached');
  const routes = [
    route('cached', { url: up.url }, { cache: { ttl: '1m' } }),
    // Entries up to 32 MB: a 2 MB answer is stored.
    route('roomy', { url: up.url }, { cache: { ttl: '1m', maxEntryBytes: '32mb', maxBytes: '64mb' } }),
    route(
      'headered',
      { url: up.url },
      { cache: { ttl: '1m' }, responseHeaders: { add: { 'x-route': 'headered' } } },
    ),
    route('corscached', { url: up.url }, { cache: { ttl: '1m' }, cors: { origins: [ORIGIN] } }),
    route('badcors', { url: up.url }, { cache: { ttl: '1m' }, cors: { origins: [ORIGIN] } }),
  ];
  ({ fast, node } = await startGatewayPair({ routes }));
});

afterAll(async () => {
  await Promise.all([fast?.close(100), node?.close(100)]);
  await up?.close();
});

const request = (path: string, method = 'GET', headers = '') =>
  `${method} ${path} HTTP/1.1\r\n${HOST}${headers}\r\n`;

interface Row {
  name: string;
  path: string;
  method?: string;
  /** Header lines the client adds. */
  headers?: string;
  status: number;
  /** The answer's `x-cache`. */
  cache: 'HIT' | 'MISS';
  check?: (answer: RawResponse, normalized: Outcome) => void;
}

/** In order: each row may depend on what the ones before it stored. */
const rows: Row[] = [
  { name: 'a first GET: from the upstream', path: '/cached/echo?k=1', status: 200, cache: 'MISS' },
  {
    name: 'the same GET again: from the cache, with its age',
    path: '/cached/echo?k=1',
    status: 200,
    cache: 'HIT',
    check: (answer) => {
      expect(headerOf(answer, 'age')).toBe('0');
      // The stored body is the first request's echo: its request id is not this answer's.
      expect(echoOf(answer).headers['x-request-id']).not.toBe(headerOf(answer, 'x-request-id'));
    },
  },
  {
    name: 'HEAD of a stored answer: from the cache, no body',
    path: '/cached/echo?k=1',
    method: 'HEAD',
    status: 200,
    cache: 'HIT',
  },
  { name: 'another query: its own entry', path: '/cached/echo?k=2', status: 200, cache: 'MISS' },
  { name: 'a chunked answer is stored', path: '/cached/chunked', status: 200, cache: 'MISS' },
  {
    name: 'and served from the cache with its length',
    path: '/cached/chunked',
    status: 200,
    cache: 'HIT',
    check: (answer) => {
      expect(headerOf(answer, 'content-length')).toBe('14');
      expect(answer.body.toString()).toBe('one\ntwo\nthree\n');
    },
  },
  {
    name: 'Constructor and __proto__ headers are stored',
    path: '/cached/objectnames',
    status: 200,
    cache: 'MISS',
  },
  {
    name: 'and served from the cache',
    path: '/cached/objectnames',
    status: 200,
    cache: 'HIT',
    check: (answer) => expect(headerOf(answer, '__proto__')).toBe('y'),
  },
  { name: 'an answer with Set-Cookie is not stored', path: '/cached/cookies', status: 200, cache: 'MISS' },
  { name: '(still not)', path: '/cached/cookies', status: 200, cache: 'MISS' },
  { name: 'a 500 is not stored', path: '/cached/500', status: 500, cache: 'MISS' },
  { name: '(still not)', path: '/cached/500', status: 500, cache: 'MISS' },
  { name: 'a body over the entry limit is not stored', path: '/cached/big', status: 200, cache: 'MISS' },
  { name: '(still not)', path: '/cached/big', status: 200, cache: 'MISS' },
  { name: 'a 2 MB body within a larger limit is stored', path: '/roomy/big', status: 200, cache: 'MISS' },
  {
    name: 'and served whole from the cache',
    path: '/roomy/big',
    status: 200,
    cache: 'HIT',
    check: (answer) => expect(answer.body.length).toBe(BIG_BYTES),
  },
  {
    name: 'a route with response header operations: stored',
    path: '/headered/echo',
    status: 200,
    cache: 'MISS',
  },
  {
    name: 'and its operations applied to the hit',
    path: '/headered/echo',
    status: 200,
    cache: 'HIT',
    check: (answer) => expect(headerOf(answer, 'x-route')).toBe('headered'),
  },
  {
    name: 'a route with CORS: the MISS carries its headers',
    path: '/corscached/echo',
    headers: `origin: ${ORIGIN}\r\n`,
    status: 200,
    cache: 'MISS',
    check: (answer) => expect(headerOf(answer, 'access-control-allow-origin')).toBe(ORIGIN),
  },
  {
    name: 'and so does the HIT',
    path: '/corscached/echo',
    headers: `origin: ${ORIGIN}\r\n`,
    status: 200,
    cache: 'HIT',
    check: (answer) => expect(headerOf(answer, 'access-control-allow-origin')).toBe(ORIGIN),
  },
  {
    name: 'a body of exactly the entry limit (1 MiB) is stored',
    path: '/cached/sized?n=1048576',
    status: 200,
    cache: 'MISS',
  },
  { name: '(and served)', path: '/cached/sized?n=1048576', status: 200, cache: 'HIT' },
  { name: 'a 204 is stored', path: '/cached/204', status: 204, cache: 'MISS' },
  { name: 'and served with the same head', path: '/cached/204', status: 204, cache: 'HIT' },
  {
    name: 'headers the answer names in Connection are not stored',
    path: '/cached/hop',
    status: 200,
    cache: 'MISS',
  },
  {
    name: 'nor served on a hit',
    path: '/cached/hop',
    status: 200,
    cache: 'HIT',
    check: (answer) => {
      expect(headerOf(answer, 'x-drop')).toBeUndefined();
      expect(headerOf(answer, 'x-kept')).toBe('yes');
    },
  },
];

describe('cached routes on the fast-path front', () => {
  it.each(rows)('$name', async (row) => {
    const method = row.method ?? 'GET';
    const answers = await differential({ fast, node }, request(row.path, method, row.headers), {
      methods: [method],
      status: row.status,
      path: 'fast',
    });
    const answer = answered(answers.fast);
    expect(headerOf(answer, 'x-cache')).toBe(row.cache);
    row.check?.(answer, outcome(answer) as Outcome);
  });

  it('counts the same hits and misses on both gateways', async () => {
    const name = 'flotilla_gateway_cache_lookups_total';
    const [onFast, onNode] = await Promise.all([
      fast.metrics.registry.getSingleMetricAsString(name),
      node.metrics.registry.getSingleMetricAsString(name),
    ]);
    expect(onFast).toBe(onNode);
    expect(onFast).toContain('result="hit"');
  });

  it('stores nothing of an answer the gateway replaced with a 502 (a head it could not write)', async () => {
    // As front.test.ts does: a CORS header value that cannot be written (route files cannot hold one).
    const restore: (() => void)[] = [];
    for (const gateway of [fast, node]) {
      const cors = gateway.gateway.featuresOf(gateway.gateway.routes.find((r) => r.id === 'badcors')!)!.cors!;
      const original = cors.headers;
      cors.headers = (req) => ({ ...original(req), 'access-control-expose-headers': 'x-a\u0001b' });
      restore.push(() => {
        cors.headers = original;
      });
    }
    try {
      for (const [name, gateway] of [
        ['fast', fast],
        ['node', node],
      ] as const) {
        for (let i = 0; i < 2; i++) {
          const connection = await RawConnection.open(gateway.port);
          connection.send(request('/badcors/echo', 'GET', `origin: ${ORIGIN}\r\n`));
          const answer = await connection.response();
          connection.destroy();
          expect(answer === 'closed' ? 'closed' : answer.status, `${name} ${i}`).toBe(502);
        }
        const cache = gateway.gateway.featuresOf(gateway.gateway.routes.find((r) => r.id === 'badcors')!)!
          .cache!;
        expect(cache.stats().stores, name).toBe(0);
      }
    } finally {
      for (const undo of restore) undo();
    }
  });

  it('stores nothing of an answer whose client left before it ended', async () => {
    for (const [name, gateway] of [
      ['fast', fast],
      ['node', node],
    ] as const) {
      const connection = await RawConnection.open(gateway.port);
      // 16 MB streamed with backpressure (the pool pauses while the client's socket is full); the
      // client reads nothing (its socket paused: reading, a fast machine moved all 16 MB in less
      // than the 100 ms) and leaves once the upstream started sending.
      connection.socket.pause();
      connection.send(request('/roomy/huge?leaves'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      connection.destroy();
      // Nothing was stored: the next request goes upstream.
      const next = await fetch(`${gateway.url}/roomy/huge?leaves`);
      expect(next.headers.get('x-cache'), name).toBe('MISS');
      expect((await next.arrayBuffer()).byteLength).toBe(HUGE_BYTES);
    }
  });
});

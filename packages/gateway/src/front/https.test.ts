import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answered, differential, echoOf, frontStats } from '../fixtures/differential.js';
import {
  arrivalsOf,
  type BehaviourUpstream,
  headerOf,
  RawConnection,
  startBehaviourUpstream,
} from '../fixtures/front.js';
import { prefixRoute as route, startGatewayPair } from '../fixtures/gateway.js';
import { createTestCa, type TestCa } from '../fixtures/tls.js';
import type { RunningGateway } from '../start.js';

/*
 * `https:` URL targets on the fast-path front: the request goes through the same undici pool as
 * on the node:http path (TLS, the gateway's CA bundle), and the front relays its answer, so both
 * give the same answers to the same bytes.
 */

const HOST = 'host: gw.test\r\n';

let ca: TestCa;
let otherCa: TestCa;
let tls: BehaviourUpstream;
let untrusted: BehaviourUpstream;
let plain: BehaviourUpstream;
let fast: RunningGateway;
let node: RunningGateway;

beforeAll(async () => {
  ca = createTestCa();
  otherCa = createTestCa();
  [tls, untrusted, plain] = await Promise.all([
    startBehaviourUpstream('tls', ca.issue(['127.0.0.1'])),
    startBehaviourUpstream('untrusted', otherCa.issue(['127.0.0.1'])),
    startBehaviourUpstream('plain'),
  ]);
  const routes = [
    route('tls', { url: tls.url }),
    route('short', { url: tls.url }, { timeout: '300ms' }),
    route('retried', { url: tls.url }, { retry: { attempts: 1 } }),
    route('untrusted', { url: untrusted.url }),
    // An http upstream named as an https one: no TLS handshake.
    route('nottls', { url: plain.url.replace('http:', 'https:') }),
  ];
  const options = { routes, upstreamCa: ca.cert };
  ({ fast, node } = await startGatewayPair(options));
});

afterAll(async () => {
  await Promise.all([fast?.close(100), node?.close(100)]);
  await Promise.all([tls?.close(), untrusted?.close(), plain?.close()]);
  ca?.close();
  otherCa?.close();
});

const get = (path: string, method = 'GET') => `${method} ${path} HTTP/1.1\r\n${HOST}\r\n`;

interface Row {
  name: string;
  bytes: string;
  methods?: readonly string[];
  status: number;
}

const rows: Row[] = [
  { name: 'an answer over TLS', bytes: get('/tls/echo?x=1'), status: 200 },
  { name: 'a chunked answer', bytes: get('/tls/chunked'), status: 200 },
  { name: 'HEAD', bytes: get('/tls/echo', 'HEAD'), methods: ['HEAD'], status: 200 },
  { name: 'a 2 MB answer', bytes: get('/tls/big'), status: 200 },
  { name: 'a 16 MB answer streamed with backpressure', bytes: get('/tls/huge'), status: 200 },
  { name: 'the upstream headers Constructor and __proto__', bytes: get('/tls/objectnames'), status: 200 },
  { name: "the upstream's 500", bytes: get('/tls/500'), status: 500 },
  { name: 'no answer by the route timeout: 504', bytes: get('/short/slow'), status: 504 },
  { name: 'a certificate from a CA not trusted: 502', bytes: get('/untrusted/echo'), status: 502 },
  { name: 'an upstream that does not speak TLS: 502', bytes: get('/nottls/echo'), status: 502 },
  {
    name: 'a reset TLS connection, then the retry answers',
    bytes: get('/retried/flaky?fail=reset'),
    status: 200,
  },
];

describe('https: targets on the fast-path front', () => {
  it.each(rows)('$name', async (row) => {
    await differential({ fast, node }, row.bytes, { methods: row.methods, status: row.status, path: 'fast' });
  });

  it('sends the request with the gateway headers and the upstream host, and keeps the connection', async () => {
    const before = frontStats(fast)!;
    const connection = await RawConnection.open(fast.port);
    const connectionsBefore = tls.connections;
    for (let i = 0; i < 3; i++) {
      connection.send(get(`/tls/echo?n=${i}`));
      const echo = echoOf(answered(await connection.response()));
      expect(echo.url).toBe(`/echo?n=${i}`);
      expect(echo.headers.host).toBe(`127.0.0.1:${tls.port}`);
      expect(echo.headers['x-forwarded-proto']).toBe('http');
      expect(echo.headers['x-flotilla-deadline']).toMatch(/^\d{13}$/);
    }
    connection.destroy();
    // One TLS connection at most for three requests in a row (one was perhaps open already).
    expect(tls.connections - connectionsBefore).toBeLessThanOrEqual(1);
    expect(frontStats(fast)!.served - before.served).toBe(3);
  });

  it('retries on the same upstream after a reset, counting both attempts', async () => {
    const answers = await differential({ fast, node }, get('/retried/flaky?fail=reset'), {
      status: 200,
      path: 'fast',
    });
    for (const answer of [answers.fast, answers.node])
      expect(arrivalsOf(headerOf(answered(answer), 'x-request-id')!).names).toEqual(['tls', 'tls']);
  });

  it('stops the upstream request when the client leaves', async () => {
    for (const [name, gateway] of [
      ['fast', fast],
      ['node', node],
    ] as const) {
      const hanging = tls.hanging(`leaves-${name}`);
      const connection = await RawConnection.open(gateway.port);
      connection.send(get(`/tls/hang?id=leaves-${name}`));
      await hanging.arrived;
      connection.destroy();
      await hanging.closed;
    }
  });
});

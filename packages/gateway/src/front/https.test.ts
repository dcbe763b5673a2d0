import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answered, differential, echoOf, frontStats } from '../fixtures/differential.js';
import {
  arrivalsOf,
  type BehaviourUpstream,
  HOST,
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
  {
    name: 'a POST with a body',
    bytes: `POST /tls/echo HTTP/1.1\r\n${HOST}content-length: 11\r\n\r\nhello world`,
    methods: ['POST'],
    status: 200,
  },
  {
    name: 'a GET with a body',
    bytes: `GET /tls/echo HTTP/1.1\r\n${HOST}content-length: 3\r\n\r\nabc`,
    status: 200,
  },
  {
    name: 'a POST with a body, reset: not retried (502)',
    bytes: `POST /retried/flaky?fail=reset HTTP/1.1\r\n${HOST}content-length: 5\r\n\r\nhello`,
    methods: ['POST'],
    status: 502,
  },
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

/*
 * A connection that takes longer than the route's deadline (a slow TLS handshake, a queued
 * request): undici starts a request (`onRequestStart`) only once a connection writes it, so until
 * then the front has no controller; the deadline and a client that leaves must still end the
 * attempt, as on node:http.
 */
describe('https: targets whose connection is slow to come', () => {
  const CONNECT_DELAY_MS = 800;
  const relays: { server: Server; sockets: Set<Socket> }[] = [];
  let slow: { fast: RunningGateway; node: RunningGateway };

  /** A TCP relay to `port` that holds each new connection for `ms` before relaying it. */
  async function delayedRelay(port: number, ms: number): Promise<string> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      sockets.add(client);
      client.pause();
      client.on('error', () => undefined);
      setTimeout(() => {
        if (client.destroyed) return;
        const upstream = connect(port, '127.0.0.1');
        sockets.add(upstream);
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      }, ms);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relays.push({ server, sockets });
    return `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  beforeAll(async () => {
    const routes = [
      route('deadline', { url: await delayedRelay(tls.port, CONNECT_DELAY_MS) }, { timeout: '300ms' }),
      route('hang', { url: await delayedRelay(tls.port, CONNECT_DELAY_MS) }, { timeout: '300ms' }),
      route('leaves', { url: await delayedRelay(tls.port, CONNECT_DELAY_MS) }, { concurrency: 1 }),
    ];
    slow = await startGatewayPair({ routes, upstreamCa: ca.cert });
  });

  afterAll(async () => {
    await Promise.all([slow?.fast.close(100), slow?.node.close(100)]);
    for (const { server, sockets } of relays) {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** The status of the answer to GET `path`, or `closed`, or `no answer` within `waitMs`. */
  async function statusOf(gateway: RunningGateway, path: string, waitMs = 3_000): Promise<number | string> {
    const connection = await RawConnection.open(gateway.port);
    try {
      connection.send(get(path));
      const answer = await Promise.race([
        connection.response(),
        sleep(waitMs).then(() => 'no answer' as const),
      ]);
      return answer === 'closed' || answer === 'no answer' ? answer : answer.status;
    } finally {
      connection.destroy();
    }
  }

  it('504 when the deadline passes while the connection is being made', async () => {
    const [fast, node] = await Promise.all([
      statusOf(slow.fast, '/deadline/echo'),
      statusOf(slow.node, '/deadline/echo'),
    ]);
    expect({ fast, node }).toEqual({ fast: 504, node: 504 });
  });

  it('504 at the deadline when the upstream then never answers', async () => {
    const [fast, node] = await Promise.all([
      statusOf(slow.fast, '/hang/hang?id=slow-fast'),
      statusOf(slow.node, '/hang/hang?id=slow-node'),
    ]);
    expect({ fast, node }).toEqual({ fast: 504, node: 504 });
  });

  it('a client that leaves while connecting: nothing reaches the upstream, the bulkhead slot comes back', async () => {
    const arrived: Record<string, boolean> = {};
    const after: Record<string, number | string> = {};
    for (const [name, gateway] of [
      ['fast', slow.fast],
      ['node', slow.node],
    ] as const) {
      let came = false;
      void tls.hanging(`leaves-${name}`).arrived.then(() => {
        came = true;
      });
      const connection = await RawConnection.open(gateway.port);
      connection.send(get(`/leaves/hang?id=leaves-${name}`));
      await sleep(100);
      connection.destroy(); // long before the relay lets the connection through
      await sleep(CONNECT_DELAY_MS + 500);
      arrived[name] = came;
      // concurrency: 1 — the next request needs the slot the first one held.
      after[name] = await statusOf(gateway, '/leaves/echo');
    }
    expect(arrived).toEqual({ fast: false, node: false });
    expect(after).toEqual({ fast: 200, node: 200 });
  });
});

import { eventually, freePort, seeded } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answered,
  differential,
  echoOf,
  exchange,
  expectBothWaysTaken,
  expectFrontCounted,
  expectNoFrontConnections,
  firstAnswerWithin,
  frontStats,
  inParallel,
  type Outcome,
  outcome,
  type Path,
  statusOf,
} from '../fixtures/differential.js';
import {
  type BehaviourUpstream,
  BIG_BYTES,
  HOST,
  HUGE_BYTES,
  headerOf,
  MEDIUM_BYTES,
  pattern,
  RawConnection,
  type RawResponse,
  startBehaviourUpstream,
} from '../fixtures/front.js';
import { startTestGateway } from '../fixtures/gateway.js';
import type { RouteDefinition } from '../routes/schema.js';
import type { RunningGateway, StartGatewayOptions } from '../start.js';
import { SECURE_HEADERS } from '../traffic/secure-headers.js';

/*
 * The fast-path front against node:http. Every gateway pair has the same routes and upstream;
 * `fast` runs with `fastPath: true` (the front), `node` with `fastPath: false` (node:http alone),
 * and most tests send the same bytes to both and want the same answer, after normalizing what
 * must differ (date, request ids, trace ids, deadlines).
 */

function startMode(fastPath: boolean, options: StartGatewayOptions): Promise<RunningGateway> {
  return startTestGateway({ ...options, fastPath });
}

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

let up: BehaviourUpstream;
let ka: BehaviourUpstream;
/** The upstream of the bulkhead route: a bulkhead (like a breaker) guards every route to its origin. */
let guarded: BehaviourUpstream;
let downUrl: string;
/** The main pair: default timeouts. */
let fast: RunningGateway;
let node: RunningGateway;
/** The timeout pair: 300 ms headers and keep-alive timeouts. */
let tFast: RunningGateway;
let tNode: RunningGateway;

const routes = (): RouteDefinition[] => [
  { id: 'echo', match: { path: '/e/*' }, target: { url: up.url } },
  { id: 'slow', match: { path: '/slow/*' }, target: { url: up.url }, timeout: '200ms' },
  { id: 'down', match: { path: '/down' }, target: { url: downUrl } },
  { id: 'metered', match: { path: '/m/*' }, target: { url: up.url } },
  { id: 'kept', match: { path: '/ka/*' }, target: { url: ka.url } },
  { id: 'titles', match: { path: '/t/:id' }, target: { url: up.url } },
  // Answered by the front without an upstream (a request with a body goes to node:http).
  { id: 'ping', match: { path: '/ping' }, static: { body: 'pong' } },
  {
    id: 'teapot',
    match: { path: '/teapot' },
    static: { status: 418, headers: { 'x-kind': 'tea' }, json: { short: true } },
    responseHeaders: { set: { 'x-served-by': 'gateway' } },
  },
  { id: 'moved', match: { path: '/old/:id' }, redirect: { to: '/new/:id', status: 301, keepQuery: true } },
  // Composite routes: the front calls the legs (the same `composeAnswer` as node:http's path).
  { id: 'combo', match: { path: '/combo' }, aggregate: { legs: { a: { url: up.url, path: '/digest' } } } },
  { id: 'broken', match: { path: '/broken' }, aggregate: { legs: { a: { url: downUrl, path: '/x' } } } },
  {
    id: 'stuck',
    match: { path: '/stuck' },
    aggregate: { legs: { a: { url: up.url, path: '/hang', query: { id: '{{query.id}}' } } } },
  },
  {
    id: 'picky',
    match: { path: '/picky' },
    branch: [
      {
        when: { headers: { 'x-client': 'mobile' } },
        chain: { steps: [{ name: 's', url: up.url, path: '/digest' }] },
      },
    ],
  },
  { id: 'retried', match: { path: '/r/*' }, target: { url: up.url }, retry: { attempts: 1 } },
  { id: 'bulkhead', match: { path: '/b/*' }, target: { url: guarded.url }, concurrency: 50 },
  // The front's, with the CORS headers on its answers (auth and rate limits: features.test.ts).
  {
    id: 'cors',
    match: { path: '/c/*' },
    target: { url: up.url },
    cors: { origins: ['https://app.example.com'] },
  },
  // Plain or not is the front's call (rewrite and header operations): only the answers are compared.
  {
    id: 'rewritten',
    match: { path: '/api/*' },
    target: { url: up.url },
    rewrite: { stripPrefix: '/api' },
    requestHeaders: { set: { 'x-route': 'api' }, remove: ['x-drop-me'] },
    responseHeaders: { set: { 'x-served-by': 'gateway' }, remove: ['x-kind'] },
  },
];

/** Settled later without an unhandled rejection in between. */
function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

const PARTIAL_HEADS = [`GET /e/echo HTTP/1.1\r\n${HOST}`, 'GET /e/ec'];
/** Partial heads sent to `tNode` at the start: node:http checks headers timeouts only every 30 s. */
let nodePartials: Promise<{ ok: true; value: Outcome | 'closed' } | { ok: false; error: unknown }>[] = [];

async function partialHead(gateway: RunningGateway, bytes: string): Promise<Outcome | 'closed'> {
  const connection = await RawConnection.open(gateway.port);
  connection.send(bytes);
  const response = await connection.response();
  await connection.whenClosed;
  return outcome(response);
}

beforeAll(async () => {
  up = await startBehaviourUpstream('up');
  ka = await startBehaviourUpstream('ka');
  guarded = await startBehaviourUpstream('guarded');
  downUrl = `http://127.0.0.1:${await freePort()}`;
  const timeouts = { routes: routes(), headersTimeoutMs: 300, keepAliveTimeoutMs: 300 };
  tNode = await startMode(false, timeouts);
  nodePartials = PARTIAL_HEADS.map((bytes) => settle(partialHead(tNode, bytes)));
  [tFast, fast, node] = await Promise.all([
    startMode(true, timeouts),
    startMode(true, { routes: routes() }),
    startMode(false, { routes: routes() }),
  ]);
});

afterAll(async () => {
  await Promise.all([fast?.close(100), node?.close(100), tFast?.close(100), tNode?.close(100)]);
  await Promise.all([up?.close(), ka?.close(), guarded?.close()]);
});

// ---------------------------------------------------------------------------------------------

describe('the front', () => {
  it('is exposed with stats when fastPath is on, and absent when it is off', () => {
    expect(frontStats(fast), 'RunningGateway.front of a fastPath: true gateway').toBeDefined();
    expect(frontStats(fast)).toEqual({
      served: expect.any(Number),
      handedOff: expect.any(Number),
      connections: expect.any(Number),
    });
    expect(node.front, 'RunningGateway.front of a fastPath: false gateway').toBeUndefined();
  });
});

interface Row {
  name: string;
  /** The request; a function when it must be made at send time. */
  bytes: string | (() => string);
  path: Path;
  status: number | 'closed';
  methods?: readonly string[];
  /** More checks on each gateway's raw answer. */
  check?: (response: RawResponse) => void;
}

/** Set when the row that sends it runs (a deadline made at load time could pass before). */
let clientDeadline = 0;

/** Whole answers around the one-write limit (16 KiB) and every byte value, with a length and chunked. */
const SIZED_ROWS: Row[] = [256, 16_383, 16_384, 16_385, 70_000].flatMap((n) =>
  [false, true].map(
    (chunked): Row => ({
      name: `${n} bytes of every value${chunked ? ', chunked' : ''}, byte-exact`,
      bytes: `GET /e/sized?n=${n}${chunked ? '&chunked' : ''} HTTP/1.1\r\n${HOST}\r\n`,
      path: 'fast',
      status: 200,
      check: (r) => expect(r.body.equals(pattern(0, n)), 'the body as the upstream sent it').toBe(true),
    }),
  ),
);

const ROWS: Row[] = [
  ...SIZED_ROWS,
  // Served by the front.
  {
    name: 'a GET to the echo',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}accept: */*\r\nuser-agent: raw/1\r\n\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => {
      const echo = echoOf(r);
      expect(echo.method).toBe('GET');
      expect(echo.url).toBe('/e/echo');
      expect(echo.headers['x-request-id']).toBe(headerOf(r, 'x-request-id'));
      expect(echo.headers['x-forwarded-host']).toBe('gw.test');
      for (const [name, value] of Object.entries(SECURE_HEADERS)) expect(headerOf(r, name)).toBe(value);
    },
  },
  {
    name: 'a GET with a query and percent-encoded path',
    bytes: `GET /e/a%20b/%7Euser/x?q=1&r=%2F&s HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(echoOf(r).url).toBe('/e/a%20b/%7Euser/x?q=1&r=%2F&s'),
  },
  {
    name: 'a HEAD to the echo',
    bytes: `HEAD /e/echo HTTP/1.1\r\n${HOST}\r\n`,
    methods: ['HEAD'],
    path: 'fast',
    status: 200,
  },
  {
    name: 'a chunked upstream answer',
    bytes: `GET /e/chunked HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'an upstream answer ended by closing the connection',
    bytes: `GET /e/close HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(r.body.toString()).toBe('the body ends when the upstream closes\n'),
  },
  {
    name: "the upstream's own x-frame-options and csp",
    bytes: `GET /e/frame HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => {
      expect(headerOf(r, 'x-frame-options')).toBe('SAMEORIGIN');
      expect(headerOf(r, 'x-powered-by')).toBeUndefined();
    },
  },
  {
    name: 'hop-by-hop upstream headers',
    bytes: `GET /e/hop HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => {
      expect(headerOf(r, 'x-drop')).toBeUndefined();
      expect(headerOf(r, 'x-kept')).toBe('yes');
    },
  },
  {
    name: 'two set-cookie headers',
    bytes: `GET /e/cookies HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(r.headers.filter(([n]) => n.toLowerCase() === 'set-cookie')).toHaveLength(2),
  },
  { name: 'a 204', bytes: `GET /e/204 HTTP/1.1\r\n${HOST}\r\n`, path: 'fast', status: 204 },
  {
    name: 'a 304',
    bytes: `GET /e/304 HTTP/1.1\r\n${HOST}if-none-match: "v1"\r\n\r\n`,
    path: 'fast',
    status: 304,
  },
  {
    name: 'an upstream 500, relayed',
    bytes: `GET /e/500 HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 500,
  },
  {
    name: 'a 2 MiB body',
    bytes: `GET /e/big HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(r.body.equals(pattern(0, BIG_BYTES))).toBe(true),
  },
  {
    name: "the client's request id, trace, deadline, forwarding and hop-by-hop headers",
    bytes: () => {
      // Sooner than the route's 30 s deadline, so it is the one sent upstream.
      clientDeadline = Date.now() + 20_000;
      return (
        `GET /e/ids HTTP/1.1\r\n${HOST}x-request-id: abc-123\r\n` +
        `traceparent: 00-${TRACE_ID}-b7ad6b7169203331-01\r\nx-forwarded-for: 203.0.113.9\r\n` +
        `x-flotilla-deadline: ${clientDeadline}\r\nx-flotilla-principal: eyJzdWIiOiJhZG1pbiJ9\r\n` +
        'connection: keep-alive, x-secret\r\nx-secret: 1\r\nte: trailers\r\nproxy-authorization: Basic eA==\r\n\r\n'
      );
    },
    path: 'fast',
    status: 200,
    check: (r) => {
      const echo = echoOf(r);
      expect(headerOf(r, 'x-request-id')).toBe('abc-123');
      expect(echo.headers['x-request-id']).toBe('abc-123');
      expect(echo.headers.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
      expect(echo.headers['x-flotilla-deadline']).toBe(String(clientDeadline));
      expect(echo.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
      for (const name of ['x-secret', 'te', 'proxy-authorization', 'x-flotilla-principal'])
        expect(echo.headers[name]).toBeUndefined();
    },
  },
  {
    name: 'header names in any case, values with padding, tabs and quotes',
    bytes:
      `GET /e/values HTTP/1.1\r\n${HOST}X-Mixed-Case: One\r\nx-ws:    padded  \t\r\nx-tab: a\tb\r\n` +
      'x-empty:\r\nx-quote: "a,b"; q=0.5\r\n\r\n',
    path: 'fast',
    status: 200,
    check: (r) => {
      const echo = echoOf(r);
      expect(echo.headers['x-mixed-case']).toBe('One');
      expect(echo.headers['x-ws']).toBe('padded');
      expect(echo.headers['x-tab']).toBe('a\tb');
      expect(echo.headers['x-empty']).toBe('');
    },
  },
  {
    name: 'obs-text (UTF-8 bytes) in a header value',
    bytes: `GET /e/utf8 HTTP/1.1\r\n${HOST}x-utf8: caf\xc3\xa9\r\n\r\n`,
    path: 'either',
    status: 200,
    // node:http reads header bytes as latin1.
    check: (r) => expect(echoOf(r).headers['x-utf8']).toBe('caf\xc3\xa9'),
  },
  {
    name: 'sixty headers',
    bytes: `GET /e/many HTTP/1.1\r\n${HOST}${Array.from({ length: 60 }, (_, i) => `x-h-${i}: ${i}\r\n`).join('')}\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'a 12 KiB head, under the 16 KiB limit',
    bytes: `GET /e/big-head HTTP/1.1\r\n${HOST}x-big: ${'a'.repeat(12 * 1024)}\r\n\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'a 4 KiB path',
    bytes: `GET /e/${'p'.repeat(4096)} HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'connection: close',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}connection: close\r\n\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(headerOf(r, 'connection')?.toLowerCase()).toBe('close'),
  },
  // Either way: only the answers must agree.
  {
    name: 'a route with a rewrite and header operations',
    bytes: `GET /api/echo HTTP/1.1\r\n${HOST}x-drop-me: 1\r\n\r\n`,
    path: 'either',
    status: 200,
    check: (r) => {
      expect(echoOf(r).url).toBe('/echo');
      expect(echoOf(r).headers['x-route']).toBe('api');
      expect(headerOf(r, 'x-served-by')).toBe('gateway');
    },
  },
  { name: 'no host header', bytes: 'GET /e/echo HTTP/1.1\r\n\r\n', path: 'either', status: 400 },
  {
    name: 'a bad percent-encoding under a wildcard',
    bytes: `GET /e/%E0%A4%A HTTP/1.1\r\n${HOST}\r\n`,
    path: 'either',
    status: 400,
  },
  // Bodies: more in bodies.test.ts.
  {
    name: 'a POST with a body',
    bytes: `POST /e/echo HTTP/1.1\r\n${HOST}content-type: text/plain\r\ncontent-length: 5\r\n\r\nhello`,
    path: 'fast',
    status: 200,
    check: (r) => expect(echoOf(r).body).toBe('hello'),
  },
  {
    name: 'a GET with content-length: 0',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}content-length: 0\r\n\r\n`,
    path: 'fast',
    status: 200,
  },
  { name: 'a DELETE', bytes: `DELETE /e/echo HTTP/1.1\r\n${HOST}\r\n`, path: 'fast', status: 200 },
  // HTTP/1.0: never chunked; without a length the connection ends after the answer.
  {
    name: 'HTTP/1.0: the answer with its length, then the connection closes',
    bytes: `GET /e/sized?n=10 HTTP/1.0\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(headerOf(r, 'connection')).toBe('close'),
  },
  {
    name: 'HTTP/1.0 keep-alive: the answer with its length, kept alive',
    bytes: `GET /e/sized?n=10 HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(headerOf(r, 'connection')).toBe('keep-alive'),
  },
  {
    name: 'HTTP/1.0: a chunked upstream answer relayed to the close',
    bytes: `GET /e/chunked HTTP/1.0\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(headerOf(r, 'transfer-encoding')).toBeUndefined(),
  },
  {
    name: 'HTTP/1.0 keep-alive: a chunked upstream answer relayed to the close',
    bytes: `GET /e/chunked HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(headerOf(r, 'connection')).toBe('close'),
  },
  {
    name: 'HTTP/1.0 keep-alive: an upstream answer ended by its close',
    bytes: `GET /e/close HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'HTTP/1.0 keep-alive: a big chunked answer (several reads)',
    bytes: `GET /e/sized?n=200000&chunked HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'HTTP/1.0 keep-alive: a HEAD',
    bytes: `HEAD /e/sized?n=10 HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    methods: ['HEAD'],
    path: 'fast',
    status: 200,
  },
  {
    name: 'HTTP/1.0 keep-alive: a 204',
    bytes: `GET /e/204 HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    path: 'fast',
    status: 204,
  },
  {
    name: 'HTTP/1.0 keep-alive: a 304',
    bytes: `GET /e/304 HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    path: 'fast',
    status: 304,
  },
  {
    name: 'HTTP/1.0 keep-alive: a 404 of no route',
    bytes: `GET /nowhere HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    path: 'fast',
    status: 404,
  },
  {
    name: 'HTTP/1.0 keep-alive: a 502 problem',
    bytes: `GET /down HTTP/1.0\r\n${HOST}connection: keep-alive\r\n\r\n`,
    path: 'fast',
    status: 502,
  },
  {
    name: 'HTTP/1.0 keep-alive: a POST with a body',
    bytes: `POST /e/echo HTTP/1.0\r\n${HOST}connection: keep-alive\r\ncontent-length: 5\r\n\r\nhello`,
    path: 'fast',
    status: 200,
    check: (r) => expect(echoOf(r).body).toBe('hello'),
  },
  // Refused by the front itself, with node:http's problem: the connection stays the front's.
  {
    name: 'a path no route matches',
    bytes: `GET /nowhere HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 404,
  },
  {
    name: 'a HEAD no route matches (no body)',
    bytes: `HEAD /nowhere HTTP/1.1\r\n${HOST}\r\n`,
    methods: ['HEAD'],
    path: 'fast',
    status: 404,
  },
  {
    name: 'a POST with a body no route matches',
    bytes: `POST /nowhere HTTP/1.1\r\n${HOST}content-length: 5\r\n\r\nhello`,
    path: 'fast',
    status: 404,
  },
  {
    name: 'an OPTIONS no route matches, with the client request id',
    bytes: `OPTIONS /nowhere HTTP/1.1\r\n${HOST}x-request-id: client-id-1\r\n\r\n`,
    path: 'fast',
    status: 404,
    check: (r) => expect(headerOf(r, 'x-request-id')).toBe('client-id-1'),
  },
  {
    name: 'a bad percent-encoding in a route parameter',
    bytes: `GET /t/%E0%A4%A HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 400,
  },
  {
    name: 'an OPTIONS on a route (proxied: not a preflight)',
    bytes: `OPTIONS /e/echo HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(echoOf(r).method).toBe('OPTIONS'),
  },
  // Handed to node:http.
  {
    name: 'a POST with a chunked body',
    bytes: `POST /e/echo HTTP/1.1\r\n${HOST}transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    path: 'handoff',
    status: 200,
    check: (r) => expect(echoOf(r).body).toBe('hello'),
  },
  {
    name: 'HTTP/1.0 with Transfer-Encoding accepted (TE)',
    bytes: `GET /e/chunked HTTP/1.0\r\n${HOST}te: chunked\r\n\r\n`,
    path: 'handoff',
    status: 200,
  },
  {
    name: 'HTTP/1.0 asking for keep-alive and close',
    bytes: `GET /e/echo HTTP/1.0\r\n${HOST}connection: keep-alive, close\r\n\r\n`,
    path: 'handoff',
    status: 200,
  },
  {
    name: 'Proxy-Connection (llhttp reads it as Connection)',
    bytes: `GET /e/sized?n=4 HTTP/1.0\r\n${HOST}proxy-connection: keep-alive\r\n\r\n`,
    path: 'handoff',
    status: 200,
  },
  { name: 'HTTP/1.0 without Host', bytes: 'GET /e/echo HTTP/1.0\r\n\r\n', path: 'handoff', status: 200 },
  {
    name: 'an absolute-form target',
    bytes: `GET http://gw.test/e/echo HTTP/1.1\r\n${HOST}\r\n`,
    path: 'handoff',
    status: 400,
  },
  { name: 'OPTIONS *', bytes: `OPTIONS * HTTP/1.1\r\n${HOST}\r\n`, path: 'handoff', status: 400 },
  {
    name: 'a duplicate header',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}x-dup: 1\r\nx-dup: 2\r\n\r\n`,
    path: 'handoff',
    status: 200,
    check: (r) => expect(echoOf(r).headers['x-dup']).toBe('1, 2'),
  },
  {
    name: 'a duplicate header in another case',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}X-Dup: 1\r\nx-dup: 2\r\n\r\n`,
    path: 'handoff',
    status: 200,
  },
  {
    name: 'an obs-fold',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}x-fold: a\r\n  b\r\n\r\n`,
    path: 'handoff',
    status: 400,
  },
  {
    name: 'a control character in a header value',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}x-bad: a\x01b\r\n\r\n`,
    path: 'handoff',
    status: 400,
  },
  {
    name: 'a bad character in a header name',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}x(bad): 1\r\n\r\n`,
    path: 'handoff',
    status: 400,
  },
  {
    name: 'a space before the colon',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}x-a : 1\r\n\r\n`,
    path: 'handoff',
    status: 400,
  },
  {
    name: 'a NUL in the path',
    bytes: `GET /e/a\x00b HTTP/1.1\r\n${HOST}\r\n`,
    path: 'handoff',
    status: 400,
  },
  {
    name: 'a lowercase method',
    bytes: `get /e/echo HTTP/1.1\r\n${HOST}\r\n`,
    path: 'handoff',
    status: 400,
  },
  {
    name: 'two spaces after the method',
    bytes: `GET  /e/echo HTTP/1.1\r\n${HOST}\r\n`,
    path: 'handoff',
    status: 200,
  },
  {
    name: 'bare LF line ends',
    bytes: 'GET /e/echo HTTP/1.1\nhost: gw.test\n\n',
    path: 'handoff',
    status: 400,
  },
  {
    name: 'a 20 KiB header',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}x-huge: ${'y'.repeat(20 * 1024)}\r\n\r\n`,
    path: 'handoff',
    status: 431,
  },
  {
    name: 'Expect: 100-continue on a GET: 100, then the answer',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}expect: 100-continue\r\n\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(r.interim).toEqual([100]),
  },
  {
    name: 'Expect: 100-continue to no route: 100, then the 404',
    bytes: `POST /nowhere HTTP/1.1\r\n${HOST}Expect: 100-Continue\r\ncontent-length: 2\r\n\r\nhi`,
    path: 'fast',
    status: 404,
    check: (r) => expect(r.interim).toEqual([100]),
  },
  {
    name: 'another expectation: 417',
    bytes: `GET /e/echo HTTP/1.1\r\n${HOST}expect: 200-ok\r\n\r\n`,
    path: 'handoff',
    status: 417,
  },
  {
    name: 'Expect: 100-continue from an HTTP/1.0 client (ignored by node:http)',
    bytes: `GET /e/sized?n=4 HTTP/1.0\r\n${HOST}expect: 100-continue\r\n\r\n`,
    path: 'handoff',
    status: 200,
  },
  {
    name: 'an upgrade',
    bytes:
      `GET /e/ws HTTP/1.1\r\n${HOST}connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n` +
      'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    path: 'handoff',
    status: 200,
  },
  { name: 'a static route', bytes: `GET /ping HTTP/1.1\r\n${HOST}\r\n`, path: 'fast', status: 200 },
  {
    name: 'a static route with JSON, its headers and header operations',
    bytes: `GET /teapot HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 418,
    check: (r) => expect(headerOf(r, 'x-served-by')).toBe('gateway'),
  },
  {
    name: 'a HEAD to a static route',
    bytes: `HEAD /ping HTTP/1.1\r\n${HOST}\r\n`,
    methods: ['HEAD'],
    path: 'fast',
    status: 200,
  },
  {
    name: 'a POST with a body to a static route',
    bytes: `POST /ping HTTP/1.1\r\n${HOST}content-length: 2\r\n\r\nhi`,
    path: 'handoff',
    status: 200,
  },
  {
    name: 'a redirect with a parameter, the query kept',
    bytes: `GET /old/42?x=1 HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 301,
    check: (r) => expect(headerOf(r, 'location')).toBe('/new/42?x=1'),
  },
  {
    name: 'a redirect to an HTTP/1.0 client',
    bytes: `GET /old/7 HTTP/1.0\r\n${HOST}\r\n`,
    path: 'fast',
    status: 301,
  },
  { name: 'a composite route', bytes: `GET /combo HTTP/1.1\r\n${HOST}\r\n`, path: 'fast', status: 200 },
  {
    name: 'a HEAD to a composite route',
    bytes: `HEAD /combo HTTP/1.1\r\n${HOST}\r\n`,
    methods: ['HEAD'],
    path: 'fast',
    status: 200,
  },
  {
    name: 'a composite route whose leg fails: 502',
    bytes: `GET /broken HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 502,
  },
  {
    name: 'a branch route whose case holds (a chain)',
    bytes: `GET /picky HTTP/1.1\r\n${HOST}x-client: mobile\r\n\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'a branch route no case holds: 404',
    bytes: `GET /picky HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 404,
  },
  {
    name: 'a POST with a body to a composite route',
    bytes: `POST /combo HTTP/1.1\r\n${HOST}content-length: 2\r\n\r\nhi`,
    path: 'handoff',
    status: 200,
  },
  {
    name: 'a route with retries (served by the front)',
    bytes: `GET /r/echo HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'a route with a bulkhead (served by the front)',
    bytes: `GET /b/echo HTTP/1.1\r\n${HOST}\r\n`,
    path: 'fast',
    status: 200,
  },
  {
    name: 'a route with cors',
    bytes: `GET /c/echo HTTP/1.1\r\n${HOST}origin: https://app.example.com\r\n\r\n`,
    path: 'fast',
    status: 200,
    check: (r) => expect(headerOf(r, 'access-control-allow-origin')).toBe('https://app.example.com'),
  },
];

describe('differential: the same bytes get the same answer with and without the front', () => {
  for (const row of ROWS) {
    it(`${row.path === 'fast' ? 'fast' : row.path === 'handoff' ? 'handed off' : 'either'}: ${row.name}`, async () => {
      const bytes = typeof row.bytes === 'string' ? row.bytes : row.bytes();
      const answers = await differential({ fast, node }, bytes, {
        methods: row.methods,
        path: row.path,
        status: row.status,
      });
      if (row.check) {
        row.check(answered(answers.node));
        row.check(answered(answers.fast));
      }
    });
  }
});

describe('HTTP/1.0 connections', () => {
  /** Whether the connection still answers after the answer to `bytes`: `kept`, or `closed`. */
  async function afterAnswer(gateway: RunningGateway, bytes: string, method: string): Promise<string> {
    const connection = await RawConnection.open(gateway.port);
    try {
      connection.send(bytes, [method]);
      await connection.expectResponse();
      connection.send(`GET /e/sized?n=3 HTTP/1.1\r\n${HOST}\r\n`);
      return (await connection.response()) === 'closed' ? 'closed' : 'kept';
    } finally {
      connection.destroy();
    }
  }

  const KEEP = 'connection: keep-alive\r\n';
  it.each([
    ['without keep-alive', `GET /e/sized?n=10 HTTP/1.0\r\n${HOST}\r\n`, 'GET', 'closed', 1],
    [
      'keep-alive, an answer with a length',
      `GET /e/sized?n=10 HTTP/1.0\r\n${HOST}${KEEP}\r\n`,
      'GET',
      'kept',
      2,
    ],
    [
      'keep-alive, a chunked upstream answer',
      `GET /e/chunked HTTP/1.0\r\n${HOST}${KEEP}\r\n`,
      'GET',
      'closed',
      1,
    ],
    [
      'keep-alive, a HEAD answered without a length',
      `HEAD /e/echo HTTP/1.0\r\n${HOST}${KEEP}\r\n`,
      'HEAD',
      'closed',
      1,
    ],
    ['keep-alive, a 404 problem', `GET /nowhere HTTP/1.0\r\n${HOST}${KEEP}\r\n`, 'GET', 'kept', 2],
    // llhttp's Connection tokens: between commas, spaces around them.
    [
      'keep-alive after another word',
      `GET /e/sized?n=1 HTTP/1.0\r\n${HOST}connection: x keep-alive\r\n\r\n`,
      'GET',
      'closed',
      1,
    ],
    [
      'keep-alive in a list',
      `GET /e/sized?n=1 HTTP/1.0\r\n${HOST}connection: x , Keep-Alive\r\n\r\n`,
      'GET',
      'kept',
      2,
    ],
    [
      'HTTP/1.1, close before another word',
      `GET /e/sized?n=1 HTTP/1.1\r\n${HOST}connection: close x\r\n\r\n`,
      'GET',
      'kept',
      2,
    ],
  ])('%s: the connection is %s after it, as on node:http', async (_name, bytes, method, expected, served) => {
    const before = frontStats(fast);
    expect(await afterAnswer(node, bytes, method), 'node:http').toBe(expected);
    expect(await afterAnswer(fast, bytes, method), 'the front').toBe(expected);
    await expectFrontCounted(fast, before, 'fast', served);
  });
});

describe('pipelining', () => {
  /** Writes `bytes` at once and reads one answer per method, in order. */
  async function pipelined(
    gateway: RunningGateway,
    bytes: string,
    methods: string[],
  ): Promise<RawResponse[]> {
    const connection = await RawConnection.open(gateway.port);
    try {
      connection.send(bytes, methods);
      const out: RawResponse[] = [];
      for (let i = 0; i < methods.length; i++) out.push(await connection.expectResponse());
      return out;
    } finally {
      connection.destroy();
    }
  }

  it('answers three GETs written at once in order, on one connection', async () => {
    // The first is the slowest upstream answer: answered in arrival order, it would come last.
    const bytes =
      `GET /e/late?ms=200&n=1 HTTP/1.1\r\n${HOST}\r\n` +
      `GET /e/echo?n=2 HTTP/1.1\r\n${HOST}\r\n` +
      `GET /e/late?ms=50&n=3 HTTP/1.1\r\n${HOST}\r\n`;
    const before = frontStats(fast);
    const [f, n] = await Promise.all([
      pipelined(fast, bytes, ['GET', 'GET', 'GET']),
      pipelined(node, bytes, ['GET', 'GET', 'GET']),
    ]);
    for (const answers of [f, n])
      expect(answers.map((r) => echoOf(r).url)).toEqual([
        '/e/late?ms=200&n=1',
        '/e/echo?n=2',
        '/e/late?ms=50&n=3',
      ]);
    expect(f.map(outcome)).toEqual(n.map(outcome));
    await expectFrontCounted(fast, before, 'fast', 3);
  });

  it('answers GET, chunked POST, GET written at once in order (the POST hands the connection off)', async () => {
    const bytes =
      `GET /e/late?ms=150&n=1 HTTP/1.1\r\n${HOST}\r\n` +
      `POST /e/echo?n=2 HTTP/1.1\r\n${HOST}transfer-encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n` +
      `GET /e/echo?n=3 HTTP/1.1\r\n${HOST}\r\n`;
    const before = frontStats(fast);
    const [f, n] = await Promise.all([
      pipelined(fast, bytes, ['GET', 'POST', 'GET']),
      pipelined(node, bytes, ['GET', 'POST', 'GET']),
    ]);
    for (const answers of [f, n]) {
      const echoes = answers.map(echoOf);
      expect(echoes.map((e) => `${e.method} ${e.url} ${e.body}`)).toEqual([
        'GET /e/late?ms=150&n=1 ',
        'POST /e/echo?n=2 hello world',
        'GET /e/echo?n=3 ',
      ]);
    }
    expect(f.map(outcome)).toEqual(n.map(outcome));
    if (before) {
      await eventually(
        () => {
          const now = frontStats(fast)!;
          // The first GET is the front's; from the POST on, the connection is node:http's.
          expect({ served: now.served - before.served, handedOff: now.handedOff - before.handedOff }).toEqual(
            {
              served: 1,
              handedOff: 1,
            },
          );
        },
        { timeoutMs: 2_000 },
      );
    }
    await expectNoFrontConnections(fast);
  });
});

describe('keep-alive', () => {
  it('answers 50 sequential requests on one connection over one upstream connection', async () => {
    for (const gateway of [fast, node]) {
      const before = frontStats(gateway);
      const upstreamConnections = ka.connections;
      const connection = await RawConnection.open(gateway.port);
      try {
        for (let i = 0; i < 50; i++) {
          connection.send(`GET /ka/n/${i} HTTP/1.1\r\n${HOST}\r\n`);
          const response = await connection.expectResponse();
          expect(response.status).toBe(200);
          expect(echoOf(response).url).toBe(`/ka/n/${i}`);
          expect(headerOf(response, 'connection')?.toLowerCase()).toBe('keep-alive');
        }
        expect(connection.closed).toBe(false);
      } finally {
        connection.destroy();
      }
      expect(ka.connections - upstreamConnections, 'upstream connections opened for 50 requests').toBe(1);
      await expectFrontCounted(gateway, before, 'fast', 50);
    }
  });

  it('answers connection: close with connection: close and closes the connection', async () => {
    for (const gateway of [fast, node]) {
      const before = frontStats(gateway);
      const connection = await RawConnection.open(gateway.port);
      connection.send(`GET /e/echo HTTP/1.1\r\n${HOST}connection: close\r\n\r\n`);
      const response = await connection.expectResponse();
      expect(response.status).toBe(200);
      expect(headerOf(response, 'connection')?.toLowerCase()).toBe('close');
      expect(headerOf(response, 'keep-alive')).toBeUndefined();
      await connection.whenClosed;
      expect(await connection.response(), 'nothing after the answer').toBe('closed');
      await expectFrontCounted(gateway, before, 'fast');
    }
  });
});

/** The front's 408 answers, compared with node:http's by the last test of the file. */
let fastPartials: (Outcome | 'closed')[] = [];

describe('timeouts (300 ms headers and keep-alive timeouts; node:http 408 in the last test)', () => {
  it('answers a partial head with 408 problem+json and closes the connection (fast path)', async () => {
    const before = frontStats(tFast);
    fastPartials = await Promise.all(PARTIAL_HEADS.map((bytes) => partialHead(tFast, bytes)));
    for (const answer of fastPartials) {
      expect(answer).not.toBe('closed');
      const o = answer as Outcome;
      expect(o.statusLine).toBe('HTTP/1.1 408 Request Timeout');
      expect(o.headers).toContain('content-type: application/problem+json');
      expect(o.headers).toContain('connection: close');
      expect(o.body).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
    }
    // Once the front let go of both connections, its counters are final.
    await expectNoFrontConnections(tFast);
    if (before) {
      const now = frontStats(tFast)!;
      expect(now.served - before.served, 'a 408 is not a served request').toBe(0);
      // The front's own timer answered: node:http never saw these connections.
      expect(now.handedOff - before.handedOff, 'partial heads handed to node:http').toBe(0);
    }
  });

  it('closes an idle keep-alive connection after the idle timeout, sending nothing more', async () => {
    const outcomes: (Outcome | 'closed')[] = [];
    for (const gateway of [tFast, tNode]) {
      const before = frontStats(gateway);
      const connection = await RawConnection.open(gateway.port);
      connection.send(`GET /e/echo HTTP/1.1\r\n${HOST}\r\n`);
      const response = await connection.expectResponse();
      expect(response.status).toBe(200);
      outcomes.push(outcome(response));
      await connection.whenClosed;
      expect(await connection.response(), 'nothing after the answer (no 408 on an idle connection)').toBe(
        'closed',
      );
      await expectFrontCounted(gateway, before, 'fast');
    }
    expect(outcomes[0]).toEqual(outcomes[1]);
    await expectNoFrontConnections(tFast);
  });

  it('keeps a request whose upstream answers after both timeouts', async () => {
    await differential({ fast: tFast, node: tNode }, `GET /e/late?ms=700 HTTP/1.1\r\n${HOST}\r\n`, {
      path: 'fast',
      status: 200,
    });
  });

  it('answers a head completed before the headers timeout', async () => {
    for (const gateway of [tFast, tNode]) {
      const connection = await RawConnection.open(gateway.port);
      try {
        connection.send(`GET /e/echo HTTP/1.1\r\n${HOST}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        connection.send('x-late: 1\r\n\r\n');
        const response = await connection.expectResponse();
        expect(response.status).toBe(200);
        expect(echoOf(response).headers['x-late']).toBe('1');
      } finally {
        connection.destroy();
      }
    }
  });
});

/**
 * Waits until the gateway closed a hanging upstream request: within 10 s, long before the
 * route's deadline (30 s) would have ended it anyway.
 */
async function closedBeforeDeadline(hang: { readonly closed: Promise<void> }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the upstream request was not aborted')), 10_000);
  });
  try {
    await Promise.race([hang.closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('client abort', () => {
  it('closes the upstream request when the client disconnects before the answer', async () => {
    for (const [mode, gateway] of [
      ['fast', fast],
      ['node', node],
    ] as const) {
      const hang = up.hanging(`abort-${mode}`);
      const connection = await RawConnection.open(gateway.port);
      connection.send(`GET /e/hang?id=abort-${mode} HTTP/1.1\r\n${HOST}\r\n`);
      await hang.arrived;
      // The request in flight is the front's, not node:http's.
      if (frontStats(gateway)) expect(frontStats(gateway)!.connections).toBe(1);
      expect(connection.closed).toBe(false);
      connection.destroy();
      await closedBeforeDeadline(hang);
      await expectNoFrontConnections(gateway);
    }
  });

  it("aborts a composite route's legs when the client disconnects before the answer", async () => {
    for (const [mode, gateway] of [
      ['fast', fast],
      ['node', node],
    ] as const) {
      const hang = up.hanging(`legs-${mode}`);
      const connection = await RawConnection.open(gateway.port);
      connection.send(`GET /stuck?id=legs-${mode} HTTP/1.1\r\n${HOST}\r\n`);
      await hang.arrived;
      if (frontStats(gateway)) expect(frontStats(gateway)!.connections).toBe(1);
      connection.destroy();
      await closedBeforeDeadline(hang);
      await expectNoFrontConnections(gateway);
    }
  });
});

describe('upstream failures on the fast path', () => {
  it('502 BAD_GATEWAY when the upstream refuses the connection', async () => {
    const { fast: f } = await differential({ fast, node }, `GET /down HTTP/1.1\r\n${HOST}\r\n`, {
      path: 'fast',
      status: 502,
    });
    const answer = answered(f);
    expect(headerOf(answer, 'content-type')).toBe('application/problem+json');
    expect(JSON.parse(answer.body.toString())).toMatchObject({ code: 'BAD_GATEWAY' });
  });

  it('504 GATEWAY_TIMEOUT when the upstream is slower than the route timeout', async () => {
    const { fast: f } = await differential({ fast, node }, `GET /slow/slow HTTP/1.1\r\n${HOST}\r\n`, {
      path: 'fast',
      status: 504,
    });
    expect(JSON.parse(answered(f).body.toString())).toMatchObject({ code: 'GATEWAY_TIMEOUT' });
  });
});

describe('backpressure', () => {
  it('relays 16 MiB to a client that reads slowly, whole and byte-exact', async () => {
    const expected = pattern(0, HUGE_BYTES);
    for (const gateway of [fast, node]) {
      const before = frontStats(gateway);
      const connection = await RawConnection.open(gateway.port);
      try {
        const pauses = [1, 4, 8, 12].map((mib) => mib * 1024 * 1024);
        let received = 0;
        connection.socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (pauses.length > 0 && received >= pauses[0]!) {
            pauses.shift();
            connection.socket.pause();
            setTimeout(() => connection.socket.resume(), 150);
          }
        });
        connection.send(`GET /e/huge HTTP/1.1\r\n${HOST}\r\n`);
        const response = await connection.expectResponse();
        expect(response.status).toBe(200);
        expect(pauses, 'the client paused at each mark').toEqual([]);
        expect(response.body.length).toBe(HUGE_BYTES);
        expect(response.body.equals(expected), 'the body is the bytes the upstream sent').toBe(true);
      } finally {
        connection.destroy();
      }
      await expectFrontCounted(gateway, before, 'fast');
    }
  });
});

describe('metrics', () => {
  /** Values of the series of `name` whose labels include `label`, by label text. */
  async function series(gateway: RunningGateway, name: string, label: string): Promise<Map<string, number>> {
    const text = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) || !line.includes(label)) continue;
      const space = line.lastIndexOf(' ');
      out.set(line.slice(name.length, space), Number(line.slice(space + 1)));
    }
    return out;
  }

  function delta(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [labels, value] of after) {
      const d = value - (before.get(labels) ?? 0);
      if (d !== 0) out[labels] = d;
    }
    return out;
  }

  /**
   * Sends `requests` (method, path) on one connection to each gateway of the pair, then returns
   * per gateway how each series of `metrics` (name, a label its lines must hold) moved, once the
   * first moved as `expected`; the front must have served every request.
   */
  async function deltasAfter(
    metrics: readonly (readonly [string, string])[],
    requests: readonly (readonly [string, string])[],
    expected: Record<string, number>,
  ): Promise<Record<string, number>[][]> {
    const counted = (gateway: RunningGateway) =>
      Promise.all(metrics.map(([name, label]) => series(gateway, name, label)));
    const deltas: Record<string, number>[][] = [];
    for (const gateway of [fast, node]) {
      const before = await counted(gateway);
      const stats = frontStats(gateway);
      const connection = await RawConnection.open(gateway.port);
      try {
        for (const [method, path] of requests) {
          connection.send(`${method} ${path} HTTP/1.1\r\n${HOST}\r\n`, [method]);
          await connection.expectResponse();
        }
      } finally {
        connection.destroy();
      }
      deltas.push(
        await eventually(
          async () => {
            const d = (await counted(gateway)).map((after, i) => delta(after, before[i]!));
            expect(d[0]).toEqual(expected);
            return d;
          },
          { timeoutMs: 2_000 },
        ),
      );
      await expectFrontCounted(gateway, stats, 'fast', requests.length);
    }
    expect(deltas[0], 'the fast gateway counts what the node:http one counts').toEqual(deltas[1]);
    return deltas;
  }

  it('counts fast-path requests under their route as node:http does', async () => {
    const deltas = await deltasAfter(
      [
        ['flotilla_gateway_requests_total', 'route="metered"'],
        ['flotilla_gateway_request_duration_seconds_count', 'route="metered"'],
        ['flotilla_gateway_upstream_duration_seconds_count', `service="${up.url}"`],
      ],
      [
        ['GET', '/m/a'],
        ['GET', '/m/b'],
        ['GET', '/m/c?x=1'],
        ['GET', '/m/d'],
        ['HEAD', '/m/e'],
        ['GET', '/m/500'],
      ],
      {
        '{route="metered",method="GET",status="200"}': 4,
        '{route="metered",method="HEAD",status="200"}': 1,
        '{route="metered",method="GET",status="500"}': 1,
      },
    );
    expect(deltas[0]?.[1]).toEqual({ '{route="metered"}': 6 });
    expect(Object.values(deltas[0]?.[2] ?? {})).toEqual([6]);
  });

  it('counts a request no route matches under (none) and a bad path under nothing, as node:http does', async () => {
    // The bad path's 400 keeps the connection on the front as well: four requests served.
    const deltas = await deltasAfter(
      [
        ['flotilla_gateway_requests_total', ''],
        ['flotilla_gateway_request_duration_seconds_count', ''],
      ],
      [
        ['GET', '/nowhere'],
        ['OPTIONS', '/nowhere'],
        ['GET', '/t/%E0%A4%A'],
        ['HEAD', '/nowhere'],
      ],
      {
        '{route="(none)",method="GET",status="404"}': 1,
        '{route="(none)",method="OPTIONS",status="404"}': 1,
        '{route="(none)",method="HEAD",status="404"}': 1,
      },
    );
    expect(deltas[0]?.[1]).toEqual({ '{route="(none)"}': 3 });
  });

  it("exposes the front's own counters, equal to its stats (and nothing of them without the front)", async () => {
    const connection = await RawConnection.open(fast.port);
    try {
      connection.send(`GET /m/a HTTP/1.1\r\n${HOST}\r\n`, ['GET']);
      await connection.expectResponse();
    } finally {
      connection.destroy();
    }
    const value = (text: string, name: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`${name} `))
          ?.slice(name.length + 1),
      );
    const text = await (await fetch(`${fast.adminUrl}/metrics`)).text();
    const stats = frontStats(fast)!;
    expect(stats.served).toBeGreaterThan(0);
    expect(stats.handedOff).toBeGreaterThan(0);
    expect(value(text, 'flotilla_gateway_fast_path_requests_total')).toBe(stats.served);
    expect(value(text, 'flotilla_gateway_fast_path_handoffs_total')).toBe(stats.handedOff);
    const nodeText = await (await fetch(`${node.adminUrl}/metrics`)).text();
    expect(nodeText).not.toContain('flotilla_gateway_fast_path');
  });
});

describe('faults a review found', () => {
  it('answers 1000 pipelined requests whose deadline has passed, each with its 504', async () => {
    const request = `GET /e/a HTTP/1.1\r\n${HOST}x-flotilla-deadline: 1000\r\n\r\n`;
    for (const gateway of [fast, node]) {
      const connection = await RawConnection.open(gateway.port);
      try {
        connection.send(request.repeat(1000));
        const statuses = new Map<number, number>();
        for (let i = 0; i < 1000; i++) {
          const status = (await connection.expectResponse()).status;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
        expect(Object.fromEntries(statuses)).toEqual({ 504: 1000 });
      } finally {
        connection.destroy();
      }
    }
  });

  it('reads no more pipelined requests while the client does not read its answers, and loses none', async () => {
    // 1000 answers of 48 KiB, each whole when its head is written: without waiting for the
    // client, the front would answer all of them into its own memory (48 MB). The kernel's
    // socket buffers take a few MB before writes have to wait.
    const count = 1000;
    const before = frontStats(fast)!.served;
    const connection = await RawConnection.open(fast.port);
    try {
      connection.socket.pause();
      connection.send(`GET /e/medium HTTP/1.1\r\n${HOST}\r\n`.repeat(count));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(frontStats(fast)!.served - before).toBeLessThan(count / 2);
      connection.socket.resume();
      for (let i = 0; i < count; i++) {
        const response = await connection.expectResponse();
        expect([response.status, response.body.length]).toEqual([200, MEDIUM_BYTES]);
      }
      expect(frontStats(fast)!.served - before).toBe(count);
    } finally {
      connection.destroy();
    }
  });

  it('answers 502 when a feature header cannot be written, also while the body streams', async () => {
    // Route files cannot hold such a value (CORS header names are checked at load): the CORS
    // policy of both gateways is replaced to reach the defence behind that check.
    const restore: (() => void)[] = [];
    for (const gateway of [fast, node]) {
      const route = gateway.gateway.routes.find((r) => r.id === 'cors')!;
      const cors = gateway.gateway.featuresOf(route)!.cors!;
      const original = cors.headers;
      cors.headers = (req) => ({ ...original(req), 'access-control-expose-headers': 'x-a\u0001b' });
      restore.push(() => {
        cors.headers = original;
      });
    }
    try {
      for (const path of ['/c/echo', '/c/huge']) {
        const answers = [];
        for (const gateway of [fast, node]) {
          const connection = await RawConnection.open(gateway.port);
          try {
            connection.send(`GET ${path} HTTP/1.1\r\n${HOST}origin: https://app.example.com\r\n\r\n`);
            answers.push(outcome(await connection.response()));
          } finally {
            connection.destroy();
          }
        }
        expect(answers[0], path).toEqual(answers[1]);
        expect(answers[0], path).toMatchObject({ statusLine: 'HTTP/1.1 502 Bad Gateway' });
      }
    } finally {
      for (const undo of restore) undo();
    }
  });

  it('hands a partial head that cannot become valid to node:http at once (400, not the head timeout)', async () => {
    const connection = await RawConnection.open(fast.port);
    try {
      connection.send('GET /\x01x');
      expect((await connection.expectResponse()).status).toBe(400);
    } finally {
      connection.destroy();
    }
  });
});

describe('close', () => {
  it('resolves while a client holds an idle keep-alive connection, and closes it', async () => {
    for (const fastPath of [true, false]) {
      const gateway = await startMode(fastPath, { routes: routes() });
      const connection = await RawConnection.open(gateway.port);
      try {
        connection.send(`GET /e/echo HTTP/1.1\r\n${HOST}\r\n`);
        expect((await connection.expectResponse()).status).toBe(200);
        if (fastPath && frontStats(gateway)) expect(frontStats(gateway)!.connections).toBe(1);
        await gateway.close();
        await connection.whenClosed;
        expect(await connection.response(), 'nothing after the answer').toBe('closed');
        if (frontStats(gateway)) expect(frontStats(gateway)!.connections).toBe(0);
      } finally {
        connection.destroy();
        await gateway.close();
      }
    }
  }, 20_000);
});

// ---------------------------------------------------------------------------------------------
// Fuzz

const FUZZ_BASES = [
  `GET /e/fuzz?q=1 HTTP/1.1\r\n${HOST}x-a: 1\r\naccept: */*\r\n\r\n`,
  'GET /e/f/%7Ea HTTP/1.1\r\nHost: gw.test\r\nuser-agent: fuzz/1\r\nx-request-id: fuzz-1\r\nconnection: close\r\n\r\n',
  `HEAD /e/fuzz HTTP/1.1\r\n${HOST}accept-encoding: gzip\r\n\r\n`,
];
const SPECIAL = ['\r', '\n', '\0', ' ', '\t', ':'];

/** A valid head with one to three mutations, cut after its first CRLFCRLF (one head per case, none partial). */
function fuzzCase(random: () => number): string {
  const pick = (n: number) => Math.floor(random() * n);
  let text = FUZZ_BASES[pick(FUZZ_BASES.length)]!;
  const mutations = 1 + pick(3);
  for (let m = 0; m < mutations; m++) {
    const at = pick(text.length);
    switch (pick(6)) {
      case 0: // flip
        text =
          text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ (1 + pick(255))) + text.slice(at + 1);
        break;
      case 1: // insert a byte
        text = text.slice(0, at) + String.fromCharCode(pick(256)) + text.slice(at);
        break;
      case 2: // delete
        text = text.slice(0, at) + text.slice(at + 1);
        break;
      case 3: // insert CR, LF, NUL, space, tab or colon
        text = text.slice(0, at) + SPECIAL[pick(SPECIAL.length)]! + text.slice(at);
        break;
      case 4: {
        // duplicate a line
        const lines = text.split('\r\n');
        const i = pick(Math.max(1, lines.length - 2));
        lines.splice(i, 0, lines[i]!);
        text = lines.join('\r\n');
        break;
      }
      default: // truncate
        text = text.slice(0, Math.max(1, at));
    }
  }
  // A truncated head is completed so no case waits on the headers timeout; bytes after the first
  // head are cut so a pipelined garbage request cannot reorder node:http's answers.
  if (!text.includes('\r\n\r\n'))
    text += text.endsWith('\r\n') ? '\r\n' : text.endsWith('\r') ? '\n\r\n' : '\r\n\r\n';
  return text.slice(0, text.indexOf('\r\n\r\n') + 4);
}

/** Status of the first answer (with interim ones), `closed`, or `pending` when none came in 1.5 s. */
async function firstStatus(gateway: RunningGateway, bytes: string): Promise<string> {
  const answer = await firstAnswerWithin(gateway, bytes, [bytes.startsWith('HEAD ') ? 'HEAD' : 'GET']);
  return typeof answer === 'string' ? answer : [...answer.interim, answer.status].join(' ');
}

describe('fuzz (differential)', () => {
  it('300 mutated heads: the same status (or close) with and without the front, and no crash', async () => {
    const seed = 0xf1071a;
    const random = seeded(seed);
    const cases = Array.from({ length: 300 }, () => fuzzCase(random));
    const mismatches: string[] = [];
    const before = frontStats(fast);
    await inParallel(cases, 12, async (bytes, index) => {
      const [f, n] = await Promise.all([firstStatus(fast, bytes), firstStatus(node, bytes)]);
      if (f !== n)
        mismatches.push(`case ${index} (seed ${seed}) ${JSON.stringify(bytes)}: fast ${f}, node ${n}`);
    });
    expect(mismatches).toEqual([]);
    expectBothWaysTaken(fast, before);
    for (const gateway of [fast, node]) {
      const answer = answered(await exchange(gateway, `GET /e/after-fuzz HTTP/1.1\r\n${HOST}\r\n`));
      expect(answer.status).toBe(200);
    }
    await expectNoFrontConnections(fast);
  });
});

// Last, so the rest of the file runs while node:http's 30 s connections check comes round.
describe('timeouts, node:http side', () => {
  it('node:http answers a partial head with the same 408 as the front', async () => {
    const node408 = await Promise.all(nodePartials);
    node408.forEach((settled, i) => {
      if (!settled.ok) throw settled.error;
      const o = settled.value;
      expect(statusOf(o)).toBe(408);
      if (fastPartials[i] !== undefined) expect(fastPartials[i]).toEqual(o);
    });
  }, 45_000);
});

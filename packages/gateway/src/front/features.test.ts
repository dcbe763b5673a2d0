import { type AddressInfo, createServer } from 'node:net';
import { freePort, test } from '@flotilla/testkit';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../auth/api-keys.js';
import { decodePrincipal } from '../auth/principal.js';
import {
  answered,
  differential,
  echoOf,
  exchange,
  expectFrontCounted,
  expectNoFrontConnections,
  frontStats,
  outcome,
  type Path,
  statusOf,
} from '../fixtures/differential.js';
import {
  type BehaviourUpstream,
  HOST,
  headerOf,
  RawConnection,
  startBehaviourUpstream,
} from '../fixtures/front.js';
import { startTestGateway } from '../fixtures/gateway.js';
import { type ServedIssuer, serveIssuer } from '../fixtures/issuer.js';
import type { RouteDefinition } from '../routes/schema.js';
import type { RunningGateway } from '../start.js';
import type { DeadlineLists } from './deadlines.js';

/*
 * Routes with auth, a rate limit or CORS on the fast-path front: the front runs the same checks
 * as the node:http path (`Admission.access`) and must give the same answers, byte for byte after
 * normalizing, for every outcome: admitted, 401, 403, 429, a failed check (the cache's own
 * outcomes are in cache.test.ts).
 */

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const ORIGIN = 'https://app.example.com';
const now = () => Math.floor(Date.now() / 1000);

let up: BehaviourUpstream;
let idp: ServedIssuer;
let fast: RunningGateway;
let node: RunningGateway;
/** An ES256 token from the development issuer, with the route's scope. */
let token: string;

const routes = (): RouteDefinition[] => [
  {
    id: 'plays',
    match: { path: '/plays/*' },
    target: { url: up.url },
    auth: { jwt: { issuer: idp.url, audience: 'flotilla', jwksUrl: idp.jwksUrl, scopes: ['play:read'] } },
    // One token back every 3.6 s: both gateways of a pair count the same requests, and a refill
    // between two of them on one gateway and not the other (a loaded machine) is unlikely.
    rateLimit: { limit: 1000, period: '1h', key: 'client' },
    cors: { origins: [ORIGIN], exposeHeaders: ['x-request-id'] },
  },
  {
    id: 'hs',
    match: { path: '/hs/*' },
    target: { url: up.url },
    auth: { jwt: { issuer: 'https://issuer.test', audience: 'gw', secret: SECRET, scopes: ['play:read'] } },
  },
  {
    id: 'partners',
    match: { path: '/partners/*' },
    target: { url: up.url },
    auth: { apiKey: { keys: [{ hash: hashApiKey('k-123'), clientId: 'acme', scopes: ['feed:read'] }] } },
  },
  {
    id: 'open',
    match: { path: '/open/*' },
    target: { url: up.url },
    auth: { jwt: { issuer: 'https://issuer.test', audience: 'gw', secret: SECRET }, optional: true },
  },
  {
    id: 'limited',
    match: { path: '/limited/*' },
    target: { url: up.url },
    rateLimit: { limit: 1, period: '1h', key: 'header:x-client' },
  },
  // CORS alone: the answer's head gets the features' headers, with no limit whose count moves.
  { id: 'cors', match: { path: '/cors/*' }, target: { url: up.url }, cors: { origins: [ORIGIN] } },
  { id: 'cached', match: { path: '/cached/*' }, target: { url: up.url }, cache: { ttl: '1m' } },
  // A static answer behind auth and CORS: the same checks, answered by the front too.
  {
    id: 'config',
    match: { path: '/config' },
    static: { json: { theme: 'dark' } },
    auth: { jwt: { issuer: 'https://issuer.test', audience: 'gw', secret: SECRET } },
    cors: { origins: [ORIGIN] },
  },
  // A route whose upstream refuses: the 502 carries the route's CORS and RateLimit headers.
  {
    id: 'down',
    match: { path: '/down' },
    target: { url: 'http://127.0.0.1:9' },
    rateLimit: { limit: 1000, period: '1m', key: 'ip' },
    cors: { origins: [ORIGIN] },
  },
];

/** An HS256 token for the `hs` and `open` routes. */
function hsToken(claims: Record<string, unknown>, exp = now() + 600): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('https://issuer.test')
    .setAudience('gw')
    .setIssuedAt(now() - 10)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(SECRET));
}

beforeAll(async () => {
  up = await startBehaviourUpstream('up');
  idp = await serveIssuer();
  token = await idp.issuer.sign({ sub: 'alice', scope: 'play:read' });
  [fast, node] = await Promise.all([
    startTestGateway({ routes: routes(), fastPath: true }),
    startTestGateway({ routes: routes(), fastPath: false }),
  ]);
});

afterAll(async () => {
  await Promise.all([fast?.close(100), node?.close(100)]);
  await Promise.all([up?.close(), idp?.close()]);
});

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} ${path} HTTP/1.1\r\n${HOST}${lines.join('')}\r\n`;
}

interface Row {
  name: string;
  bytes: () => Promise<string> | string;
  path: Path;
  status: number;
  methods?: readonly string[];
  check?: (response: ReturnType<typeof answered>) => void;
}

const ROWS: Row[] = [
  {
    name: 'a valid ES256 token (JWKS): admitted, the principal sent upstream, CORS and RateLimit headers',
    bytes: () => get('/plays/echo', { authorization: `Bearer ${token}`, origin: ORIGIN }),
    path: 'fast',
    status: 200,
    check: (r) => {
      expect(decodePrincipal(echoOf(r).headers['x-flotilla-principal'])?.sub).toBe('alice');
      expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN);
      expect(headerOf(r, 'ratelimit-limit')).toBe('1000');
    },
  },
  {
    name: 'upstream headers named constructor and __proto__ on a CORS route: relayed',
    bytes: () => get('/cors/objectnames', { origin: ORIGIN }),
    path: 'fast',
    status: 200,
    check: (r) => {
      expect(headerOf(r, 'constructor')).toBe('x');
      expect(headerOf(r, '__proto__')).toBe('y');
      expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN);
    },
  },
  {
    name: 'HEAD with a valid token',
    bytes: () => get('/plays/echo', { authorization: `Bearer ${token}` }, 'HEAD'),
    methods: ['HEAD'],
    path: 'fast',
    status: 200,
  },
  {
    name: 'a POST with a body and a valid token: admitted, the body sent upstream',
    bytes: () =>
      `POST /plays/echo HTTP/1.1\r\n${HOST}authorization: Bearer ${token}\r\norigin: ${ORIGIN}\r\n` +
      'content-type: application/json\r\ncontent-length: 13\r\n\r\n{"title":"x"}',
    methods: ['POST'],
    path: 'fast',
    status: 200,
    check: (r) => {
      expect(echoOf(r)).toMatchObject({ method: 'POST', body: '{"title":"x"}' });
      expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN);
    },
  },
  {
    name: 'a POST with a body and no credential: 401',
    bytes: () => `POST /plays/echo HTTP/1.1\r\n${HOST}content-length: 13\r\n\r\n{"title":"x"}`,
    methods: ['POST'],
    path: 'fast',
    status: 401,
  },
  {
    name: 'a static route behind auth, without a token: 401 with the CORS headers',
    bytes: () => get('/config', { origin: ORIGIN }),
    path: 'fast',
    status: 401,
    check: (r) => expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN),
  },
  {
    name: 'a static route behind auth, with a token: its answer with the CORS headers',
    bytes: async () =>
      get('/config', { origin: ORIGIN, authorization: `Bearer ${await hsToken({ sub: 'bob' })}` }),
    path: 'fast',
    status: 200,
    check: (r) => {
      expect(JSON.parse(r.body.toString())).toEqual({ theme: 'dark' });
      expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN);
    },
  },
  {
    name: "a preflight to a static route: the policy's 204",
    bytes: () => get('/config', { origin: ORIGIN, 'access-control-request-method': 'GET' }, 'OPTIONS'),
    path: 'fast',
    status: 204,
  },
  // CORS preflights: answered before authentication (a browser sends them without credentials).
  {
    name: 'a CORS preflight: 204 with the policy',
    bytes: () =>
      get(
        '/plays/echo',
        {
          origin: ORIGIN,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'Authorization',
        },
        'OPTIONS',
      ),
    path: 'fast',
    status: 204,
    check: (r) => {
      expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN);
      expect(headerOf(r, 'access-control-allow-headers')).toBe('authorization');
      expect(r.body.length).toBe(0);
    },
  },
  {
    name: 'a CORS preflight from an origin not allowed: 403',
    bytes: () =>
      get(
        '/plays/echo',
        { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
        'OPTIONS',
      ),
    path: 'fast',
    status: 403,
    check: (r) => expect(JSON.parse(r.body.toString()).code).toBe('CORS_REJECTED'),
  },
  {
    name: 'a CORS preflight for a method not allowed: 403',
    bytes: () =>
      get('/cors/echo', { origin: ORIGIN, 'access-control-request-method': 'PROPFIND' }, 'OPTIONS'),
    path: 'fast',
    status: 403,
  },
  {
    name: 'an OPTIONS with Origin but no Access-Control-Request-Method: not a preflight, checked (401)',
    bytes: () => get('/plays/echo', { origin: ORIGIN }, 'OPTIONS'),
    path: 'fast',
    status: 401,
  },
  {
    name: 'an OPTIONS that is not a preflight on a CORS route: proxied with the CORS headers',
    bytes: () => get('/cors/echo', { origin: ORIGIN }, 'OPTIONS'),
    path: 'fast',
    status: 200,
    check: (r) => {
      expect(echoOf(r).method).toBe('OPTIONS');
      expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN);
    },
  },
  {
    name: 'no credential: 401 with WWW-Authenticate and the CORS headers',
    bytes: () => get('/plays/echo', { origin: ORIGIN }),
    path: 'fast',
    status: 401,
    check: (r) => {
      expect(headerOf(r, 'www-authenticate')).toMatch(/^Bearer /);
      expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN);
    },
  },
  {
    name: 'a token that is not a JWT: 401',
    bytes: () => get('/plays/echo', { authorization: 'Bearer not.a.jwt' }),
    path: 'fast',
    status: 401,
  },
  {
    name: 'an Authorization header that is not a bearer token: 401',
    bytes: () => get('/plays/echo', { authorization: 'Basic YWxpY2U6c2VjcmV0' }),
    path: 'fast',
    status: 401,
  },
  {
    name: 'an HS256 token without the scope: 403',
    bytes: async () =>
      get('/hs/echo', { authorization: `Bearer ${await hsToken({ sub: 'bob', scope: 'x' })}` }),
    path: 'fast',
    status: 403,
    check: (r) => expect(headerOf(r, 'www-authenticate')).toContain('insufficient_scope'),
  },
  {
    name: 'an expired HS256 token: 401',
    bytes: async () =>
      get('/hs/echo', {
        authorization: `Bearer ${await hsToken({ sub: 'bob', scope: 'play:read' }, now() - 3600)}`,
      }),
    path: 'fast',
    status: 401,
  },
  {
    name: 'a valid HS256 token, and a principal header the client forged is replaced',
    bytes: async () =>
      get('/hs/echo', {
        authorization: `Bearer ${await hsToken({ sub: 'bob', scope: 'play:read' })}`,
        'x-flotilla-principal': 'eyJzdWIiOiJtYWxsb3J5In0',
      }),
    path: 'fast',
    status: 200,
    check: (r) => expect(decodePrincipal(echoOf(r).headers['x-flotilla-principal'])?.sub).toBe('bob'),
  },
  {
    name: 'an optional route without a credential: admitted anonymously, a forged principal dropped',
    bytes: () => get('/open/echo', { 'x-flotilla-principal': 'eyJzdWIiOiJtYWxsb3J5In0' }),
    path: 'fast',
    status: 200,
    check: (r) => expect(echoOf(r).headers['x-flotilla-principal']).toBeUndefined(),
  },
  {
    name: 'a valid API key',
    bytes: () => get('/partners/echo', { 'x-api-key': 'k-123' }),
    path: 'fast',
    status: 200,
    check: (r) => expect(decodePrincipal(echoOf(r).headers['x-flotilla-principal'])?.client_id).toBe('acme'),
  },
  {
    name: 'a wrong API key: 401',
    bytes: () => get('/partners/echo', { 'x-api-key': 'k-999' }),
    path: 'fast',
    status: 401,
  },
  {
    name: 'a cached route',
    bytes: () => get('/cached/echo'),
    path: 'fast',
    status: 200,
  },
  {
    name: 'an upstream that refuses: 502 with the CORS and RateLimit headers',
    bytes: () => get('/down', { origin: ORIGIN }),
    path: 'fast',
    status: 502,
    check: (r) => {
      expect(headerOf(r, 'access-control-allow-origin')).toBe(ORIGIN);
      expect(headerOf(r, 'ratelimit-limit')).toBe('1000');
    },
  },
];

describe('differential: routes with auth, rate limit and CORS', () => {
  for (const row of ROWS) {
    it(`${row.path === 'fast' ? 'fast' : 'handed off'}: ${row.name}`, async () => {
      const answers = await differential({ fast, node }, await row.bytes(), {
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

  it('fast: the second request of a client over its limit gets the same 429 as on node:http', async () => {
    const bytes = get('/limited/echo', { 'x-client': `c-${Date.now()}` });
    const first = await differential({ fast, node }, bytes, { path: 'fast', status: 200 });
    expect(headerOf(answered(first.fast), 'ratelimit-remaining')).toBe('0');
    const second = await differential({ fast, node }, bytes, { path: 'fast', status: 429 });
    const refused = answered(second.fast);
    expect(headerOf(refused, 'retry-after')).toBe('3600');
    expect(JSON.parse(refused.body.toString()).code).toBe('RATE_LIMITED');
  });
});

describe('metrics on the front', () => {
  it('counts refusals by the rate limit under the route, as node:http does', async () => {
    const counted = async (gateway: RunningGateway) => {
      const text = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
      return Number(/flotilla_gateway_rate_limited_total\{route="limited"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const [fastBefore, nodeBefore] = [await counted(fast), await counted(node)];
    const bytes = get('/limited/echo', { 'x-client': `m-${Date.now()}` });
    await differential({ fast, node }, bytes, { path: 'fast', status: 200 });
    await differential({ fast, node }, bytes, { path: 'fast', status: 429 });
    await differential({ fast, node }, bytes, { path: 'fast', status: 429 });
    expect(await counted(fast)).toBe(fastBefore + 2);
    expect(await counted(node)).toBe(nodeBefore + 2);
  });
});

describe("a browser's connection", () => {
  it('stays on the front through a preflight, a 404, a refusal and an authenticated call', async () => {
    const before = frontStats(fast);
    const connection = await RawConnection.open(fast.port);
    const sequence: [string, string, number][] = [
      [
        'OPTIONS',
        get('/plays/echo', { origin: ORIGIN, 'access-control-request-method': 'GET' }, 'OPTIONS'),
        204,
      ],
      ['GET', get('/favicon.ico', { origin: ORIGIN }), 404],
      ['GET', get('/plays/echo', { origin: ORIGIN }), 401],
      ['GET', get('/plays/echo', { origin: ORIGIN, authorization: `Bearer ${token}` }), 200],
    ];
    try {
      for (const [method, bytes, status] of sequence) {
        connection.send(bytes, [method]);
        expect((await connection.expectResponse()).status, `${method} answered`).toBe(status);
      }
    } finally {
      connection.destroy();
    }
    await expectFrontCounted(fast, before, 'fast', sequence.length);
  });
});

describe('pipelining with checks that finish later', () => {
  it('answers a refused, an admitted and a refused request written at once, in order', async () => {
    const bytes =
      get('/plays/echo') +
      get('/plays/echo?n=2', { authorization: `Bearer ${token}` }) +
      get('/plays/echo?n=3');
    const before = frontStats(fast);
    const connection = await RawConnection.open(fast.port);
    try {
      connection.send(bytes, ['GET', 'GET', 'GET']);
      const statuses: number[] = [];
      const urls: string[] = [];
      for (let i = 0; i < 3; i++) {
        const response = answered(await connection.response());
        statuses.push(Number(response.statusLine.split(' ')[1]));
        if (response.statusLine.includes(' 200 ')) urls.push(echoOf(response).url);
      }
      expect(statuses).toEqual([401, 200, 401]);
      expect(urls).toEqual(['/plays/echo?n=2']);
    } finally {
      connection.destroy();
    }
    await expectFrontCounted(fast, before, 'fast', 3);
  });
});

describe('a rate limit shared through Redis, on the front', () => {
  test('admits and refuses as on node:http', async ({ redis }) => {
    const shared: RouteDefinition[] = [
      {
        id: 'shared',
        match: { path: '/shared/*' },
        target: { url: up.url },
        rateLimit: { limit: 2, period: '1h', key: 'header:x-client', store: 'redis' },
      },
    ];
    const options = { routes: shared, redisUrl: redis.url, redisPrefix: redis.prefix };
    const [a, b] = await Promise.all([
      startTestGateway({ ...options, fastPath: true }),
      startTestGateway({ ...options, fastPath: false }),
    ]);
    try {
      // Each gateway counts against the same Redis key: two clients, so the pair sees the same counts.
      const statuses: (number | 'closed')[][] = [];
      for (let i = 0; i < 3; i++) {
        const [fa, na] = await Promise.all([
          statusOnce(a, get('/shared/echo', { 'x-client': 'fast-side' })),
          statusOnce(b, get('/shared/echo', { 'x-client': 'node-side' })),
        ]);
        statuses.push([fa, na]);
      }
      expect(statuses).toEqual([
        [200, 200],
        [200, 200],
        [429, 429],
      ]);
      expect(frontStats(a)?.served).toBe(3);
    } finally {
      await Promise.all([a.close(100), b.close(100)]);
    }
  });

  it('answers 503 on both paths when Redis is unreachable and the limit fails closed', async () => {
    const routes: RouteDefinition[] = [
      {
        id: 'closed',
        match: { path: '/closed/*' },
        target: { url: up.url },
        rateLimit: { limit: 5, period: '1s', key: 'ip', store: 'redis', failOpen: false },
        cors: { origins: [ORIGIN] },
      },
    ];
    const options = { routes, redisUrl: `redis://127.0.0.1:${await freePort()}` };
    const [a, b] = await Promise.all([
      startTestGateway({ ...options, fastPath: true }),
      startTestGateway({ ...options, fastPath: false }),
    ]);
    try {
      const answers = await differential({ fast: a, node: b }, get('/closed/echo', { origin: ORIGIN }), {
        path: 'fast',
        status: 503,
      });
      const refused = answered(answers.fast);
      expect(headerOf(refused, 'access-control-allow-origin')).toBe(ORIGIN);
      expect(JSON.parse(refused.body.toString()).code).toBe('UNAVAILABLE');
    } finally {
      await Promise.all([a.close(100), b.close(100)]);
    }
  });
});

/** The status of one request on a new connection. */
async function statusOnce(gateway: RunningGateway, bytes: string): Promise<number | 'closed'> {
  return statusOf(outcome(await exchange(gateway, bytes)));
}

describe('a Redis that accepts and never answers', () => {
  it.each([
    [false, 503],
    [true, 200],
  ])(
    'fails the check after the command timeout (failOpen %s: %i) on both paths',
    async (failOpen, status) => {
      const silent = createServer((socket) => socket.on('data', () => {}));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const routes: RouteDefinition[] = [
        {
          id: 'silent',
          match: { path: '/silent/*' },
          target: { url: up.url },
          rateLimit: { limit: 5, period: '1s', key: 'ip', store: 'redis', failOpen },
        },
      ];
      const options = { routes, redisUrl: `redis://127.0.0.1:${(silent.address() as AddressInfo).port}` };
      const [a, b] = await Promise.all([
        startTestGateway({ ...options, fastPath: true }),
        startTestGateway({ ...options, fastPath: false }),
      ]);
      try {
        await differential({ fast: a, node: b }, get('/silent/echo'), { path: 'fast', status });
      } finally {
        await Promise.all([a.close(100), b.close(100)]);
        silent.close();
      }
    },
  );
});

describe('a fault of the gateway itself after the check', () => {
  it('drops the connection on the front (forgetting the request) and answers 500 on node:http, with no unhandled rejection', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const faulty: RouteDefinition[] = [
      {
        id: 'faulty',
        match: { path: '/faulty/*' },
        target: { url: up.url },
        timeout: '30s',
        auth: { jwt: { issuer: 'https://issuer.test', audience: 'gw', secret: SECRET } },
      },
    ];
    const [a, b] = await Promise.all([
      startTestGateway({ routes: faulty, fastPath: true }),
      startTestGateway({ routes: faulty, fastPath: false }),
    ]);
    try {
      for (const gateway of [a, b]) {
        // A bug stands in for any: building the upstream path throws once the request is admitted.
        gateway.gateway.upstreamPath = () => {
          throw new Error('a bug in the gateway');
        };
      }
      const bytes = get('/faulty/echo', { authorization: `Bearer ${await hsToken({ sub: 'bob' })}` });
      const [onFront, onNode] = await Promise.all([exchange(a, bytes), exchange(b, bytes)]);
      expect(onFront).toBe('closed');
      expect(statusOf(outcome(onNode))).toBe(500);
      await expectNoFrontConnections(a);
      const lists = (a.front as unknown as { deadlines: DeadlineLists }).deadlines;
      expect(lists.of(30_000).empty, 'the dropped request left the deadline list').toBe(true);
      await new Promise((resolve) => setImmediate(resolve));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
      await Promise.all([a.close(100), b.close(100)]);
    }
  });
});

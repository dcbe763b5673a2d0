import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from './fixtures/gateway.js';
import { type Echo, startEcho, startUpstream, type TestUpstream } from './fixtures/upstream.js';
import type { RouteDefinition } from './routes/schema.js';
import type { RunningGateway } from './start.js';

let echo: TestUpstream;
let slow: TestUpstream;
let failing: TestUpstream;
let gw: RunningGateway;

const routes = (): RouteDefinition[] => [
  {
    id: 'ping',
    match: { path: '/ping' },
    static: { status: 200, headers: { 'x-static': 'yes' }, body: 'pong' },
  },
  { id: 'old', match: { path: '/old/:id' }, redirect: { to: '/new/:id', status: 301 } },
  {
    id: 'beta',
    match: { path: '/api/*', headers: { 'x-beta': '1' } },
    target: { url: echo.url },
    requestHeaders: { set: { 'x-route': 'beta' } },
  },
  {
    id: 'v2',
    match: { path: '/api/*', query: { v: '2' } },
    target: { url: echo.url },
    requestHeaders: { set: { 'x-route': 'v2' } },
  },
  {
    id: 'host',
    match: { path: '/api/*', host: 'api.example.com' },
    target: { url: echo.url },
    requestHeaders: { set: { 'x-route': 'host' } },
  },
  {
    id: 'posts',
    match: { path: '/api/*', methods: ['POST', 'PUT'] },
    target: { url: echo.url },
    requestHeaders: { set: { 'x-route': 'posts' } },
    maxBodySize: 1024,
  },
  {
    id: 'api',
    match: { path: '/api/*' },
    target: { url: echo.url },
    rewrite: { stripPrefix: '/api' },
    requestHeaders: { set: { 'x-route': 'api' }, remove: ['x-drop-me'] },
    responseHeaders: { set: { 'x-served-by': 'gateway' }, remove: ['x-upstream'] },
    timeout: '5s',
  },
  {
    id: 'titles',
    match: { path: '/titles/:id' },
    target: { url: `${echo.url}/v1` },
    rewrite: { path: '/catalog/titles/:id' },
  },
  { id: 'slow', match: { path: '/slow' }, target: { url: slow.url }, timeout: '200ms' },
  {
    id: 'broken',
    match: { path: '/broken' },
    target: { url: failing.url },
    circuitBreaker: {
      failureRateThreshold: 50,
      minimumNumberOfCalls: 2,
      slidingWindowSize: 2,
      waitDurationInOpenState: '1m',
    },
  },
  { id: 'down', match: { path: '/down' }, target: { url: 'http://127.0.0.1:1' } },
  {
    id: 'down-fallback',
    match: { path: '/down-with-fallback' },
    target: { url: 'http://127.0.0.1:1' },
    fallback: { status: 200, json: { items: [] } },
  },
];

beforeAll(async () => {
  echo = await startEcho('a');
  slow = await startUpstream((_req, res) => {
    const t = setTimeout(() => res.end('late'), 5_000);
    res.on('close', () => clearTimeout(t));
  });
  failing = await startUpstream((_req, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('boom');
  });
  gw = await startTestGateway({
    routes: routes(),
    maxHeaderSize: 4096,
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([echo?.close(), slow?.close(), failing?.close()]);
});

async function echoOf(response: Response): Promise<Echo> {
  expect(response.status).toBe(200);
  return (await response.json()) as Echo;
}

describe('the gateway proxies', () => {
  it('a GET to the upstream with the prefix stripped and the route headers applied', async () => {
    const response = await fetch(`${gw.url}/api/items?x=1`, { headers: { 'x-drop-me': '1' } });
    const seen = await echoOf(response);
    expect(seen.url).toBe('/items?x=1');
    expect(seen.headers['x-route']).toBe('api');
    expect(seen.headers['x-drop-me']).toBeUndefined();
    expect(response.headers.get('x-served-by')).toBe('gateway');
    expect(response.headers.get('x-upstream')).toBeNull();
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('a POST with a streamed body', async () => {
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('hello '));
        controller.enqueue(new TextEncoder().encode('world'));
        controller.close();
      },
    });
    const response = await fetch(`${gw.url}/api/things`, {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit);
    const seen = await echoOf(response);
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('hello world');
    expect(seen.headers['x-route']).toBe('posts');
  });

  it('a path rewritten from params onto a URL target with a base path', async () => {
    const seen = await echoOf(await fetch(`${gw.url}/titles/a%20b`));
    expect(seen.url).toBe('/v1/catalog/titles/a%20b');
  });
});

describe('the gateway sets headers', () => {
  it('removes hop-by-hop headers both ways, including those named in Connection', async () => {
    const seen = await new Promise<{ echo: Echo; headers: Record<string, unknown> }>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/api/hop`, {
        headers: {
          connection: 'keep-alive, x-secret-hop',
          'x-secret-hop': '1',
          'keep-alive': 'timeout=5',
          te: 'trailers',
          'proxy-authorization': 'x',
        },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ echo: JSON.parse(text) as Echo, headers: res.headers }));
      });
      req.on('error', reject);
      req.end();
    });
    for (const name of ['x-secret-hop', 'keep-alive', 'te', 'proxy-authorization'])
      expect(seen.echo.headers[name]).toBeUndefined();
    expect(seen.headers['x-upstream-hop']).toBeUndefined();
  });

  it('appends X-Forwarded-For/Proto/Host', async () => {
    const seen = await echoOf(
      await fetch(`${gw.url}/api/fwd`, { headers: { 'x-forwarded-for': '203.0.113.9' } }),
    );
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(gw.url).host);
  });

  it('keeps a valid request id, echoes it, and replaces an invalid one', async () => {
    const kept = await fetch(`${gw.url}/api/id`, { headers: { 'x-request-id': 'abc-123' } });
    expect((await echoOf(kept)).headers['x-request-id']).toBe('abc-123');
    expect(kept.headers.get('x-request-id')).toBe('abc-123');
    const replaced = await fetch(`${gw.url}/api/id`, { headers: { 'x-request-id': 'has spaces in it' } });
    const id = replaced.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await echoOf(replaced)).headers['x-request-id']).toBe(id);
  });

  it('continues a trace with a new span id, or starts one', async () => {
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const continued = (await echoOf(await fetch(`${gw.url}/api/t`, { headers: { traceparent: parent } })))
      .headers.traceparent as string;
    expect(continued).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(continued).not.toBe(parent);
    const started = (await echoOf(await fetch(`${gw.url}/api/t`))).headers.traceparent;
    expect(started).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('sends the route deadline, which a client deadline may shorten but never extend', async () => {
    const before = Date.now();
    const plain = Number((await echoOf(await fetch(`${gw.url}/api/d`))).headers['x-flotilla-deadline']);
    expect(plain).toBeGreaterThanOrEqual(before + 5_000 - 1);
    expect(plain).toBeLessThanOrEqual(Date.now() + 5_000);
    const sooner = before + 1_000;
    const shortened = (
      await echoOf(await fetch(`${gw.url}/api/d`, { headers: { 'x-flotilla-deadline': String(sooner) } }))
    ).headers;
    expect(Number(shortened['x-flotilla-deadline'])).toBe(sooner);
    const later = Date.now() + 3_600_000;
    const extended = (
      await echoOf(await fetch(`${gw.url}/api/d`, { headers: { 'x-flotilla-deadline': String(later) } }))
    ).headers;
    expect(Number(extended['x-flotilla-deadline'])).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  it('strips x-flotilla-principal from client requests', async () => {
    const seen = await echoOf(
      await fetch(`${gw.url}/api/p`, { headers: { 'x-flotilla-principal': 'eyJzdWIiOiJhZG1pbiJ9' } }),
    );
    expect(seen.headers['x-flotilla-principal']).toBeUndefined();
  });
});

describe('routes match on', () => {
  it('a header', async () => {
    expect(
      (await echoOf(await fetch(`${gw.url}/api/m`, { headers: { 'x-beta': '1' } }))).headers['x-route'],
    ).toBe('beta');
  });
  it('a query parameter', async () => {
    expect((await echoOf(await fetch(`${gw.url}/api/m?v=2`))).headers['x-route']).toBe('v2');
  });
  it('the host', async () => {
    const seen = await new Promise<Echo>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/api/m`, { headers: { host: 'api.example.com:8080' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(JSON.parse(text) as Echo));
      });
      req.on('error', reject);
      req.end();
    });
    expect(seen.headers['x-route']).toBe('host');
  });
  it('the method, falling through to the next route otherwise', async () => {
    expect(
      (await echoOf(await fetch(`${gw.url}/api/m`, { method: 'PUT', body: 'x' }))).headers['x-route'],
    ).toBe('posts');
    expect((await echoOf(await fetch(`${gw.url}/api/m`, { method: 'DELETE' }))).headers['x-route']).toBe(
      'api',
    );
  });
  it('nothing: 404 problem+json', async () => {
    const response = await fetch(`${gw.url}/nowhere`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(((await response.json()) as { code: string }).code).toBe('ROUTE_NOT_FOUND');
  });
});

describe('routes answer by themselves', () => {
  it('with a static response', async () => {
    const response = await fetch(`${gw.url}/ping`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-static')).toBe('yes');
    expect(await response.text()).toBe('pong');
  });
  it('with a redirect that carries params and the query', async () => {
    const response = await fetch(`${gw.url}/old/42?a=b`, { redirect: 'manual' });
    expect(response.status).toBe(301);
    expect(response.headers.get('location')).toBe('/new/42?a=b');
  });
});

describe('upstream failures become problems', () => {
  it('504 when the upstream misses the deadline', async () => {
    const response = await fetch(`${gw.url}/slow`);
    expect(response.status).toBe(504);
    expect(((await response.json()) as { code: string }).code).toBe('GATEWAY_TIMEOUT');
  });
  it('502 when the upstream is down', async () => {
    const response = await fetch(`${gw.url}/down`);
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });
  it('the route fallback when the upstream fails and a fallback is declared', async () => {
    const response = await fetch(`${gw.url}/down-with-fallback`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ items: [] });
  });
  it('503 once the breaker opened, after relaying the upstream 500s that opened it', async () => {
    expect((await fetch(`${gw.url}/broken`)).status).toBe(500);
    expect((await fetch(`${gw.url}/broken`)).status).toBe(500);
    const response = await fetch(`${gw.url}/broken`);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { code: string }).code).toBe('CIRCUIT_OPEN');
    const upstreams = (await (await fetch(`${gw.adminUrl}/upstreams`)).json()) as {
      upstreams: { upstream: string; breaker?: { state: string } }[];
    };
    expect(upstreams.upstreams.find((u) => u.upstream === failing.url)?.breaker?.state).toBe('OPEN');
  });
});

describe('limits', () => {
  it('413 for a body over the route limit, announced by Content-Length', async () => {
    const response = await fetch(`${gw.url}/api/big`, { method: 'POST', body: 'x'.repeat(2048) });
    expect(response.status).toBe(413);
  });
  it('413 for a chunked body that grows over the limit while streaming', async () => {
    const body = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(512));
        controller.close();
      },
    });
    const response = await fetch(`${gw.url}/api/big`, {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
  });
  it('431 for a request head over the limit', async () => {
    const response = await fetch(`${gw.url}/api/h`, { headers: { 'x-huge': 'y'.repeat(8192) } });
    expect(response.status).toBe(431);
  });
});

describe('the admin API', () => {
  it('serves health, routes and metrics', async () => {
    expect(await (await fetch(`${gw.adminUrl}/health`)).json()).toEqual({ status: 'UP' });
    const listed = (await (await fetch(`${gw.adminUrl}/routes`)).json()) as {
      routes: { id: string }[];
      lastError: unknown;
    };
    expect(listed.routes.map((r) => r.id)).toContain('api');
    expect(listed.lastError).toBeNull();
    await fetch(`${gw.url}/ping`);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toContain('flotilla_gateway_requests_total{route="ping",method="GET",status="200"}');
    expect(metrics).toContain('flotilla_gateway_upstream_duration_seconds_bucket');
    expect(metrics).toContain('flotilla_resilience_circuit_state');
  });
});

/** Sends raw bytes and returns what the gateway answered before closing. */
function raw(url: string, bytes: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('data', (c) => (text += c));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('bad input', () => {
  it('gets 400 problem+json for a request that is not HTTP', async () => {
    const answer = await raw(gw.url, 'HELLO THERE\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('application/problem+json');
  });
  it('gets 400 for a path with broken percent-encoding', async () => {
    const answer = await raw(gw.url, 'GET /titles/%E0%A4%A HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 (400|404) /);
  });
  it('gets 400 for an absolute-form target', async () => {
    const answer = await raw(
      gw.url,
      'GET http://elsewhere/ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });
  it('never crashes on random bytes', async () => {
    for (let i = 0; i < 20; i++) {
      const noise = Array.from({ length: 64 }, () =>
        String.fromCharCode(Math.floor(Math.random() * 256)),
      ).join('');
      await raw(gw.url, `GET /api/${noise} HTTP/1.1\r\nhost: ${noise}\r\nconnection: close\r\n\r\n`).catch(
        () => '',
      );
    }
    expect((await fetch(`${gw.url}/ping`)).status).toBe(200);
  });
});

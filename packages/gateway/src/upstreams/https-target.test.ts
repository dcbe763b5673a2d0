import type { IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from '../fixtures/gateway.js';
import { createTestCa, type TestCa, type TestCertificate } from '../fixtures/tls.js';
import type { RouteDefinition } from '../routes/schema.js';
import type { RunningGateway } from '../start.js';

// Real TLS upstreams with certificates from a throwaway CA, behind gateways that do and do not
// trust it (`upstreamCa`).

let ca: TestCa;
let good: Served;
let wrongName: Served;
let plain: { server: ReturnType<typeof createHttpServer>; port: number };
let trusting: RunningGateway;
let untrusting: RunningGateway;

interface Served {
  server: Server;
  port: number;
  /** TLS connections accepted so far. */
  connections: number;
  /** Headers of the last request. */
  last?: IncomingHttpHeaders;
}

async function serveTls(certificate: TestCertificate): Promise<Served> {
  const served: Served = { server: undefined as unknown as Server, port: 0, connections: 0 };
  served.server = createServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
    served.last = req.headers;
    if (req.url === '/slow') {
      const timer = setTimeout(() => res.end('late'), 2_000);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const timer = setInterval(() => {
        res.write(`part ${n}\n`);
        if (++n === 5) {
          clearInterval(timer);
          res.end();
        }
      }, 20);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-path': req.url ?? '' });
      res.end(req.method === 'POST' ? body : 'hello over tls');
    });
  });
  served.server.on('secureConnection', () => served.connections++);
  await new Promise<void>((resolve) => served.server.listen(0, '127.0.0.1', resolve));
  served.port = (served.server.address() as AddressInfo).port;
  return served;
}

function routesTo(): RouteDefinition[] {
  return [
    {
      id: 'good',
      match: { path: '/good/*' },
      target: { url: `https://localhost:${good.port}` },
      rewrite: { stripPrefix: '/good' },
    },
    {
      id: 'slow',
      match: { path: '/slow' },
      target: { url: `https://localhost:${good.port}` },
      timeout: '300ms',
    },
    {
      id: 'wrong-name',
      match: { path: '/wrong-name' },
      target: { url: `https://localhost:${wrongName.port}` },
    },
    { id: 'not-tls', match: { path: '/not-tls' }, target: { url: `https://127.0.0.1:${plain.port}` } },
  ];
}

beforeAll(async () => {
  ca = createTestCa();
  good = await serveTls(ca.issue(['localhost', '127.0.0.1']));
  wrongName = await serveTls(ca.issue(['other.example']));
  const server = createHttpServer((_req, res) => res.end('plain http'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  plain = { server, port: (server.address() as AddressInfo).port };
  trusting = await startTestGateway({ routes: routesTo(), upstreamCa: ca.cert });
  untrusting = await startTestGateway({ routes: routesTo() });
});

afterAll(async () => {
  await trusting?.close();
  await untrusting?.close();
  for (const s of [good?.server, wrongName?.server, plain?.server]) {
    s?.closeAllConnections();
    await new Promise((resolve) => s?.close(resolve));
  }
  ca?.close();
});

/** Checks a 502 BAD_GATEWAY problem whose detail matches `reason`. */
async function expectBadGateway(response: Response, reason: RegExp): Promise<void> {
  expect(response.status).toBe(502);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const problem = (await response.json()) as { code: string; detail: string };
  expect(problem.code).toBe('BAD_GATEWAY');
  expect(problem.detail).toMatch(reason);
}

describe('https: URL targets', () => {
  it('proxies to an upstream whose certificate chains to upstreamCa, with its own host name', async () => {
    const response = await fetch(`${trusting.url}/good/hello?x=1`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello over tls');
    expect(response.headers.get('x-path')).toBe('/hello?x=1');
    expect(good.last?.host).toBe(`localhost:${good.port}`);
    expect(good.last?.['x-forwarded-proto']).toBe('http');
    expect(good.last?.['x-request-id']).toBeTruthy();
  });

  it('streams a request body up and the answer back', async () => {
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const response = await fetch(`${trusting.url}/good/echo`, { method: 'POST', body });
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
  });

  it('relays a response that arrives in parts as it arrives', async () => {
    const response = await fetch(`${trusting.url}/good/stream`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('part 0\npart 1\npart 2\npart 3\npart 4\n');
  });

  it('keeps the TLS connection alive between requests', async () => {
    await fetch(`${trusting.url}/good/warm`).then((r) => r.text());
    const before = good.connections;
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${trusting.url}/good/again-${i}`);
      expect(await response.text()).toBe('hello over tls');
    }
    expect(good.connections).toBe(before);
  });

  it('answers 504 at the deadline of a slow TLS upstream', async () => {
    const response = await fetch(`${trusting.url}/slow`);
    expect(response.status).toBe(504);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(((await response.json()) as { code: string }).code).toBe('GATEWAY_TIMEOUT');
  });

  it('answers 502 when the certificate does not chain to a trusted CA', async () => {
    await expectBadGateway(await fetch(`${untrusting.url}/good/hello`), /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  });

  it('answers 502 when the certificate names another host', async () => {
    await expectBadGateway(await fetch(`${trusting.url}/wrong-name`), /ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('answers 502 when the upstream does not speak TLS', async () => {
    await expectBadGateway(await fetch(`${trusting.url}/not-tls`), /Upstream .* failed/);
  });

  it('refuses an upstreamCa without certificates, or with one that does not parse, at start', async () => {
    const start = (upstreamCa: string) =>
      startTestGateway({
        upstreamCa,
      });
    await expect(start('not a certificate')).rejects.toThrow(/upstreamCa should hold PEM certificates/);
    const broken = `${ca.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`;
    await expect(start(broken)).rejects.toThrow(/upstreamCa: certificate 2 of 2 does not parse/);
  });

  it('trusts the public roots as well as upstreamCa', async () => {
    const { tlsOptionsFor } = await import('./upstreams.js');
    const { rootCertificates } = await import('node:tls');
    const ca = tlsOptionsFor('extra CA PEM')?.ca as string[];
    expect(ca).toHaveLength(rootCertificates.length + 1);
    expect(ca.at(-1)).toBe('extra CA PEM');
    expect(tlsOptionsFor(undefined)).toBeUndefined();
  });
});

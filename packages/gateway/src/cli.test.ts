import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually, freePorts, makeTempDir, test } from '@flotilla/testkit';
import { describe, expect } from 'vitest';
import { createTestCa } from './fixtures/tls.js';

// These tests run the built CLI (`npx tsc -b packages/gateway packages/cli` first), as an operator would.
const bin = fileURLToPath(new URL('../../cli/bin/flotilla.mjs', import.meta.url));

/** GET over a connection of its own; `worker` is the answering worker's number (`x-worker` header). */
function getNewConnection(url: string): Promise<{ body: string; worker: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ body, worker: String(res.headers['x-worker']) }));
    }).on('error', reject);
  });
}

/** `flotilla gateway` on `port` and `adminPort` with a routes file, then `extra`. */
function gatewayArgs(
  port: number | undefined,
  adminPort: number | undefined,
  file: string,
  ...extra: string[]
): string[] {
  return [
    bin,
    'gateway',
    '--port',
    String(port),
    '--admin-port',
    String(adminPort),
    '--routes',
    file,
    ...extra,
  ];
}

async function routesFile(
  text = 'routes:\n  - id: ping\n    match: { path: /ping }\n    static: { body: pong }\n',
): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await makeTempDir('gateway-cli');
  const file = join(dir.dir, 'routes.yaml');
  await writeFile(file, text);
  return { file, remove: dir.remove };
}

describe('flotilla gateway', () => {
  test('serves its routes and exits 0 on SIGTERM', async ({ processes }) => {
    const { file, remove } = await routesFile();
    try {
      const [port, adminPort] = await freePorts(2);
      const gateway = processes.spawn({
        name: 'gateway',
        command: process.execPath,
        args: gatewayArgs(port, adminPort, file),
      });
      await gateway.waitForLine(/gateway listening/, 15_000);
      expect(await (await fetch(`http://127.0.0.1:${port}/ping`)).text()).toBe('pong');
      expect(await (await fetch(`http://127.0.0.1:${adminPort}/health`)).json()).toEqual({ status: 'UP' });
      expect(await gateway.stop()).toEqual({ code: 0, signal: null });
    } finally {
      await remove();
    }
  });

  test('runs workers sharing the port with --workers, one admin API for all, and exits 0 on SIGTERM', async ({
    processes,
  }) => {
    // Each worker names itself through the route's placeholder for its FLOTILLA_GATEWAY_WORKER.
    const { file, remove } = await routesFile(
      'routes:\n  - id: ping\n    match: { path: /ping }\n' +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a routes-file placeholder, not a template.
        '    static: { body: pong, headers: { x-worker: "${env:FLOTILLA_GATEWAY_WORKER:-primary}" } }\n',
    );
    try {
      const [port, adminPort] = await freePorts(2);
      const gateway = processes.spawn({
        name: 'gateway',
        command: process.execPath,
        args: gatewayArgs(port, adminPort, file, '--workers', '2'),
      });
      await gateway.waitForLine(/gateway listening/, 20_000);
      const admin = `http://127.0.0.1:${adminPort}`;
      await eventually(
        async () => {
          const health = (await (await fetch(`${admin}/health`)).json()) as { workers: { up: number } };
          expect(health.workers.up).toBe(2);
        },
        { timeoutMs: 20_000 },
      );
      // A new connection per request: the primary hands connections to the workers in turn.
      const pids = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const answer = await getNewConnection(`http://127.0.0.1:${port}/ping`);
        expect(answer.body).toBe('pong');
        pids.add(answer.worker);
      }
      expect(pids.size).toBe(2);
      // The primary's /metrics is the sum over the workers, not one worker's share.
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      expect(metrics).toMatch(
        /flotilla_gateway_requests_total\{route="ping",method="GET",status="200"\} 20\n/,
      );
      const routes = (await (await fetch(`${admin}/routes`)).json()) as { routes: { id: string }[] };
      expect(routes.routes.map((r) => r.id)).toEqual(['ping']);
      const reload = await fetch(`${admin}/reload`, { method: 'POST' });
      expect(reload.status).toBe(200);
      expect(((await reload.json()) as { workers: unknown[] }).workers).toHaveLength(2);
      expect(await gateway.stop()).toEqual({ code: 0, signal: null });
    } finally {
      await remove();
    }
  });

  test('trusts the CA of --upstream-ca for https targets, and refuses a file without certificates', async ({
    processes,
  }) => {
    const ca = createTestCa();
    const leaf = ca.issue(['localhost']);
    const upstream = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (_req, res) =>
      res.end('over tls'),
    );
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { file, remove } = await routesFile(
      `routes:\n  - { id: tls, match: { path: /tls }, target: { url: "https://localhost:${(upstream.address() as AddressInfo).port}" } }\n`,
    );
    try {
      const caFile = join(dirname(file), 'ca.pem');
      await writeFile(caFile, ca.cert);
      const [port, adminPort] = await freePorts(2);
      const args = gatewayArgs(port, adminPort, file);
      const gateway = processes.spawn({
        name: 'gateway',
        command: process.execPath,
        args: [...args, '--upstream-ca', caFile],
      });
      await gateway.waitForLine(/gateway listening/, 15_000);
      const response = await fetch(`http://127.0.0.1:${port}/tls`);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('over tls');
      expect(await gateway.stop()).toEqual({ code: 0, signal: null });

      const notPem = join(dirname(file), 'not-a-ca.pem');
      await writeFile(notPem, 'not a certificate\n');
      const refused = processes.spawn({
        name: 'gateway-bad-ca',
        command: process.execPath,
        args: [...args, '--upstream-ca', notPem],
      });
      expect((await refused.exited).code).toBe(2);
      expect(refused.output()).toMatch(/--upstream-ca should hold PEM certificates.*not-a-ca\.pem/);
    } finally {
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
      ca.close();
      await remove();
    }
  });

  test('refuses a bad routes file naming the line', async ({ processes }) => {
    const dir = await makeTempDir('gateway-cli');
    try {
      const file = join(dir.dir, 'routes.yaml');
      await writeFile(file, 'routes:\n  - id: ping\n    match: { path: ping }\n    static: {}\n');
      const [port, adminPort] = await freePorts(2);
      const run = processes.spawn({
        name: 'gateway',
        command: process.execPath,
        args: gatewayArgs(port, adminPort, file),
      });
      expect((await run.exited).code).not.toBe(0);
      expect(run.output()).toContain('routes.yaml:3:20: /routes/0/match/path');
    } finally {
      await dir.remove();
    }
  });
});

describe('flotilla token and flotilla issuer', () => {
  test('print a token the gateway accepts, verified through the JWKS flotilla issuer serves', async ({
    processes,
  }) => {
    const dir = await makeTempDir('gateway-token');
    try {
      const [issuerPort, port, adminPort] = await freePorts(3);
      const issuer = `http://127.0.0.1:${issuerPort}`;
      const keys = join(dir.dir, 'issuer');
      const file = join(dir.dir, 'routes.yaml');
      await writeFile(
        file,
        [
          'routes:',
          '  - id: secret',
          '    match: { path: /secret }',
          '    static: { body: granted }',
          `    auth: { jwt: { issuer: "${issuer}", audience: flotilla, jwksUrl: "${issuer}/.well-known/jwks.json", scopes: [play:read] } }`,
        ].join('\n'),
      );
      const { stdout } = await promisify(execFile)(process.execPath, [
        bin,
        'token',
        '--sub',
        'alice',
        '--scope',
        'play:read',
        '--data-dir',
        keys,
        '--issuer',
        issuer,
      ]);
      const token = stdout.trim();
      const served = processes.spawn({
        name: 'issuer',
        command: process.execPath,
        args: [bin, 'issuer', '--port', String(issuerPort), '--data-dir', keys],
      });
      await served.waitForLine(/issuer listening/, 15_000);
      const gateway = processes.spawn({
        name: 'gateway',
        command: process.execPath,
        args: gatewayArgs(port, adminPort, file),
      });
      await gateway.waitForLine(/gateway listening/, 15_000);
      const url = `http://127.0.0.1:${port}/secret`;
      expect((await fetch(url)).status).toBe(401);
      const granted = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(granted.status).toBe(200);
      expect(await granted.text()).toBe('granted');
    } finally {
      await dir.remove();
    }
  });
});

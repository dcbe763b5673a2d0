import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts, makeTempDir, test } from '@flotilla/testkit';
import { describe, expect } from 'vitest';

// These tests run the built CLI (`npx tsc -b packages/gateway packages/cli` first), as an operator would.
const bin = fileURLToPath(new URL('../../cli/bin/flotilla.mjs', import.meta.url));

async function routesFile(): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await makeTempDir('gateway-cli');
  const file = join(dir.dir, 'routes.yaml');
  await writeFile(file, 'routes:\n  - id: ping\n    match: { path: /ping }\n    static: { body: pong }\n');
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
        args: [bin, 'gateway', '--port', String(port), '--admin-port', String(adminPort), '--routes', file],
      });
      await gateway.waitForLine(/gateway listening/, 15_000);
      expect(await (await fetch(`http://127.0.0.1:${port}/ping`)).text()).toBe('pong');
      expect(await (await fetch(`http://127.0.0.1:${adminPort}/health`)).json()).toEqual({ status: 'UP' });
      expect(await gateway.stop()).toEqual({ code: 0, signal: null });
    } finally {
      await remove();
    }
  });

  test('runs workers sharing the port with --workers and exits 0 on SIGTERM', async ({ processes }) => {
    const { file, remove } = await routesFile();
    try {
      const [port, adminPort] = await freePorts(2);
      const gateway = processes.spawn({
        name: 'gateway',
        command: process.execPath,
        args: [
          bin,
          'gateway',
          '--port',
          String(port),
          '--admin-port',
          String(adminPort),
          '--routes',
          file,
          '--workers',
          '2',
        ],
      });
      await gateway.waitForLine(/gateway listening/, 20_000);
      expect(await (await fetch(`http://127.0.0.1:${port}/ping`)).text()).toBe('pong');
      expect(await gateway.stop()).toEqual({ code: 0, signal: null });
    } finally {
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
        args: [bin, 'gateway', '--port', String(port), '--admin-port', String(adminPort), '--routes', file],
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
        args: [bin, 'gateway', '--port', String(port), '--admin-port', String(adminPort), '--routes', file],
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

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

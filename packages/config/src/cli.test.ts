import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { freePort, makeTempDir, test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { describe, expect } from 'vitest';
import {
  configEncryptCommand,
  configKeygenCommand,
  configReencryptCommand,
  configServerCommand,
} from './cli.js';
import type { LiveConfig } from './client/live-config.js';
import { loadConfig } from './client/load-config.js';
import { KeyRing } from './server/secrets.js';
import { captureLogs, eventually, TEST_KEYS, TOKENS, writeAtomically, writeYaml } from './test-support.js';

// The built CLI, as an operator runs it (the package is built before its tests run).
const bin = fileURLToPath(new URL('../../cli/bin/flotilla.mjs', import.meta.url));

const Schema = Type.Object({
  limits: Type.Object({ rps: Type.Integer({ minimum: 1 }) }),
  password: Type.Optional(Type.String()),
});

const serverEnv = {
  FLOTILLA_CONFIG_KEYS: `k1:${TEST_KEYS.k1}`,
  FLOTILLA_CONFIG_TOKENS: `orders=${TOKENS.orders}`,
  FLOTILLA_CONFIG_OPERATOR_TOKEN: TOKENS.operator,
  FLOTILLA_LOG_LEVEL: 'info',
};

/** Resolves once the config satisfies `ok`, now or after a change (the timeout only bounds a failing test). */
function until<T>(config: LiveConfig<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  if (ok(config.value as T)) return Promise.resolve(config.value as T);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`config not as expected within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const listener = (event: { value: Readonly<T> }) => {
      if (!ok(event.value as T)) return;
      clearTimeout(timer);
      config.off('change', listener);
      resolve(event.value as T);
    };
    config.on('change', listener);
  });
}

describe('flotilla config-server (end to end)', () => {
  test('a running client sees a YAML edit; an invalid edit is rejected and the old value stays', async ({
    processes,
  }) => {
    const temp = await makeTempDir('config-e2e');
    let config: LiveConfig<unknown> | undefined;
    try {
      const dir = join(temp.dir, 'config');
      await mkdir(dir);
      await writeYaml(dir, 'orders', { limits: { rps: 100 } });
      const port = await freePort();
      const server = processes.spawn({
        name: 'config-server',
        command: process.execPath,
        args: [bin, 'config-server', '--dir', dir, '--port', String(port), '--host', '127.0.0.1'],
        env: serverEnv,
      });
      await server.waitForLine(/config server listening on/, 20_000);
      const url = `http://127.0.0.1:${port}`;
      const live = await loadConfig({
        service: 'orders',
        env: 'prod',
        schema: Schema,
        url,
        cacheDir: false,
        logger: captureLogs().logger,
      });
      config = live as LiveConfig<unknown>;
      expect(live.value.limits.rps).toBe(100);

      await writeYaml(dir, 'orders-prod', { limits: { rps: 250 } });
      await until(live, (v) => v.limits.rps === 250);

      // Invalid YAML: the server keeps serving the last good version and reports file and line.
      await writeAtomically(join(dir, 'orders-prod.yaml'), 'limits:\n  rps: [oops\n');
      const health = await eventually(async () => {
        const body = (await (await fetch(`${url}/health`)).json()) as {
          sources: Array<{ problems: Array<Record<string, unknown>> }>;
        };
        expect(body.sources[0]?.problems).toHaveLength(1);
        return body;
      });
      expect(health.sources[0]?.problems[0]).toMatchObject({
        source: expect.stringContaining('orders-prod.yaml'),
        line: 3,
      });
      expect(
        ((await (await fetch(`${url}/v1/config/orders/prod`)).json()) as { config: unknown }).config,
      ).toEqual({
        limits: { rps: 250 },
      });
      expect(live.value.limits.rps).toBe(250);

      await config.close();
      config = undefined;
      expect(await server.stop({ signal: 'SIGTERM' })).toMatchObject({ code: 0, signal: null });
    } finally {
      await config?.close();
      await temp.remove();
    }
  });

  test('a value PUT in the PostgreSQL store reaches a running client; secrets only with its token', async ({
    processes,
    postgres,
  }) => {
    const temp = await makeTempDir('config-e2e-store');
    const clients: Array<LiveConfig<unknown>> = [];
    try {
      const dir = join(temp.dir, 'config');
      await mkdir(dir);
      await writeYaml(dir, 'orders', { limits: { rps: 100 } });
      const port = await freePort();
      const server = processes.spawn({
        name: 'config-server',
        command: process.execPath,
        args: [
          bin,
          'config-server',
          '--dir',
          dir,
          '--store',
          postgres.url,
          '--port',
          String(port),
          '--host',
          '127.0.0.1',
        ],
        env: serverEnv,
      });
      await server.waitForLine(/config server listening on/, 30_000);
      const url = `http://127.0.0.1:${port}`;
      const withToken = await loadConfig({
        service: 'orders',
        env: 'prod',
        schema: Schema,
        url,
        token: TOKENS.orders,
        cacheDir: false,
        logger: captureLogs().logger,
      });
      const anonymous = await loadConfig({
        service: 'orders',
        env: 'prod',
        schema: Schema,
        url,
        cacheDir: false,
        logger: captureLogs().logger,
      });
      clients.push(withToken as LiveConfig<unknown>, anonymous as LiveConfig<unknown>);

      const put = (key: string, body: unknown) =>
        fetch(`${url}/v1/admin/values/orders/${key}?env=prod`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${TOKENS.operator}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect((await put('limits.rps', { value: 500, author: 'e2e', message: 'raise limit' })).status).toBe(
        200,
      );
      await until(withToken, (v) => v.limits.rps === 500);

      await put('password', { value: 'e2e-store-secret', secret: true });
      await until(withToken, (v) => v.password === 'e2e-store-secret');
      const seen = await until(anonymous, (v) => v.password !== undefined);
      expect(seen.password).toMatch(/^\{cipher\}\{key:k1\}/);
      expect(server.output()).not.toContain('e2e-store-secret');

      for (const c of clients.splice(0)) await c.close();
      expect(await server.stop({ signal: 'SIGTERM' })).toMatchObject({ code: 0, signal: null });
    } finally {
      for (const c of clients) await c.close();
      await temp.remove();
    }
  });
});

describe('config CLI commands', () => {
  const io = (env: NodeJS.ProcessEnv = {}) => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    return { io: { stdout, stderr: new PassThrough(), env, cwd: process.cwd() }, out: () => out };
  };

  test('config-keygen prints a usable key and config-encrypt encrypts with it', async () => {
    const gen = io();
    expect(await configKeygenCommand.run({ values: { id: 'k2030' }, positionals: [] }, gen.io)).toBe(0);
    const line = gen.out().trim();
    expect(line).toMatch(/^k2030:[A-Za-z0-9+/]{43}=$/);
    const enc = io({ FLOTILLA_CONFIG_KEYS: line });
    expect(await configEncryptCommand.run({ values: {}, positionals: ['s3cret'] }, enc.io)).toBe(0);
    expect(KeyRing.fromEnv({ FLOTILLA_CONFIG_KEYS: line }).decrypt(enc.out().trim())).toBe('s3cret');
  });

  test('config-reencrypt moves file secrets to the active key, keeping comments and layout', async () => {
    const temp = await makeTempDir('config-reencrypt');
    try {
      const old = KeyRing.fromEnv({ FLOTILLA_CONFIG_KEYS: `k1:${TEST_KEYS.k1}` });
      const text = `# database\ndb:\n  user: orders # the app user\n  password: '${old.encrypt('file-pw')}'\n`;
      await writeFile(join(temp.dir, 'orders.yaml'), text);
      await writeFile(join(temp.dir, 'plain.yaml'), 'a: 1\n');
      const env = { FLOTILLA_CONFIG_KEYS: `k1:${TEST_KEYS.k1},k2:${TEST_KEYS.k2}` };
      const run = io(env);
      expect(await configReencryptCommand.run({ values: { dir: temp.dir }, positionals: [] }, run.io)).toBe(
        0,
      );
      expect(run.out()).toBe('orders.yaml: 1 value(s) re-encrypted with k2\n');
      const after = await readFile(join(temp.dir, 'orders.yaml'), 'utf8');
      expect(after).toContain('# database\ndb:\n  user: orders # the app user\n');
      const value = /password: '?([^'\n]+)/.exec(after)?.[1] ?? '';
      expect(KeyRing.keyIdOf(value)).toBe('k2');
      expect(KeyRing.fromEnv({ FLOTILLA_CONFIG_KEYS: `k2:${TEST_KEYS.k2}` }).decrypt(value)).toBe('file-pw');
      const again = io(env);
      await configReencryptCommand.run({ values: { dir: temp.dir }, positionals: [] }, again.io);
      expect(again.out()).toBe('nothing to do: every value is under k2\n');
    } finally {
      await temp.remove();
    }
  });

  test('config-server refuses a missing directory and a non-postgres store as usage errors', async () => {
    await expect(
      configServerCommand.run({ values: { dir: '/nonexistent/config' }, positionals: [] }, io().io),
    ).rejects.toThrow('--dir: directory /nonexistent/config does not exist');
    await expect(
      configServerCommand.run({ values: { store: 'mysql://u:pw@h/db', dir: '.' }, positionals: [] }, io().io),
    ).rejects.toThrow('--store should be a postgres:// URL, got "mysql://u:***@h/db"');
  });
});

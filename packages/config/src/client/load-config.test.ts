import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, makeTempDir, type TempDir } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenAuth } from '../server/auth.js';
import { ConfigServer } from '../server/config-server.js';
import { KeyRing, parseKey } from '../server/secrets.js';
import { DirectorySource } from '../server/sources/directory-source.js';
import { captureLogs, eventually, TEST_KEYS, TOKENS, writeAtomically, writeYaml } from '../test-support.js';
import type { ConfigEvents, LiveConfig } from './live-config.js';
import { type LoadConfigOptions, loadConfig } from './load-config.js';

const Schema = Type.Object({
  db: Type.Object({
    pool: Type.Object({ size: Type.Integer({ minimum: 1 }) }),
    password: Type.Optional(Type.String()),
  }),
  greeting: Type.String({ default: 'hello' }),
});

/** The next event of a kind; the generous timeout only bounds a failing test. */
function next<T, E extends keyof ConfigEvents<T>>(
  live: LiveConfig<T>,
  event: E,
  timeoutMs = 15_000,
): Promise<Parameters<ConfigEvents<T>[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${String(event)} event within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const listener = ((value: Parameters<ConfigEvents<T>[E]>[0]) => {
      clearTimeout(timer);
      live.off(event, listener);
      resolve(value);
    }) as ConfigEvents<T>[E];
    live.on(event, listener);
  });
}

/** A `${…}` placeholder, spelled without a template-looking string literal. */
const ph = (body: string) => ['$', '{', body, '}'].join('');

describe('loadConfig', () => {
  let temp: TempDir;
  let configDir: string;
  let cacheDir: string;
  let server: ConfigServer | undefined;
  let url: string;
  let port: number;
  const clients: Array<LiveConfig<unknown>> = [];
  const keys = new KeyRing([parseKey('k1', TEST_KEYS.k1, 't')]);

  const startServer = async () => {
    server = new ConfigServer({
      sources: [new DirectorySource({ dir: configDir, displayDir: 'config', debounceMs: 20 })],
      keys,
      auth: TokenAuth.fromEnv({ FLOTILLA_CONFIG_TOKENS: `orders=${TOKENS.orders}` }),
      logger: captureLogs().logger,
    });
    url = await server.listen({ port, host: '127.0.0.1' });
  };
  const load = async (extra: Partial<Omit<LoadConfigOptions<typeof Schema>, 'schema'>> = {}) => {
    const live = await loadConfig({
      service: 'orders',
      env: 'prod',
      schema: Schema,
      url,
      cacheDir,
      logger: captureLogs().logger,
      retry: { attempts: 2, initialDelayMs: 10 },
      ...extra,
    });
    clients.push(live as LiveConfig<unknown>);
    return live;
  };

  beforeEach(async () => {
    temp = await makeTempDir('config-client');
    configDir = join(temp.dir, 'config');
    cacheDir = join(temp.dir, 'cache');
    await mkdir(configDir);
    await writeYaml(configDir, 'orders', { db: { pool: { size: 5 } } });
    port = await freePort();
    await startServer();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await server?.close();
    server = undefined;
    await temp.remove();
  });

  it('returns the typed config validated by the schema, defaults applied, with its origins', async () => {
    const config = await load();
    expect(config.value).toEqual({ db: { pool: { size: 5 } }, greeting: 'hello' });
    expect(config.get('db').pool.size).toBe(5);
    expect(config.origin).toBe('server');
    expect(config.origins['db.pool.size']).toEqual({ source: 'file:config/orders.yaml', line: 3 });
    expect(Object.isFrozen(config.value.db)).toBe(true);
  });

  it('applies a pushed YAML edit and says what changed', async () => {
    const config = await load();
    const change = next(config, 'change');
    await writeYaml(configDir, 'orders-prod', { db: { pool: { size: 12 } } });
    const event = await change;
    expect(event.changed).toEqual(['db.pool.size']);
    expect(event.previous.db.pool.size).toBe(5);
    expect(config.value.db.pool.size).toBe(12);
    expect(config.revision).toBe(event.revision);
  });

  it('keeps the old config when an edit is invalid YAML (server side) or fails the schema (client side)', async () => {
    const config = await load();
    await writeAtomically(join(configDir, 'orders.yaml'), 'db:\n  pool: {size: 7\n');
    const rejected = next(config, 'rejected');
    await writeYaml(configDir, 'orders-prod', { db: { pool: { size: 0 } } });
    const event = await rejected;
    expect(event).toMatchObject({ reason: 'invalid', errors: [{ field: '/db/pool/size' }] });
    expect(event.message).toMatch(/does not match the schema: \/db\/pool\/size/);
    expect(config.value.db.pool.size).toBe(5);

    const change = next(config, 'change');
    await writeYaml(configDir, 'orders-prod', { db: { pool: { size: 9 } } });
    expect((await change).value.db.pool.size).toBe(9);
  });

  it('fails fast with a clear message when the server is unreachable and there is no cached copy', async () => {
    await server?.close();
    server = undefined;
    await expect(load()).rejects.toThrow(
      expect.objectContaining({
        code: 'CONFIG_UNAVAILABLE',
        message: expect.stringMatching(
          /^cannot load config of orders\/prod: cannot reach config server http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(tried 2 times\) and no cached copy at .*orders-prod\.json$/,
        ),
      }),
    );
  });

  it('starts from the cached copy during an outage and follows the server once it is back', async () => {
    const first = await load();
    const revision = first.revision;
    await first.close();
    await server?.close();
    server = undefined;

    const restarted = await load();
    expect(restarted.origin).toBe('cache');
    expect(restarted.revision).toBe(revision);
    expect(restarted.value.db.pool.size).toBe(5);

    await writeYaml(configDir, 'orders', { db: { pool: { size: 6 } } });
    const change = next(restarted, 'change');
    await startServer();
    expect((await change).value.db.pool.size).toBe(6);
    expect(restarted.origin).toBe('server');
  });

  it('confirms an unchanged cached copy with the server once it is back, without a change event', async () => {
    await (await load()).close();
    await server?.close();
    server = undefined;
    const restarted = await load();
    expect(restarted.origin).toBe('cache');
    let changes = 0;
    restarted.on('change', () => changes++);
    await startServer();
    await eventually(() => expect(restarted.origin).toBe('server'), { timeoutMs: 15_000 });
    expect(changes).toBe(0);
  });

  it('decrypts secrets with the service token only; without it they stay encrypted', async () => {
    await writeYaml(configDir, 'orders', { db: { pool: { size: 5 }, password: keys.encrypt('client-pw') } });
    await server?.close();
    await startServer();
    expect((await load({ token: TOKENS.orders })).value.db.password).toBe('client-pw');
    const logs = captureLogs();
    const anonymous = await load({ logger: logs.logger });
    expect(anonymous.value.db.password).toMatch(/^\{cipher\}/);
    expect(logs.text()).toContain('secrets are still encrypted');
    expect(logs.text()).not.toContain('client-pw');
  });

  it('fails the start on a secret that does not decrypt, and rejects such a pushed change', async () => {
    const config = await load({ token: TOKENS.orders });
    const rejected = next(config, 'rejected');
    await writeYaml(configDir, 'orders-prod', { db: { password: '{cipher}{key:k9}AAAA' } });
    expect(await rejected).toMatchObject({ reason: 'server', errors: [{ field: '/db/password' }] });
    expect(config.value.db.password).toBeUndefined();
    await expect(load({ token: TOKENS.orders, cacheDir: false })).rejects.toMatchObject({
      code: 'CONFIG_DECRYPT_FAILED',
    });
  });

  it('resolves env and file placeholders in the service process, confined to the allowed roots', async () => {
    const secrets = join(temp.dir, 'secrets');
    await mkdir(secrets);
    await writeFile(join(secrets, 'db-password'), 'from-a-mounted-file\n');
    await writeYaml(configDir, 'orders', {
      db: { pool: { size: ph('env:POOL_SIZE') }, password: ph(`file:${join(secrets, 'db-password')}`) },
      greeting: `hi ${ph('env:WHO:-there')}, $${ph('env:LITERAL')}`,
    });
    await server?.close();
    await startServer();
    const config = await load({ environment: { POOL_SIZE: '8' }, fileRoots: [secrets] });
    expect(config.value).toEqual({
      db: { pool: { size: 8 }, password: 'from-a-mounted-file' },
      greeting: `hi there, ${ph('env:LITERAL')}`,
    });
    await expect(
      load({ environment: {}, fileRoots: [join(temp.dir, 'elsewhere')], cacheDir: false }),
    ).rejects.toThrow(
      /placeholders of revision \w+ failed: \/db\/pool\/size \$\{env:…\}: environment variable POOL_SIZE is not set; \/db\/password \$\{file:…\}: file .* is outside the allowed roots/,
    );
  });
});

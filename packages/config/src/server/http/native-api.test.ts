import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs, TEST_KEYS, TOKENS } from '../../test-support.js';
import { TokenAuth } from '../auth.js';
import { ConfigServer } from '../config-server.js';
import { KeyRing, parseKey } from '../secrets.js';
import { DirectorySource } from '../sources/directory-source.js';

const PLAIN = { dbPassword: 'pw-under-old-key-1', apiKey: 'api-key-under-new-key-2' };

describe('native API', () => {
  let temp: TempDir;
  let server: ConfigServer;
  let strict: ConfigServer;
  const logs = captureLogs('config-server');
  // k1 was the key when db.password was encrypted; k2 is active since the rotation.
  const keys = new KeyRing([parseKey('k1', TEST_KEYS.k1, 't'), parseKey('k2', TEST_KEYS.k2, 't')], 'k2');
  const auth = TokenAuth.fromEnv({
    FLOTILLA_CONFIG_TOKENS: `orders=${TOKENS.orders},billing=${TOKENS.billing}`,
    FLOTILLA_CONFIG_OPERATOR_TOKEN: TOKENS.operator,
  });
  const get = (url: string, token?: string) =>
    server.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    temp = await makeTempDir('config-native');
    const oldKey = new KeyRing([parseKey('k1', TEST_KEYS.k1, 't')]);
    await writeFile(join(temp.dir, 'application.yaml'), 'log:\n  level: info\n');
    await writeFile(
      join(temp.dir, 'orders.yaml'),
      `db:\n  user: orders\n  password: '${oldKey.encrypt(PLAIN.dbPassword)}'\n`,
    );
    await writeFile(join(temp.dir, 'orders-prod.yaml'), `apiKey: '${keys.encrypt(PLAIN.apiKey)}'\n`);
    const good = keys.encrypt('billing-secret-value');
    const tampered = `${good.slice(0, -6)}AAAAAA`;
    await writeFile(join(temp.dir, 'billing.yaml'), `db:\n  password: '${tampered}'\n`);
    server = new ConfigServer({
      sources: [new DirectorySource({ dir: temp.dir, displayDir: 'config' })],
      keys,
      auth,
      logger: logs.logger,
    });
    await server.start();
    strict = new ConfigServer({
      sources: [new DirectorySource({ dir: temp.dir, displayDir: 'config' })],
      keys,
      auth,
      requireAuth: true,
      logger: logs.logger,
    });
    await strict.start();
  });

  afterAll(async () => {
    await server.close();
    await strict.close();
    await temp.remove();
  });

  it('serves the resolved document with provenance; anonymous readers get secrets still encrypted', async () => {
    const res = await get('/v1/config/orders/prod');
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toMatch(/^"[0-9a-f]{16}"$/);
    const doc = res.json();
    expect(doc).toMatchObject({
      service: 'orders',
      env: 'prod',
      profiles: ['prod'],
      version: null,
      decrypted: false,
      secrets: ['apiKey', 'db.password'],
      origins: { 'db.user': { source: 'file:config/orders.yaml', line: 2 } },
      warnings: [],
    });
    expect(doc.config.db.password).toMatch(/^\{cipher\}\{key:k1\}/);
    expect(doc.config.apiKey).toMatch(/^\{cipher\}\{key:k2\}/);
    expect(res.body).not.toContain(PLAIN.dbPassword);
    expect(res.body).not.toContain(PLAIN.apiKey);
  });

  it('decrypts for the service token of that service, across a key rotation', async () => {
    const doc = (await get('/v1/config/orders/prod', TOKENS.orders)).json();
    expect(doc.decrypted).toBe(true);
    expect(doc.config).toEqual({
      log: { level: 'info' },
      db: { user: 'orders', password: PLAIN.dbPassword },
      apiKey: PLAIN.apiKey,
    });
  });

  it('refuses a token of another service (403), an unknown token (401), and anonymous reads when auth is required', async () => {
    const other = await get('/v1/config/orders/prod', TOKENS.billing);
    expect(other.statusCode).toBe(403);
    expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(other.json()).toMatchObject({ code: 'FORBIDDEN' });
    expect((await get('/v1/config/orders/prod', 'not-a-known-token-at-all')).json()).toMatchObject({
      status: 401,
      code: 'UNAUTHORIZED',
    });
    const anonymous = await strict.app.inject({ method: 'GET', url: '/v1/config/orders/prod' });
    expect(anonymous.statusCode).toBe(401);
    const ok = await strict.app.inject({
      method: 'GET',
      url: '/v1/config/orders/prod',
      headers: { authorization: `Bearer ${TOKENS.orders}` },
    });
    expect(ok.json().config.apiKey).toBe(PLAIN.apiKey);
  });

  it('answers a value that fails to decrypt with a problem naming the key and its file, never dropping it silently', async () => {
    const res = await get('/v1/config/billing/prod', TOKENS.billing);
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({
      code: 'CONFIG_DECRYPT_FAILED',
      errors: [
        {
          field: '/db/password',
          message:
            'file:config/billing.yaml: cannot decrypt: authentication failed with key "k2": the ciphertext was altered',
        },
      ],
    });
    // Without a token the value is simply served encrypted: nothing is decrypted, nothing fails.
    expect((await get('/v1/config/billing/prod')).statusCode).toBe(200);
  });

  it('answers bad names and versions with 400 problem+json naming the field', async () => {
    const badName = await get('/v1/config/or%2F..%2Fders/prod');
    expect(badName.statusCode).toBe(400);
    expect(badName.json().errors).toEqual([{ field: '/params/service', message: expect.any(String) }]);
    const badEnv = await get('/v1/config/orders/prod,');
    expect(badEnv.json().errors[0].field).toBe('/params/env');
    const badVersion = await get('/v1/config/orders/prod?version=two');
    expect(badVersion.json()).toMatchObject({
      status: 400,
      errors: [{ field: '/query/version', message: 'should be a semver version like 2.1.0' }],
    });
  });

  it('encrypts for the operator only, with the active key, as JSON or plain text', async () => {
    const post = (payload: string, type: string, token?: string) =>
      server.app.inject({
        method: 'POST',
        url: '/v1/encrypt',
        payload,
        headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      });
    expect((await post('{"value":"x"}', 'application/json')).statusCode).toBe(401);
    expect((await post('{"value":"x"}', 'application/json', TOKENS.orders)).statusCode).toBe(403);
    const json = (await post('{"value":"hunter2-hunter2"}', 'application/json', TOKENS.operator)).json();
    expect(json.keyId).toBe('k2');
    expect(keys.decrypt(json.cipher)).toBe('hunter2-hunter2');
    const text = await post('plain-text-secret', 'text/plain', TOKENS.operator);
    expect(keys.decrypt(text.body)).toBe('plain-text-secret');
    const bad = await post('{"value":"x","keyId":"k9"}', 'application/json', TOKENS.operator);
    expect(bad.json()).toMatchObject({ status: 400, errors: [{ field: '/body/keyId' }] });
    const missing = await post('{}', 'application/json', TOKENS.operator);
    expect(missing.json()).toMatchObject({ status: 400 });
    expect(missing.json().errors[0].field).toBe('/body/value');
  });

  it('never writes a secret, a key or a token to its logs', async () => {
    await get('/v1/config/orders/prod', TOKENS.orders);
    await get('/v1/config/billing/prod', TOKENS.billing);
    const text = logs.text();
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [
      PLAIN.dbPassword,
      PLAIN.apiKey,
      'hunter2',
      'billing-secret-value',
      ...Object.values(TOKENS),
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain(TEST_KEYS.k1);
    expect(text).not.toContain(TEST_KEYS.k2);
  });

  it('reports its sources and their problems on /health and counts requests on /metrics', async () => {
    expect((await get('/health')).json()).toMatchObject({
      status: 'UP',
      sources: [{ kind: 'directory', problems: [] }],
    });
    const metrics = (await get('/metrics')).body;
    expect(metrics).toContain(
      'flotilla_config_requests_total{route="/v1/config/:service/:env",status="200"}',
    );
  });
});

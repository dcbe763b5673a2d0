import { makeTempDir, type PostgresResource, type TempDir, usePostgres } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_KEYS, TOKENS, writeYaml } from '../../test-support.js';
import { TokenAuth } from '../auth.js';
import { ConfigServer } from '../config-server.js';
import { KeyRing, parseKey } from '../secrets.js';
import { DirectorySource } from '../sources/directory-source.js';
import { PostgresSource } from '../sources/postgres-source.js';
import { PostgresStore } from '../sources/postgres-store.js';

describe('admin API with the PostgreSQL store', () => {
  let pg: PostgresResource;
  let temp: TempDir;
  let server: ConfigServer;
  const auth = TokenAuth.fromEnv({
    FLOTILLA_CONFIG_TOKENS: `orders=${TOKENS.orders}`,
    FLOTILLA_CONFIG_OPERATOR_TOKEN: TOKENS.operator,
  });

  const serverWith = async (keys: KeyRing) => {
    const store = new PostgresStore(pg.pool);
    await store.migrate();
    const s = new ConfigServer({
      sources: [new DirectorySource({ dir: temp.dir, displayDir: 'config' }), new PostgresSource({ store })],
      keys,
      auth,
    });
    await s.start();
    return s;
  };
  const call = (
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    url: string,
    body?: unknown,
    token = TOKENS.operator,
  ) =>
    server.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
  const config = async (token?: string) =>
    (
      await server.app.inject({
        method: 'GET',
        url: '/v1/config/orders/prod',
        headers: token ? { authorization: `Bearer ${token}` } : {},
      })
    ).json();

  beforeAll(async () => {
    pg = await usePostgres();
    temp = await makeTempDir('config-admin');
    await writeYaml(temp.dir, 'application', { log: { level: 'info' } });
    await writeYaml(temp.dir, 'application-prod', { log: { level: 'warn' } });
    await writeYaml(temp.dir, 'orders', { db: { pool: { size: 5 } } });
    server = await serverWith(new KeyRing([parseKey('k1', TEST_KEYS.k1, 't')]));
  });

  afterAll(async () => {
    await server.close();
    await temp.remove();
    await pg.release();
  });

  it('puts a value as a revision with author and message, served at once over the file', async () => {
    const res = await call('PUT', '/v1/admin/values/orders/db.pool.size?env=prod', {
      value: 25,
      author: 'alice',
      message: 'black friday',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      changed: true,
      revision: 1,
      info: { author: 'alice', message: 'black friday' },
    });
    const doc = await config();
    expect(doc.config.db.pool.size).toBe(25);
    expect(doc.origins['db.pool.size']).toEqual({ source: 'postgres:orders/prod', revision: 1 });
  });

  it('stores a secret encrypted: history and listings show ciphertext, the service token reads plaintext', async () => {
    await call('PUT', '/v1/admin/values/orders/db.password?env=prod', {
      value: 'store-pw-123',
      secret: true,
    });
    const values = (await call('GET', '/v1/admin/values?service=orders&env=prod')).json().values;
    const stored = values.find((v: { key: string }) => v.key === 'db.password');
    expect(stored.value).toMatch(/^\{cipher\}\{key:k1\}/);
    expect((await call('GET', '/v1/admin/history?key=db.password')).body).not.toContain('store-pw-123');
    expect((await config()).config.db.password).toMatch(/^\{cipher\}/);
    expect((await config(TOKENS.orders)).config.db.password).toBe('store-pw-123');
  });

  it('applies a batch as one revision, deletes, and lists services and environments of all sources', async () => {
    const batch = await call('POST', '/v1/admin/changes', {
      author: 'bob',
      message: 'billing setup',
      changes: [
        { service: 'billing', env: 'prod', key: 'currency', value: 'EUR' },
        { service: 'billing', key: 'limits', value: { daily: 100 } },
      ],
    });
    expect(batch.json().info.changes).toHaveLength(2);
    const del = await call('DELETE', '/v1/admin/values/billing/currency?env=prod&author=bob&message=oops');
    expect(del.json()).toMatchObject({
      changed: true,
      info: { changes: [{ key: 'currency', deleted: true }] },
    });
    expect((await call('GET', '/v1/admin/services')).json()).toEqual({
      services: [
        { service: 'application', environments: ['prod'] },
        { service: 'billing', environments: [] },
        { service: 'orders', environments: ['prod'] },
      ],
      environments: ['prod'],
    });
  });

  it('shows history and any revision, and rolls back to one as a new revision', async () => {
    const history = (await call('GET', '/v1/admin/history?service=orders&env=prod')).json().revisions;
    expect(history.map((r: { revision: number }) => r.revision)).toEqual([2, 1]);
    expect((await call('GET', '/v1/admin/revisions/1')).json()).toMatchObject({
      revision: 1,
      author: 'alice',
      changes: [{ service: 'orders', env: 'prod', versions: null, key: 'db.pool.size', value: 25 }],
    });
    expect((await call('GET', '/v1/admin/revisions/1/values')).json().values).toHaveLength(1);

    const rollback = await call('POST', '/v1/admin/rollback', { revision: 1, author: 'carol' });
    expect(rollback.json()).toMatchObject({ changed: true, info: { restoredFrom: 1, author: 'carol' } });
    const doc = await config(TOKENS.orders);
    expect(doc.config.db).toEqual({ pool: { size: 25 } });
    expect((await call('GET', '/v1/admin/revisions/999')).statusCode).toBe(404);
  });

  it('re-encrypts stored secrets with a new active key after a rotation', async () => {
    await call('PUT', '/v1/admin/values/orders/token?env=prod', { value: 'rotate-me-please', secret: true });
    await server.close();
    server = await serverWith(
      new KeyRing([parseKey('k1', TEST_KEYS.k1, 't'), parseKey('k2', TEST_KEYS.k2, 't')], 'k2'),
    );
    const res = await call('POST', '/v1/admin/reencrypt', { author: 'ops' });
    expect(res.json()).toMatchObject({
      changed: true,
      info: { message: 're-encrypt 1 secret(s) with key k2' },
    });
    const values = (await call('GET', '/v1/admin/values?service=orders')).json().values;
    expect(values.find((v: { key: string }) => v.key === 'token').value).toMatch(/^\{cipher\}\{key:k2\}/);
    expect((await config(TOKENS.orders)).config.token).toBe('rotate-me-please');
  });

  it('refuses non-operators and bad input with problem+json naming the field', async () => {
    expect((await call('GET', '/v1/admin/services', undefined, TOKENS.orders)).statusCode).toBe(403);
    const anonymous = await server.app.inject({ method: 'GET', url: '/v1/admin/history' });
    expect(anonymous.statusCode).toBe(401);
    expect((await call('PUT', '/v1/admin/values/orders/bad%20key', { value: 1 })).json()).toMatchObject({
      status: 400,
      errors: [{ field: '/params/key' }],
    });
    expect(
      (await call('PUT', '/v1/admin/values/orders/a?versions=nope!', { value: 1 })).json(),
    ).toMatchObject({
      errors: [{ field: '/query/versions' }],
    });
    expect(
      (await call('PUT', '/v1/admin/values/orders/a', { value: 1, extra: true })).json().errors[0].field,
    ).toBe('/body/extra');
    expect(
      (await call('PUT', '/v1/admin/values/orders/a', { value: 5, secret: true })).json().errors[0].field,
    ).toBe('/body/value');
    expect((await call('GET', '/v1/admin/history?limit=0')).json().errors[0].field).toBe('/query/limit');
  });

  it('says writes need a store when the server has none (501)', async () => {
    const dirOnly = new ConfigServer({ sources: [new DirectorySource({ dir: temp.dir })], auth });
    await dirOnly.start();
    const res = await dirOnly.app.inject({
      method: 'PUT',
      url: '/v1/admin/values/orders/a',
      payload: { value: 1 },
      headers: { authorization: `Bearer ${TOKENS.operator}` },
    });
    expect(res.json()).toMatchObject({ status: 501, code: 'UNSUPPORTED_OPERATION' });
    await dirOnly.close();
  });
});

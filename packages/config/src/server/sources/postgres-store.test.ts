import { type PostgresResource, usePostgres } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres-store.js';

describe('PostgresStore', () => {
  let pg: PostgresResource;
  let store: PostgresStore;
  const orders = { service: 'orders', env: 'prod', versions: null };

  beforeAll(async () => {
    pg = await usePostgres();
    store = new PostgresStore(pg.pool);
    await store.migrate();
  });
  afterAll(() => pg.release());

  it('records every change as a numbered revision with author and message, and keeps history', async () => {
    const r1 = await store.apply(
      [
        { ...orders, key: 'db.pool.size', value: 10 },
        { ...orders, key: 'db.url', value: 'postgres://db/orders' },
      ],
      { author: 'alice', message: 'initial' },
    );
    const r2 = await store.apply([{ ...orders, key: 'db.pool.size', value: 20 }], {
      author: 'bob',
      message: 'bigger pool',
    });
    const r3 = await store.apply([{ ...orders, key: 'db.url', deleted: true }], {
      author: 'carol',
      message: 'drop url',
    });
    expect([r1?.revision, r2?.revision, r3?.revision]).toEqual([1, 2, 3]);

    expect(await store.values({ service: 'orders', env: 'prod' })).toEqual([
      { ...orders, key: 'db.pool.size', value: 20, revision: 2 },
    ]);
    const history = await store.history({ service: 'orders', env: 'prod' });
    expect(history.map((h) => [h.revision, h.author, h.message])).toEqual([
      [3, 'carol', 'drop url'],
      [2, 'bob', 'bigger pool'],
      [1, 'alice', 'initial'],
    ]);
    expect(history[0]?.changes).toEqual([{ ...orders, key: 'db.url', deleted: true }]);
    expect((await store.history({ key: 'db.url' })).map((h) => h.revision)).toEqual([3, 1]);
    expect((await store.history({ limit: 1, before: 3 })).map((h) => h.revision)).toEqual([2]);
  });

  it('writes no revision for a change that changes nothing', async () => {
    const head = await store.head();
    expect(
      await store.apply([{ ...orders, key: 'db.pool.size', value: 20 }], { author: 'x', message: 'noop' }),
    ).toBeNull();
    expect(await store.head()).toBe(head);
  });

  it('restores any revision as a new revision, deleting what came later', async () => {
    const before = await store.head();
    await store.apply([{ ...orders, key: 'feature', value: { on: true, list: [1, 2] } }], {
      author: 'dave',
      message: 'feature',
    });
    const restored = await store.restore(1, { author: 'erin' });
    expect(restored).toMatchObject({
      revision: before + 2,
      author: 'erin',
      message: 'restore revision 1',
      restoredFrom: 1,
    });
    expect(await store.values({ service: 'orders', env: 'prod' })).toEqual([
      { ...orders, key: 'db.pool.size', value: 10, revision: before + 2 },
      { ...orders, key: 'db.url', value: 'postgres://db/orders', revision: before + 2 },
    ]);
    expect(await store.stateAt(before + 1)).toContainEqual({
      ...orders,
      key: 'feature',
      value: { on: true, list: [1, 2] },
      revision: before + 1,
    });
    await expect(store.restore(999, { author: 'x' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
    });
  });

  it('refuses bad keys and scopes naming the field', async () => {
    await expect(
      store.apply([{ ...orders, key: 'bad key', value: 1 }], { author: 'x', message: 'y' }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', data: { errors: [{ field: '/changes/0/key' }] } });
    await expect(
      store.apply([{ ...orders, versions: 'not-a-range!', key: 'a', value: 1 }], {
        author: 'x',
        message: 'y',
      }),
    ).rejects.toMatchObject({ data: { errors: [{ field: '/changes/0/versions' }] } });
  });

  it('numbers revisions in commit order when writers race', async () => {
    const head = await store.head();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.apply([{ service: 'race', env: null, versions: null, key: `k${i}`, value: i }], {
          author: 'r',
          message: `${i}`,
        }),
      ),
    );
    expect(results.map((r) => r?.revision).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
      Array.from({ length: 8 }, (_, i) => head + i + 1),
    );
  });
});

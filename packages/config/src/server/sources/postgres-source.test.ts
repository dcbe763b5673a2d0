import { usePostgres } from '@flotilla/testkit';
import { describe, expect, it } from 'vitest';
import { leaves } from '../../flatten.js';
import { configSourceConformance, nextChange } from './conformance.js';
import { PostgresSource } from './postgres-source.js';
import { PostgresStore, type StoreChange } from './postgres-store.js';

configSourceConformance('postgres', async () => {
  const pg = await usePostgres();
  const store = new PostgresStore(pg.pool);
  await store.migrate();
  return {
    source: new PostgresSource({ store }),
    async write(scope, data) {
      const current = await store.values({ service: scope.service, env: scope.env });
      const wanted = leaves(data);
      const changes: StoreChange[] = current
        .filter((v) => v.versions === scope.versions && !wanted.has(v.key))
        .map((v) => ({ ...scope, key: v.key, deleted: true }));
      for (const [key, value] of wanted) changes.push({ ...scope, key, value });
      await store.apply(changes, { author: 'test', message: 'write' });
    },
    async remove(scope) {
      const current = await store.values({ service: scope.service, env: scope.env });
      const changes = current
        .filter((v) => v.versions === scope.versions)
        .map((v) => ({ ...scope, key: v.key, deleted: true }));
      await store.apply(changes, { author: 'test', message: 'remove' });
    },
    dispose: () => pg.release(),
  };
});

describe('PostgresSource', () => {
  it('sees a change written by another store instance (another replica) through LISTEN/NOTIFY', async () => {
    const pg = await usePostgres();
    try {
      const store = new PostgresStore(pg.pool);
      await store.migrate();
      const source = new PostgresSource({ store });
      await source.start();
      const other = new PostgresStore(pg.pool);
      const changed = nextChange(source);
      await other.apply(
        [{ service: 'orders', env: 'prod', versions: null, key: 'db', value: { pool: { size: 7 } } }],
        {
          author: 'ops',
          message: 'more connections',
        },
      );
      await changed;
      const doc = source.snapshot().get('orders-prod');
      expect(doc?.name).toBe('postgres:orders/prod');
      expect(doc?.data).toEqual({ db: { pool: { size: 7 } } });
      expect(doc?.origins.get('db.pool.size')).toEqual({ revision: 1 });
      await source.close();
    } finally {
      await pg.release();
    }
  });
});

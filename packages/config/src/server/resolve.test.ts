import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir, usePostgres } from '@flotilla/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeYaml } from '../test-support.js';
import { Resolver } from './resolve.js';
import { nextChange } from './sources/conformance.js';
import { DirectorySource } from './sources/directory-source.js';
import { PostgresSource } from './sources/postgres-source.js';
import { PostgresStore } from './sources/postgres-store.js';

describe('Resolver', () => {
  let temp: TempDir;
  let source: DirectorySource;
  let resolver: Resolver;

  const start = async () => {
    source = new DirectorySource({ dir: temp.dir, displayDir: 'config', debounceMs: 20 });
    await source.start();
    resolver = new Resolver([source]);
  };

  beforeEach(async () => {
    temp = await makeTempDir('config-resolve');
  });
  afterEach(async () => {
    resolver?.close();
    await source?.close();
    await temp.remove();
  });

  it('layers application → application-{env} → {service} → {service}-{env}, later wins, and says where each value came from', async () => {
    await writeFile(
      join(temp.dir, 'application.yaml'),
      'server:\n  port: 8080\n  host: 0.0.0.0\nlog:\n  level: info\n',
    );
    await writeFile(join(temp.dir, 'application-prod.yaml'), 'log:\n  level: warn\nserver:\n  port: 80\n');
    await writeFile(
      join(temp.dir, 'orders.yaml'),
      'server:\n  port: 9000\ndb:\n  url: postgres://db/orders\n  pool:\n    size: 5\ntags: [a, b]\n',
    );
    await writeFile(join(temp.dir, 'orders-prod.yaml'), 'db.pool.size: 20\ntags: [c]\n');
    await start();

    const r = resolver.resolve({ service: 'orders', profiles: ['prod'], version: null });
    expect(r.config).toEqual({
      server: { port: 9000, host: '0.0.0.0' },
      log: { level: 'warn' },
      db: { url: 'postgres://db/orders', pool: { size: 20 } },
      tags: ['c'],
    });
    expect(r.origins).toEqual({
      'db.pool.size': { source: 'file:config/orders-prod.yaml', line: 1 },
      'db.url': { source: 'file:config/orders.yaml', line: 4 },
      'log.level': { source: 'file:config/application-prod.yaml', line: 2 },
      'server.host': { source: 'file:config/application.yaml', line: 3 },
      'server.port': { source: 'file:config/orders.yaml', line: 2 },
      tags: { source: 'file:config/orders-prod.yaml', line: 2 },
    });
    expect(r.sources.map((s) => s.layer)).toEqual([
      'application',
      'application-prod',
      'orders',
      'orders-prod',
    ]);
  });

  it('applies several environments in the order given, each after the previous', async () => {
    await writeYaml(temp.dir, 'application-prod', { a: 'app-prod', b: 'app-prod' });
    await writeYaml(temp.dir, 'application-eu', { b: 'app-eu' });
    await writeYaml(temp.dir, 'orders-prod', { c: 'orders-prod' });
    await writeYaml(temp.dir, 'orders-eu', { c: 'orders-eu' });
    await start();
    const r = resolver.resolve({ service: 'orders', profiles: ['prod', 'eu'], version: null });
    expect(r.sources.map((s) => s.layer)).toEqual([
      'application-prod',
      'application-eu',
      'orders-prod',
      'orders-eu',
    ]);
    expect(r.config).toEqual({ a: 'app-prod', b: 'app-eu', c: 'orders-eu' });
  });

  it('applies version-specific layers whose semver range contains the version, lowest range first', async () => {
    await writeYaml(temp.dir, 'orders', { mode: 'base', retries: 1 });
    await writeYaml(temp.dir, 'orders@^2.0.0', { mode: 'v2', batch: 10 });
    await writeYaml(temp.dir, 'orders@>=2.1.0 <3', { mode: 'v2.1' });
    await writeYaml(temp.dir, 'orders-prod@2.x', { retries: 5 });
    await writeYaml(temp.dir, 'orders-prod', { retries: 3 });
    await start();

    const at = (version: string | null) =>
      resolver.resolve({ service: 'orders', profiles: ['prod'], version });
    expect(at(null).config).toEqual({ mode: 'base', retries: 3 });
    expect(at('1.4.0').config).toEqual({ mode: 'base', retries: 3 });
    expect(at('2.0.3').config).toEqual({ mode: 'v2', batch: 10, retries: 5 });
    expect(at('2.1.0').config).toEqual({ mode: 'v2.1', batch: 10, retries: 5 });
    expect(at('2.1.0').origins.mode).toEqual({ source: 'file:config/orders@>=2.1.0 <3.yaml', line: 1 });
    expect(at('2.1.0').sources.map((s) => s.layer)).toEqual([
      'orders',
      'orders-prod',
      'orders@^2.0.0',
      'orders@>=2.1.0 <3',
      'orders-prod@2.x',
    ]);
  });

  it('gives an unknown service the shared layers only, not an error', async () => {
    await writeYaml(temp.dir, 'application', { shared: true });
    await writeYaml(temp.dir, 'orders', { own: true });
    await start();
    const r = resolver.resolve({ service: 'nobody', profiles: ['prod'], version: null });
    expect(r.config).toEqual({ shared: true });
  });

  it('replaces a map by a scalar (and back) with the origins of what is left', async () => {
    await writeYaml(temp.dir, 'application', { cache: { ttl: 5, size: 10 }, limit: 3 });
    await writeYaml(temp.dir, 'orders', { cache: 'off', limit: { max: 9 } });
    await start();
    const r = resolver.resolve({ service: 'orders', profiles: ['default'], version: null });
    expect(r.config).toEqual({ cache: 'off', limit: { max: 9 } });
    expect(Object.keys(r.origins)).toEqual(['cache', 'limit.max']);
  });

  it('caches a resolution until a source changes, and the revision follows the content', async () => {
    await writeYaml(temp.dir, 'orders', { a: 1 });
    await start();
    const request = { service: 'orders', profiles: ['prod'], version: null };
    const first = resolver.resolve(request);
    expect(resolver.resolve(request)).toBe(first);

    const changed = nextChange(source);
    await writeYaml(temp.dir, 'orders', { a: 2 });
    await changed;
    const second = resolver.resolve(request);
    expect(second.revision).not.toBe(first.revision);

    const back = nextChange(source);
    await writeYaml(temp.dir, 'orders', { a: 1 });
    await back;
    expect(resolver.resolve(request).revision).toBe(first.revision);
  });

  it('layers the PostgreSQL store after the directory at each level, so a stored value overrides its file', async () => {
    await writeYaml(temp.dir, 'application', { a: 'file', b: 'file' });
    await writeYaml(temp.dir, 'orders', { c: 'file', d: 'file' });
    const pg = await usePostgres();
    try {
      const store = new PostgresStore(pg.pool);
      await store.migrate();
      await store.apply(
        [
          { service: 'application', env: null, versions: null, key: 'b', value: 'store' },
          { service: 'application', env: null, versions: null, key: 'c', value: 'store' },
          { service: 'orders', env: null, versions: null, key: 'd', value: 'store' },
        ],
        { author: 't', message: 'm' },
      );
      const pgSource = new PostgresSource({ store });
      await pgSource.start();
      source = new DirectorySource({ dir: temp.dir, displayDir: 'config' });
      await source.start();
      resolver = new Resolver([source, pgSource]);
      const r = resolver.resolve({ service: 'orders', profiles: ['prod'], version: null });
      // `c` of the store's application layer loses to orders.yaml, which is more specific.
      expect(r.config).toEqual({ a: 'file', b: 'store', c: 'file', d: 'store' });
      expect(r.sources.map((s) => s.name)).toEqual([
        'file:config/application.yaml',
        'postgres:application',
        'file:config/orders.yaml',
        'postgres:orders',
      ]);
      expect(r.origins.d).toEqual({ source: 'postgres:orders', revision: 1 });
      await pgSource.close();
    } finally {
      await pg.release();
    }
  });
});

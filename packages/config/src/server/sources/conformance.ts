/**
 * The conformance suite every `ConfigSource` runs (directory, PostgreSQL): same documents in,
 * same snapshots out. A source that cannot do something lists the case in `skip` with why.
 */
import { describe, expect, it } from 'vitest';
import type { ConfigTree } from '../../flatten.js';
import type { ConfigSource, Scope } from './source.js';

/** Where a document applies. */
export interface HarnessScope extends Scope {
  versions: string | null;
}

/** A source under test plus the way to change its content from the outside. */
export interface SourceHarness {
  /** Not started yet; the suite starts and closes it. */
  source: ConfigSource;
  /** Replaces the whole document of a scope (as an operator would). */
  write(scope: HarnessScope, data: ConfigTree): Promise<void>;
  /** Removes the document of a scope. */
  remove(scope: HarnessScope): Promise<void>;
  /** Releases what the harness created (directories, databases). */
  dispose(): Promise<void>;
}

export type ConformanceCase =
  | 'unknown service'
  | 'layers'
  | 'origins'
  | 'change'
  | 'versions'
  | 'remove'
  | 'scopes';

const scope = (service: string, env: string | null = null, versions: string | null = null): HarnessScope => ({
  service,
  env,
  versions,
});

/** Resolves on the source's next change, or fails after `timeoutMs`. */
export function nextChange(source: ConfigSource, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${source.description}: no change within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = source.onChange(() => {
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Registers the conformance tests of one source kind. */
export function configSourceConformance(
  name: string,
  create: () => Promise<SourceHarness>,
  options: { skip?: Partial<Record<ConformanceCase, string>> } = {},
): void {
  const test = (what: ConformanceCase, title: string, fn: (h: SourceHarness) => Promise<void>) => {
    const reason = options.skip?.[what];
    if (reason !== undefined) {
      it.skip(`${title} (skipped: ${reason})`, () => {});
      return;
    }
    it(title, async () => {
      const harness = await create();
      try {
        await fn(harness);
      } finally {
        await harness.source.close();
        await harness.dispose();
      }
    });
  };

  describe(`${name} config source conformance`, () => {
    test('unknown service', 'has no document for a service it holds nothing for', async (h) => {
      await h.write(scope('application'), { shared: 1 });
      await h.source.start();
      expect(h.source.snapshot().get('nobody')).toBeUndefined();
      expect(h.source.snapshot().get('nobody-prod')).toBeUndefined();
    });

    test('layers', 'serves each document under its layer name, with dotted keys expanded', async (h) => {
      await h.write(scope('application'), { server: { port: 8080 } });
      await h.write(scope('application', 'prod'), { server: { port: 80 } });
      await h.write(scope('orders'), { db: { pool: { size: 5 } }, tags: ['a', 'b'] });
      await h.write(scope('orders', 'prod'), { 'db.pool.size': 20 });
      await h.source.start();
      const snap = h.source.snapshot();
      expect(snap.get('application')?.data).toEqual({ server: { port: 8080 } });
      expect(snap.get('application-prod')?.data).toEqual({ server: { port: 80 } });
      expect(snap.get('orders')?.data).toEqual({ db: { pool: { size: 5 } }, tags: ['a', 'b'] });
      expect(snap.get('orders-prod')?.data).toEqual({ db: { pool: { size: 20 } } });
      expect(snap.get('orders-prod')?.kind).toBe(h.source.kind);
    });

    test('origins', 'names each document and locates each of its values', async (h) => {
      await h.write(scope('orders', 'prod'), { db: { url: 'postgres://x', pool: { size: 3 } } });
      await h.source.start();
      const doc = h.source.snapshot().get('orders-prod');
      expect(doc?.name).toMatch(/orders.prod/);
      const origin = doc?.origins.get('db.pool.size');
      expect(origin?.line ?? origin?.revision).toBeGreaterThan(0);
      expect(doc?.origins.has('db.url')).toBe(true);
    });

    test('change', 'takes a new immutable snapshot on change and tells its listeners', async (h) => {
      await h.write(scope('orders'), { limit: 1 });
      await h.source.start();
      const before = h.source.snapshot();
      const changed = nextChange(h.source);
      await h.write(scope('orders'), { limit: 2 });
      await changed;
      expect(h.source.snapshot().get('orders')?.data).toEqual({ limit: 2 });
      expect(before.get('orders')?.data).toEqual({ limit: 1 });
      expect(Object.isFrozen(h.source.snapshot().get('orders')?.data)).toBe(true);
    });

    test('versions', 'keeps version-specific documents apart and matches them by semver range', async (h) => {
      await h.write(scope('orders'), { mode: 'base' });
      await h.write(scope('orders', null, '^2.0.0'), { mode: 'two' });
      await h.write(scope('orders', null, '>=2.1.0'), { mode: 'two-one' });
      await h.source.start();
      const snap = h.source.snapshot();
      expect(snap.get('orders')?.data).toEqual({ mode: 'base' });
      expect(snap.matching('orders', '1.9.0')).toEqual([]);
      expect(snap.matching('orders', '2.0.5').map((d) => d.data)).toEqual([{ mode: 'two' }]);
      expect(snap.matching('orders', '2.1.0').map((d) => d.data)).toEqual([
        { mode: 'two' },
        { mode: 'two-one' },
      ]);
    });

    test('remove', 'drops a removed document', async (h) => {
      await h.write(scope('orders', 'dev'), { debug: true });
      await h.write(scope('orders'), { debug: false });
      await h.source.start();
      const changed = nextChange(h.source);
      await h.remove(scope('orders', 'dev'));
      await changed;
      expect(h.source.snapshot().get('orders-dev')).toBeUndefined();
      expect(h.source.snapshot().get('orders')?.data).toEqual({ debug: false });
    });

    test('scopes', 'lists the services and environments it holds', async (h) => {
      await h.write(scope('application'), { a: 1 });
      await h.write(scope('application', 'prod'), { a: 2 });
      await h.write(scope('orders'), { a: 3 });
      await h.write(scope('orders', 'prod'), { a: 4 });
      await h.source.start();
      expect(h.source.snapshot().scopes).toEqual([
        { service: 'application', env: null },
        { service: 'application', env: 'prod' },
        { service: 'orders', env: null },
        { service: 'orders', env: 'prod' },
      ]);
    });
  });
}

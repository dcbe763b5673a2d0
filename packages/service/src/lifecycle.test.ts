import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ConfigServer, DirectorySource } from '@flotilla/config';
import { createLogger } from '@flotilla/core';
import { dropDatabase } from '@flotilla/postgres';
import type { RunningRegistry } from '@flotilla/registry';
import { eventually, makeTempDir, usePostgres } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineContract, endpoint } from './contract.js';
import { catalogContract } from './fixtures/contracts.js';
import { createService } from './service.js';
import { startTestRegistry, startTestService } from './testing/index.js';

let registry: RunningRegistry;
beforeAll(async () => {
  registry = await startTestRegistry();
});
afterAll(async () => {
  await registry?.close();
});

const quiet = () => createLogger({ service: 'test', level: 'silent' });

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

const catalogRoutes = {
  getTitle: ({ params }: { params: { id: number } }) => ({ id: params.id, name: 'x', locale: 'en' }),
  addTitle: () => ({ id: 1 }),
  whoami: () => ({ requestId: '', traceId: '', deadline: null, sub: null }),
  broken: () => ({ count: 1 }),
};

const statuses = async (service: string): Promise<string[]> => {
  const response = await fetch(`${registry.url}/v1/services/${service}/instances`);
  if (response.status === 404) return [];
  return ((await response.json()) as { instances: { status: string }[] }).instances.map((i) => i.status);
};

describe('start-up order', () => {
  it('waits as STARTING for a dependency that comes late, then reports UP', async () => {
    const front = createService({
      name: 'late-front',
      dependencies: { services: ['catalog'], timeoutMs: 30_000 },
      clients: { catalog: catalogContract },
    });
    const starting = startTestService(front, { registryUrl: registry.url });
    await eventually(async () => expect(await statuses('late-front')).toEqual(['STARTING']));
    const catalog = await startTestService(
      createService({ name: 'catalog', contract: catalogContract, routes: catalogRoutes }),
      { registryUrl: registry.url },
    );
    const started = await starting;
    try {
      expect(await statuses('late-front')).toEqual(['UP']);
      expect(started.ready).toBe(true);
    } finally {
      await started.stop();
      await catalog.stop();
    }
  });

  it('fails with a message naming the dependency that never came, and leaves the registry', async () => {
    const error = await startTestService(
      createService({ name: 'lonely', dependencies: { services: ['never-there'], timeoutMs: 800 } }),
      { registryUrl: registry.url },
    ).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'DEPENDENCY_TIMEOUT' });
    expect((error as Error).message).toMatch(
      /Gave up after 800 ms waiting for never-there \(no UP instance in the registry at http:\/\/127\.0\.0\.1:\d+\)/,
    );
    expect(await statuses('lonely')).toEqual([]);
  });
});

describe('graceful stop', () => {
  it('finishes the request in flight and is gone from the registry before stop resolves', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = defineContract({
      service: 'slow',
      endpoints: {
        wait: endpoint({ method: 'GET', path: '/wait', response: Type.Object({ ok: Type.Boolean() }) }),
      },
    });
    const service = await startTestService(
      createService({
        name: 'slow',
        contract: slow,
        routes: {
          wait: async () => {
            await gate;
            return { ok: true };
          },
        },
      }),
      { registryUrl: registry.url },
    );
    const inFlight = fetch(`${service.url}/wait`).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));
    await eventually(async () => expect(await statuses('slow')).toEqual(['UP']));
    const stopped = service.stop();
    await eventually(async () => expect(await statuses('slow')).toEqual([]));
    release();
    expect(await inFlight).toEqual({ status: 200, body: { ok: true } });
    await stopped;
    await expect(fetch(`${service.url}/health/live`)).rejects.toThrow();
  });
});

describe('secrets', () => {
  it('reads secrets from the environment and a mounted directory, and never logs them', async () => {
    const temp = await makeTempDir('service');
    try {
      await writeFile(join(temp.dir, 'api-key'), 'key-from-a-mounted-file\n');
      const logs = capture();
      const service = await startTestService(
        createService({
          name: 'vault-user',
          secrets: ['db-password', 'api-key'],
          env: { DB_PASSWORD: 'pw-from-the-environment', FLOTILLA_SECRETS_DIR: temp.dir },
        }),
        { registryUrl: false },
      );
      try {
        expect(service.secrets.get('db-password')).toBe('pw-from-the-environment');
        expect(service.secrets.get('api-key')).toBe('key-from-a-mounted-file');
        expect(JSON.stringify({ secrets: service.secrets })).not.toContain('pw-from');
        const log = createLogger({
          service: 'vault-user',
          destination: logs.stream,
          censor: (line) => service.secrets.scrub(line),
        });
        log.info({ attempt: `postgres://app:${service.secrets.get('db-password')}@db/app` }, 'connecting');
        log.error(new Error(`bad key ${service.secrets.get('api-key')}`), 'refused');
        await new Promise((r) => setImmediate(r));
        expect(logs.text()).toContain('[redacted]');
        expect(logs.text()).not.toContain('pw-from-the-environment');
        expect(logs.text()).not.toContain('key-from-a-mounted-file');
      } finally {
        await service.stop();
      }
    } finally {
      await temp.remove();
    }
  });

  it('refuses to start without a declared secret, saying where it looked', async () => {
    await expect(
      startTestService(createService({ name: 'vault-user', secrets: ['missing-one'], env: {} }), {
        registryUrl: false,
      }),
    ).rejects.toThrow(/Missing secret missing-one: looked in environment \(MISSING_ONE\)/);
  });
});

describe('database per service', () => {
  it('creates its database on the shared server, runs migrations once with two instances starting together', async () => {
    const pg = await usePostgres();
    const temp = await makeTempDir('service');
    const dbName = `svc_${Date.now().toString(36)}`;
    try {
      await writeFile(
        join(temp.dir, '0001_titles.sql'),
        'CREATE TABLE titles (id int PRIMARY KEY, name text NOT NULL);\nINSERT INTO titles VALUES (1, $$Metropolis$$);\n',
      );
      const definition = {
        name: 'library',
        database: { migrations: temp.dir, name: dbName },
        env: { FLOTILLA_POSTGRES_URL: pg.serverUrl },
        logger: quiet(),
      } as const;
      const [a, b] = await Promise.all([
        startTestService(createService(definition), { registryUrl: false }),
        startTestService(createService(definition), { registryUrl: false }),
      ]);
      try {
        const { rows } = await a.db.query('SELECT name FROM titles');
        expect(rows).toEqual([{ name: 'Metropolis' }]);
        expect((await b.db.query('SELECT current_database() AS db')).rows[0].db).toBe(dbName);
        const ready = await (await fetch(`${a.url}/health/ready`)).json();
        expect(ready).toEqual({ status: 'UP', checks: { database: 'UP' } });
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    } finally {
      await temp.remove();
      await dropDatabase(pg.serverUrl, dbName, { force: true });
      await pg.release();
    }
  });

  it('explains how to give it a database when none is configured', async () => {
    await expect(
      startTestService(createService({ name: 'no-db', database: true, env: {} }), { registryUrl: false }),
    ).rejects.toThrow(/neither DATABASE_URL nor FLOTILLA_POSTGRES_URL is set/);
  });
});

describe('config', () => {
  it('loads typed config from the config server and applies a change live', async () => {
    const temp = await makeTempDir('service');
    const server = new ConfigServer({
      sources: [new DirectorySource({ dir: temp.dir, displayDir: 'config', debounceMs: 20 })],
      logger: quiet(),
    });
    try {
      await writeFile(join(temp.dir, 'player.yaml'), 'cdn:\n  host: cdn-1.example\nmaxBitrate: 4000\n');
      const url = await server.listen({ port: 0, host: '127.0.0.1' });
      const service = await startTestService(
        createService({
          name: 'player',
          config: Type.Object({
            cdn: Type.Object({ host: Type.String() }),
            maxBitrate: Type.Integer(),
            featureX: Type.Boolean({ default: false }),
          }),
          configOptions: { url, cacheDir: false },
        }),
        { registryUrl: false },
      );
      try {
        expect(service.config).toEqual({ cdn: { host: 'cdn-1.example' }, maxBitrate: 4000, featureX: false });
        await writeFile(join(temp.dir, 'player.yaml'), 'cdn:\n  host: cdn-2.example\nmaxBitrate: 4000\n');
        await eventually(() => expect(service.config.cdn.host).toBe('cdn-2.example'));
      } finally {
        await service.stop();
      }
    } finally {
      await server.close();
      await temp.remove();
    }
  });
});

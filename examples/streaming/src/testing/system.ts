// The streaming system in one test process: a registry, a config server on a copy of
// `config/`, a bus database, and the chosen services, each on its own fresh database, found by
// each other through the registry exactly as under `flotilla up`. Test-only (not built).
import { copyFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigServer, DirectorySource } from '@flotilla/config';
import { createLogger } from '@flotilla/core';
import type { RunningRegistry } from '@flotilla/registry';
import type { Service } from '@flotilla/service';
import { startTestRegistry, startTestService } from '@flotilla/service/testing';
import { makeTempDir, type PostgresResource, usePostgres } from '@flotilla/testkit';
import { serviceFactories as factories, type ServiceName } from '../services/index.js';
import type { ServiceOverrides } from '../services/overrides.js';

export type { ServiceName } from '../services/index.js';

/** Services that own a database (the others get none). */
const WITH_DATABASE: readonly ServiceName[] = [
  'subscriber',
  'device-license',
  'catalog',
  'bookmarks',
  'play-api',
  'viewing-stats',
];

const CONFIG_DIR = fileURLToPath(new URL('../../config/', import.meta.url));

export interface StreamingSystem {
  readonly registryUrl: string;
  /** Base URL of a running service. */
  url(name: ServiceName): string;
  /** Stops one service (graceful: it deregisters first). */
  stop(name: ServiceName): Promise<void>;
  /** Replaces a file of the config directory the way editors do (write, then rename). */
  writeConfig(file: string, text: string): Promise<void>;
  close(): Promise<void>;
}

/** Starts `names` (in parallel: each waits for its declared dependencies through the registry). */
export async function startStreaming(names: readonly ServiceName[]): Promise<StreamingSystem> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const running = new Map<ServiceName, Service>();
  const close = async () => {
    await Promise.allSettled([...running.values()].map((s) => s.stop()));
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const registry: RunningRegistry = await startTestRegistry();
    cleanups.push(() => registry.close());
    const temp = await makeTempDir('streaming-config');
    cleanups.push(() => temp.remove());
    for (const file of await readdir(CONFIG_DIR))
      await copyFile(join(CONFIG_DIR, file), join(temp.dir, file));
    const configServer = new ConfigServer({
      sources: [new DirectorySource({ dir: temp.dir, displayDir: 'config', debounceMs: 20 })],
      logger: createLogger({ service: 'config-server', level: 'silent' }),
    });
    const configUrl = await configServer.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => configServer.close());
    const own = async (): Promise<PostgresResource> => {
      const db = await usePostgres();
      cleanups.push(() => db.release());
      return db;
    };
    const bus = await own();
    await Promise.all(
      names.map(async (name) => {
        const db = WITH_DATABASE.includes(name) ? await own() : undefined;
        const overrides: ServiceOverrides = {
          env: {
            ...(db ? { DATABASE_URL: db.url } : {}),
            FLOTILLA_BUS_URL: bus.url,
            FLOTILLA_CONFIG_URL: configUrl,
          },
          configOptions: { cacheDir: false },
        };
        const service = await startTestService(factories[name](overrides) as unknown as Service, {
          registryUrl: registry.url,
        });
        running.set(name, service);
      }),
    );
    return {
      registryUrl: registry.url,
      url: (name) => {
        const service = running.get(name);
        if (!service) throw new Error(`${name} is not running`);
        return service.url;
      },
      stop: async (name) => {
        await running.get(name)?.stop();
        running.delete(name);
      },
      writeConfig: async (file, text) => {
        await writeFile(join(temp.dir, `.${file}.tmp`), text);
        await rename(join(temp.dir, `.${file}.tmp`), join(temp.dir, file));
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

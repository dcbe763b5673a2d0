import { join } from 'node:path';
import {
  type Clock,
  compileValidator,
  createLogger,
  EnvVars,
  isFlotillaError,
  type Logger,
  sleep,
  systemClock,
} from '@flotilla/core';
import type { Static, TSchema } from '@sinclair/typebox';
import { ConfigUnavailableError } from '../errors.js';
import { assertName, parseProfiles } from '../names.js';
import type { ResolvedConfig } from '../wire.js';
import { ConfigCache } from './cache.js';
import { type Endpoint, fetchConfig } from './http.js';
import { LiveConfig } from './live-config.js';
import { defaultFileRoots } from './placeholders.js';
import { watchConfig } from './watch.js';

export interface LoadConfigOptions<S extends TSchema> {
  /** The service's name: selects `{service}.yaml` and `{service}-{env}.yaml`. */
  service: string;
  /** Environment (Spring profile; `dev,db` for several); default `FLOTILLA_ENV`, else `default`. */
  env?: string;
  /** The service's version; selects version-specific layers. */
  version?: string;
  /** TypeBox schema the config must match; defaults in it are applied. */
  schema: S;
  /** Config server base URL; default `FLOTILLA_CONFIG_URL`, else `http://127.0.0.1:8888`. */
  url?: string;
  /** Bearer token of this service (secrets are decrypted only with it); default `FLOTILLA_CONFIG_TOKEN`. */
  token?: string;
  /** Follow pushed changes; default true. */
  watch?: boolean;
  /** Where the last accepted config is kept; default `FLOTILLA_CONFIG_CACHE_DIR`, else `.flotilla/config-cache`; false: none. */
  cacheDir?: string | false;
  /** Attempts at start before falling back to the cache; default 5 tries, 200 ms doubling to 2 s. */
  retry?: { attempts?: number; initialDelayMs?: number; maxDelayMs?: number };
  /** Timeout of one request; default 5 s. */
  requestTimeoutMs?: number;
  /** Variables for `${env:…}` and the defaults above; default `process.env`. */
  environment?: NodeJS.ProcessEnv;
  /** Directories `${file:…}` may read; default `FLOTILLA_CONFIG_FILE_ROOTS` or `/run/secrets`, `/var/run/secrets`. */
  fileRoots?: string[];
  logger?: Logger;
  clock?: Clock;
}

/**
 * Loads the service's config, validated against `schema`, and keeps it current. At start it
 * retries an unreachable server with backoff, then falls back to the local cached copy; with
 * neither it fails with a message that says what it tried. A config the server refuses to
 * serve (a secret that does not decrypt) or that fails the schema fails the start as well.
 * Afterwards each pushed change is validated and applied atomically, or rejected with the
 * old config kept (`rejected` event).
 */
export async function loadConfig<S extends TSchema>(
  options: LoadConfigOptions<S>,
): Promise<LiveConfig<Static<S>>> {
  const environment = options.environment ?? process.env;
  const service = assertName(options.service, 'service');
  const env = options.env ?? environment[EnvVars.environment] ?? 'default';
  parseProfiles(env, 'env');
  const endpoint: Endpoint = {
    url: options.url ?? environment[EnvVars.configUrl] ?? 'http://127.0.0.1:8888',
    service,
    env,
    version: options.version,
    token: options.token ?? (environment.FLOTILLA_CONFIG_TOKEN || undefined),
  };
  const logger = options.logger ?? createLogger({ service, bindings: { component: 'config-client' } });
  const clock = options.clock ?? systemClock;
  const cacheDir =
    options.cacheDir === false
      ? undefined
      : (options.cacheDir ??
        environment.FLOTILLA_CONFIG_CACHE_DIR ??
        join(process.cwd(), '.flotilla', 'config-cache'));
  const cache = cacheDir === undefined ? undefined : new ConfigCache(cacheDir, service, env, options.version);

  const live = new LiveConfig<Static<S>>({
    validator: compileValidator(options.schema, ''),
    schema: options.schema,
    placeholders: { env: environment, fileRoots: options.fileRoots ?? defaultFileRoots(environment) },
    cache,
    logger,
  });

  const fetched = await fetchWithRetry(endpoint, options, clock, logger);
  if (fetched.document) {
    await live.start(fetched.document, 'server');
  } else {
    const cached = await cache?.read();
    if (!cached) {
      const where = cache ? `no cached copy at ${cache.file}` : 'the cache is disabled';
      throw new ConfigUnavailableError(
        `cannot load config of ${service}/${env}: ${fetched.error.message} (tried ${fetched.attempts} times) and ${where}`,
        { cause: fetched.error },
      );
    }
    logger.warn(
      { url: endpoint.url, revision: cached.document.revision, savedAt: cached.savedAt, err: fetched.error },
      'config server unreachable; starting from the cached config',
    );
    await live.start(cached.document, 'cache');
  }

  if (options.watch !== false) {
    const watcher = watchConfig(
      endpoint,
      {
        config: (doc) => live.offer(doc),
        problem: (error) => live.refuse(error),
        connected: () => live.emitState('connected'),
        disconnected: (error) => live.emitState('disconnected', error),
      },
      { lastEventId: () => live.confirmedRevision, clock },
    );
    live.onClose(() => watcher.stop());
  }
  return live;
}

async function fetchWithRetry(
  endpoint: Endpoint,
  options: LoadConfigOptions<TSchema>,
  clock: Clock,
  logger: Logger,
): Promise<
  { document: ResolvedConfig; attempts: number } | { document?: undefined; error: Error; attempts: number }
> {
  const attempts = Math.max(1, options.retry?.attempts ?? 5);
  let delay = options.retry?.initialDelayMs ?? 200;
  const maxDelay = options.retry?.maxDelayMs ?? 2_000;
  let lastError: Error = new Error('not tried');
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return { document: await fetchConfig(endpoint, options.requestTimeoutMs ?? 5_000), attempts: attempt };
    } catch (error) {
      // Anything but "cannot reach" (a refused token, an undecryptable secret) will not improve.
      if (!(isFlotillaError(error) && error.retryable)) throw error;
      lastError = error;
      if (attempt < attempts) {
        logger.debug({ attempt, err: error }, 'config server not reachable yet; retrying');
        await sleep(delay * (0.8 + Math.random() * 0.4), undefined, clock);
        delay = Math.min(maxDelay, delay * 2);
      }
    }
  }
  return { error: lastError, attempts };
}

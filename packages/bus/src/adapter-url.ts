import { ConfigurationError, type Logger } from '@flotilla/core';
import type { BusAdapter } from './adapter.js';

/** Where the adapter of one URL scheme lives and how it is configured. */
export interface AdapterPackage {
  /** The npm package; not a dependency of `@flotilla/bus`, so it is loaded only when used. */
  readonly pkg: string;
  /** Its factory export, called with `{ url, … }`. */
  readonly factory: string;
  /** Factory options for a short-lived tool such as the CLI: fewest connections, no migrations. */
  readonly small?: Readonly<Record<string, unknown>>;
  /** The factory option that namespaces the bus on a shared server, if the adapter has one. */
  readonly prefixOption?: string;
}

const POSTGRES: AdapterPackage = {
  pkg: '@flotilla/bus-postgres',
  factory: 'createPostgresAdapter',
  // A tool must not migrate the bus's tables, and two connections are enough for DLQ work.
  small: { migrate: false, maxConnections: 2 },
};
const RABBITMQ: AdapterPackage = { pkg: '@flotilla/bus-rabbitmq', factory: 'createRabbitmqAdapter' };
const NATS: AdapterPackage = {
  pkg: '@flotilla/bus-nats',
  factory: 'createNatsAdapter',
  prefixOption: 'prefix',
};
const REDIS: AdapterPackage = {
  pkg: '@flotilla/bus-redis',
  factory: 'createRedisAdapter',
  prefixOption: 'keyPrefix',
};

/** The adapter package of each bus URL scheme. */
export const ADAPTER_PACKAGES: Readonly<Record<string, AdapterPackage>> = {
  postgres: POSTGRES,
  postgresql: POSTGRES,
  amqp: RABBITMQ,
  amqps: RABBITMQ,
  nats: NATS,
  redis: REDIS,
  rediss: REDIS,
};

/** Options of `adapterFromUrl`. */
export interface AdapterFromUrlOptions {
  /** Names the adapter's connections; default a new id. */
  instanceId?: string;
  logger?: Logger;
  /**
   * Namespace of the bus's names on a shared server: NATS stream and subject prefix, Redis key
   * prefix. Default the adapter's own; refused by adapters without one (their URL selects it).
   */
  prefix?: string;
  /** `small` for a short-lived tool (the CLI): fewest connections, no migrations. Default `service`. */
  footprint?: 'service' | 'small';
}

/** The scheme of a URL, lower case, without the colon; '' if it has none. */
export function schemeOf(url: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url);
  return match?.[1]?.toLowerCase() ?? '';
}

/**
 * Creates (does not connect) the bus adapter for `url`, picked by its scheme: postgres(ql)://,
 * amqp(s)://, nats://, redis(s)://. The adapter package is imported on use, so only the one in
 * use needs to be installed.
 */
export async function adapterFromUrl(url: string, options: AdapterFromUrlOptions = {}): Promise<BusAdapter> {
  const scheme = schemeOf(url);
  const entry = ADAPTER_PACKAGES[scheme];
  if (entry === undefined) {
    throw new ConfigurationError(
      `No bus adapter for ${scheme === '' ? 'a URL without a scheme' : `the "${scheme}:" scheme`}: use postgres://, amqp://, nats:// or redis://`,
      { data: { field: 'url', value: scheme } },
    );
  }
  const factoryOptions: Record<string, unknown> = {
    ...(options.footprint === 'small' ? entry.small : {}),
    url,
  };
  if (options.instanceId !== undefined) factoryOptions.instanceId = options.instanceId;
  if (options.logger !== undefined) factoryOptions.logger = options.logger;
  if (options.prefix !== undefined) {
    if (entry.prefixOption === undefined) {
      throw new ConfigurationError(
        `The ${scheme}:// bus adapter has no name prefix (its URL selects the namespace), got prefix "${options.prefix}"`,
        { data: { field: 'prefix', value: options.prefix } },
      );
    }
    factoryOptions[entry.prefixOption] = options.prefix;
  }
  const factory = await loadFactory(scheme, entry);
  return factory(factoryOptions);
}

/** Imports an adapter package's factory; a package that is not installed is a `ConfigurationError`. */
export async function loadFactory(
  scheme: string,
  entry: AdapterPackage,
): Promise<(options: Record<string, unknown>) => BusAdapter> {
  let mod: Record<string, unknown>;
  try {
    // A variable specifier, so bundlers and the compiler do not treat the package as a dependency.
    const specifier: string = entry.pkg;
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const missing =
      (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
      String((error as Error).message).includes(entry.pkg);
    throw new ConfigurationError(
      missing
        ? `A ${scheme}:// bus URL needs ${entry.pkg}: install it (npm install ${entry.pkg})`
        : `Could not load ${entry.pkg} for a ${scheme}:// bus URL: ${(error as Error).message}`,
      { cause: error, data: { package: entry.pkg, missing } },
    );
  }
  const factory = mod[entry.factory];
  if (typeof factory !== 'function') {
    throw new ConfigurationError(`${entry.pkg} does not export ${entry.factory}; is it an older version?`);
  }
  return factory as (options: Record<string, unknown>) => BusAdapter;
}

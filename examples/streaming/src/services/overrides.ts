import type { ServiceDefinition } from '@flotilla/service';

/**
 * What a caller may change about a service of this example: the environment it reads
 * (database, bus, config URLs) and client or config options. Tests use it to point a service
 * at their own servers; `run.ts` passes nothing and the process environment applies.
 */
export type ServiceOverrides = Pick<
  ServiceDefinition<never, undefined, never>,
  'env' | 'configOptions' | 'clientOptions' | 'logger' | 'lease' | 'shutdown'
>;

/** The migrations directory of a service, next to `src/` and `dist/` so both find it. */
export const migrationsOf = (service: string): URL =>
  new URL(`../../migrations/${service}/`, import.meta.url);

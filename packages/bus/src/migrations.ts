import type { Logger } from '@flotilla/core';
import { migrate } from '@flotilla/postgres';
import type { Pool } from 'pg';

/** Namespace of the bus's migrations in `flotilla_migrations`. */
export const BUS_MIGRATIONS_NAMESPACE = 'flotilla-bus';

/**
 * Creates (or upgrades) the outbox and inbox tables in a service's database. Safe when many
 * replicas start at once. Returns the versions applied by this call.
 */
export function migrateOutboxInbox(options: { pool: Pool; logger?: Logger }): Promise<number[]> {
  return migrate({
    pool: options.pool,
    dir: new URL('../migrations/', import.meta.url),
    namespace: BUS_MIGRATIONS_NAMESPACE,
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

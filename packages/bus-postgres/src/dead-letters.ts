import {
  assertSelective,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterReason,
  type DeadLetterStore,
} from '@flotilla/bus';
import type { Envelope, SerializedError } from '@flotilla/core';
import type pg from 'pg';
import { type DeadLetterRow, DL_LIST, DL_PURGE, DL_REPLAY } from './sql.js';

function params(filter: DeadLetterFilter): unknown[] {
  return [filter.topic ?? null, filter.group ?? null, filter.ids === undefined ? null : [...filter.ids]];
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    topic: row.topic,
    group: row.grp,
    envelope: row.envelope as unknown as Envelope,
    payload: row.payload,
    reason: row.reason as DeadLetterReason,
    error: row.error as unknown as SerializedError,
    attempts: row.attempts,
    firstFailureAt: row.first_failure_at.getTime(),
    lastFailureAt: row.last_failure_at.getTime(),
  };
}

/** Dead letters in `flotilla_bus_dead_letters`, oldest first (ids are UUIDv7). */
export class PgDeadLetterStore implements DeadLetterStore {
  constructor(private readonly pool: () => pg.Pool) {}

  async list(filter: DeadLetterFilter & { limit?: number } = {}): Promise<DeadLetter[]> {
    const { rows } = await this.pool().query<DeadLetterRow>(DL_LIST, [
      ...params(filter),
      filter.limit ?? 100,
    ]);
    return rows.map(toDeadLetter);
  }

  async replay(filter: DeadLetterFilter): Promise<number> {
    assertSelective('replay', filter);
    const { rows } = await this.pool().query<{ count: number }>(DL_REPLAY, params(filter));
    return rows[0]?.count ?? 0;
  }

  async purge(filter: DeadLetterFilter): Promise<number> {
    assertSelective('purge', filter);
    const result = await this.pool().query(DL_PURGE, params(filter));
    return result.rowCount ?? 0;
  }
}

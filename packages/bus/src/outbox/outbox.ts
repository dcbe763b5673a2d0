import { type Clock, type Envelope, systemClock } from '@flotilla/core';
import type { ClientBase } from 'pg';
import { createEnvelope, type PublishOptions } from '../envelope.js';
import type { MessageDefinition, PayloadOf } from '../message.js';

/** Channel on which a committed outbox insert wakes the relay. */
export const OUTBOX_CHANNEL = 'flotilla_outbox';

/** Anything that runs a query: a pooled client inside the service's transaction. */
export type Queryable = Pick<ClientBase, 'query'>;

/** Options of `createOutbox`. */
export interface OutboxOptions {
  clock?: Clock;
  /** NOTIFY the relay on commit (default true); without it the relay finds rows by polling. */
  notify?: boolean;
}

/**
 * The transactional outbox: `publish` writes the message into the service's database with the
 * caller's client, so it commits (or rolls back) with the caller's transaction; the relay
 * publishes it to the bus after the commit.
 */
export class Outbox {
  private readonly clock: Clock;
  private readonly insert: string;

  constructor(options: OutboxOptions = {}) {
    this.clock = options.clock ?? systemClock;
    const notify = options.notify ?? true;
    // NOTIFY inside the transaction is delivered only if and when it commits.
    this.insert = notify
      ? `WITH row AS (INSERT INTO flotilla_outbox (topic, envelope, payload) VALUES ($1, $2, $3) RETURNING id)
         SELECT pg_notify('${OUTBOX_CHANNEL}', '') FROM row`
      : 'INSERT INTO flotilla_outbox (topic, envelope, payload) VALUES ($1, $2, $3)';
  }

  /**
   * Validates the message and writes it with `client` (inside the caller's transaction);
   * returns its envelope. Throws `ValidationError` on a bad payload, writing nothing.
   */
  async publish<D extends MessageDefinition>(
    client: Queryable,
    definition: D,
    payload: PayloadOf<D>,
    options: PublishOptions = {},
  ): Promise<Envelope> {
    definition.validator.assert(payload);
    const envelope = createEnvelope(definition.type, options, this.clock);
    await client.query(this.insert, [definition.topic, JSON.stringify(envelope), JSON.stringify(payload)]);
    return envelope;
  }
}

/** Creates an outbox writer. */
export function createOutbox(options: OutboxOptions = {}): Outbox {
  return new Outbox(options);
}
